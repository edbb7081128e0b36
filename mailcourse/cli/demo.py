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

``--tls`` makes the same journey over TLS, as it goes today: joe's laptop
submits with STARTTLS (RFC 3207), the relay starts TLS with the MX and
verifies its certificate (``relay_tls="required"``), and jane's laptop
fetches the message by POP3 with STLS (RFC 2595). Each hop is printed twice:
as the wire carried it (the handshake, then records of ciphertext), and as
its two ends read it, opened with the lab's session keys. A capture written
with ``--pcap`` carries those keys, so Wireshark shows both too.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from ..lab import Lab
from ..queue import NO_TLS, REQUIRED
from ..servers import MX, POP3, SUBMISSION

# What each kind of hop is, in one line a student can look up.
HOP_TITLES = {
    SUBMISSION: "message submission (RFC 6409): the mail program hands the message to its own provider",
    MX: "relay (RFC 5321): the sender's server delivers to the MX of the recipient's domain",
    POP3: "retrieval (RFC 1939): the recipient's mail program downloads the message",
}


def run_demo(seed: int = 1, out: TextIO | None = None, max_body_lines: int | None = None,
             pcap: str | Path | None = None, tls: bool = False) -> int:
    """Run the journey on a fresh `Lab.classic` and print it; returns an exit status.

    With the same ``seed`` the output is the same apart from dates and ports.
    ``pcap``: where to write the journey's capture (pcapng), or None.
    ``tls``: every hop over TLS, and jane's laptop fetches the message (see the module's docstring).
    """
    out = out or sys.stdout

    def say(text: str = "") -> None:
        print(text, file=out)

    with Lab.classic(seed=seed, relay_tls=REQUIRED if tls else NO_TLS) as lab:
        joe = lab.client("joe-laptop")
        joe.tls = lab.client("jane-laptop").tls = tls
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

        if tls:
            fetched = lab.client("jane-laptop").fetch_pop3(keep_on_server=True)
            say(f"4. jane-laptop fetches it by POP3 ({len(fetched.downloaded)} message downloaded).")
            # The tap sees ciphertext, so the message cannot be followed by its Message-ID:
            # the journey's sessions are the lab's only ones, in order.
            hops = lab.trace.sessions()
        else:
            hops = lab.trace.hops(str(message["Message-ID"]))
        for number, conn in enumerate(hops, 1):
            say()
            say(f"Hop {number} of {len(hops)}: {conn.client} -> {conn.server}")
            say(f"  {HOP_TITLES.get(conn.service, conn.protocol + ' ' + conn.service)}")
            if conn.tls:
                say("  On the wire, as an eavesdropper sees it: STARTTLS, the TLS handshake, then only")
                say("  records of ciphertext, their sizes and their direction.")
                say()
                say(lab.trace.transcript(conn))
                say()
                say("  Inside TLS, as the two ends read it (opened with the lab's session keys;")
                say("  C: what the client sent, S: what the server answered; passwords masked):")
                say()
                say(lab.trace.transcript(conn, max_body_lines=max_body_lines, keylog=lab.tls.keylog()))
                continue
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
            say("In Wireshark, type smtp in the filter bar, or tcp.stream eq 1 for the second hop."
                + (" The capture holds the TLS keys: Wireshark shows the dialogue inside too,"
                   " the password included (the keys open everything, as they do for the server)." if tls else ""))
    return 0
