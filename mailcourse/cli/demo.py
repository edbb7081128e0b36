"""``python -m mailcourse demo``: the chapter's journey, in the terminal.

Joe, on his laptop, writes to Jane. The message goes through the four
devices of the classic figure::

    joe-laptop --submission--> mail.someplace.org --relay (MX)--> mail.somewhereelse.com   (jane's inbox)

and this command prints what crossed the wire on every hop (the transcript
of each SMTP session, as the textbooks show it), then the message as it lies
in Jane's mailbox: each server wrote a ``Received:`` line on top
(RFC 5321 section 4.4) and the last one added ``Return-Path:``.

``--pcap FILE`` also writes every hop as a packet capture (pcapng) that
Wireshark opens: type ``smtp`` in its filter bar (`Trace.to_pcapng`).
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from ..lab import Lab
from ..servers import MX, SUBMISSION

# What each kind of hop is, in one line a student can look up.
HOP_TITLES = {
    SUBMISSION: "message submission (RFC 6409): the mail program hands the message to its own provider",
    MX: "relay (RFC 5321): the sender's server delivers to the MX of the recipient's domain",
}


def run_demo(seed: int = 1, out: TextIO | None = None, max_body_lines: int | None = None,
             pcap: str | Path | None = None) -> int:
    """Run the journey on a fresh `Lab.classic` and print it; returns an exit status.

    With the same ``seed`` the output is the same apart from dates and ports.
    ``pcap``: where to write the journey's capture (pcapng), or None.
    """
    out = out or sys.stdout

    def say(text: str = "") -> None:
        print(text, file=out)

    with Lab.classic(seed=seed) as lab:
        joe = lab.client("joe-laptop")
        message = joe.compose("jane@somewhereelse.com", "Lunch tomorrow",
                              "Hi Jane,\n\nlunch tomorrow at noon, the usual place?\n\nJoe\n")
        say("joe@someplace.org writes to jane@somewhereelse.com")
        say("=" * 50)
        say(f"1. joe-laptop composes {message['Subject']!r}; it waits in the outbox "
            f"({len(joe.outbox)} message), no network needed.")
        results = joe.send_all()
        say(f"2. joe-laptop sends it to mail.someplace.org, which answers: {results[0].reply}")
        if not lab.wait_for_delivery():
            say("3. mail.someplace.org could not relay the message in time; see its queue log:")
            for line in lab.server("someplace.org").queue.log:
                say(f"   {line}")
            return 1
        say("3. mail.someplace.org relays it to the MX of somewhereelse.com,")
        say("   which delivers it into jane's mailbox.")

        hops = lab.trace.hops(str(message["Message-ID"]))
        for number, conn in enumerate(hops, 1):
            say()
            say(f"Hop {number} of {len(hops)}: {conn.client} -> {conn.server}")
            say(f"  {HOP_TITLES.get(conn.service, conn.protocol + ' ' + conn.service)}")
            say("  (C: what the client sent, S: what the server answered; passwords masked.)")
            say()
            say(lab.trace.transcript(conn, max_body_lines=max_body_lines))

        jane = lab.server("somewhereelse.com")
        stored = jane.store.list("jane")
        if not stored:
            say("\nNothing arrived in jane's mailbox.")
            return 1
        say()
        say("In jane's mailbox on mail.somewhereelse.com (a Maildir file), byte for byte.")
        say("Read the trace headers bottom-up: each server put its Received: line on top,")
        say("and the final one wrote the envelope sender into Return-Path:.")
        say("-" * 50)
        raw = jane.store.get("jane", stored[-1].uid)
        say(raw.decode("utf-8", "replace").replace("\r\n", "\n").rstrip("\n"))
        say("-" * 50)
        if pcap is not None:
            say()
            say(f"Wrote {pcap}: {lab.trace.to_pcapng(pcap).contents()}.")
            say("In Wireshark, type smtp in the filter bar, or tcp.stream eq 1 for the second hop.")
    return 0
