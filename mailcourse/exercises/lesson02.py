"""The checks of lesson 02 (The SMTP session and the mail transaction).

`smtp_by_hand` and `two_recipients` judge the student's own SMTP session, as
the lab's tap recorded it: which commands crossed, in which order, and what
the server answered to each. `lone_dot` judges a message's text on the wire
and in the mailbox.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ..protocols.exchanges import C2S, MESSAGE, S2C
from .common import (JANE, JOE, OUTSIDE, _body_lines, _correct, _find, _judge_packets, _transactions, _where_is,
                     _wrong, reads_the_wire)

if TYPE_CHECKING:
    from ..lab import Lab
    from ..protocols.exchanges import Exchange
    from ..trace import Connection

__all__ = ["smtp_by_hand", "two_recipients", "lone_dot", "data_in_capture"]


TWO_SUBJECT = "Two of us"
# A program outside the lab's devices (the kernel's own socket) shows in the trace as "client".
# RFC 2920 section 3.1: these commands change the session's state, so a client must wait for
# their reply before it sends anything else, pipelining or not. (QUIT ends the session anyway.)
MUST_WAIT = ("EHLO", "HELO", "DATA")


# -- smtp_by_hand: a client of one's own, on a raw socket -------------------------------------


def _first_reply_at(exchange: Exchange) -> int | None:
    """Where the server's first answer to this command stands in the session (None: no answer yet)."""
    return next((part.at for part in exchange.parts if part.direction == S2C), None)


def _sent_lines(exchanges: list[Exchange]) -> list[tuple[int, str]]:
    """Every run of client lines, as (where it starts, its first line), in the order they crossed."""
    return sorted((part.at, part.lines[0]) for e in exchanges for part in e.parts if part.direction == C2S)


def _too_soon(exchanges: list[Exchange]) -> str:
    """A sentence on the first line the client sent before the reply it had to wait for, or ""."""
    sent = _sent_lines(exchanges)
    for exchange in exchanges:
        if exchange.verb not in MUST_WAIT:
            continue
        start, answered = exchange.parts[0].at, _first_reply_at(exchange)
        early = [line for at, line in sent if start < at and (answered is None or at < answered)]
        if early:
            waited_for = "the 354 that says 'go on'" if exchange.verb == "DATA" else "its reply"
            return (f"On the wire, your client sent {early[0]!r} right after {exchange.command!r}, before "
                    f"{waited_for} came back: it did not read the reply first. A client may send "
                    "several MAIL and RCPT commands without waiting (PIPELINING, RFC 2920), but "
                    f"after {exchange.verb} it must wait for the answer (RFC 2920, section 3.1): "
                    "call reply() after every send.")
    return ""


def _unfinished_message(exchange: Exchange) -> str:
    """For a DATA that got its 354 but no final reply: what the server is still waiting for."""
    text = [part for part in exchange.parts if part.kind == MESSAGE]
    if text and text[-1].lines[-1] == ".":
        return ("The server said 354, your message and a line '.' crossed, but no reply came after "
                "it: the server did not see the end of the data, which is CRLF, '.', CRLF (RFC 5321, "
                "section 4.1.1.4). Does every line you send end with \\r\\n, the '.' line too?")
    lines = len(exchange.data or [])
    return (f"The server said 354 and read {lines} line(s) of your message, but no line holding only "
            "'.' followed, so it is still waiting for the rest of the message and never said 250. "
            "The end of the message is a line with a single dot (RFC 5321, section 4.1.1.4).")


def _unanswered(exchange: Exchange, conn: Connection) -> str:
    """For a last command with no reply: why the server said nothing."""
    if conn.closed is None:
        return (f"The server has not answered {exchange.command!r}: it is still waiting for the end of "
                "that line. The tap records such a line as your last C: line with no S: after it. "
                "Every SMTP line ends with CRLF, the two characters \\r\\n (RFC 5321, section 2.3.8).")
    return (f"The server never answered {exchange.command!r}. Either that line never ended (every "
            "SMTP line ends with \\r\\n, RFC 5321, section 2.3.8), or your socket closed before the "
            "reply came back: read each reply before you go on.")


def _refused(exchanges: list[Exchange]) -> str:
    """A sentence on the first command the server refused (4xx or 5xx), or ""."""
    for exchange in exchanges:
        if exchange.command and exchange.status[:1] in ("4", "5"):
            hint = {"RCPT": "This MX endpoint takes mail only for the users of its own domain.",
                    "MAIL": "A transaction starts with MAIL FROM:<address>, after EHLO.",
                    "DATA": "DATA needs a MAIL and at least one accepted RCPT before it."}.get(exchange.verb, (
                        "Check the spelling of the command and the <...> around an address."))
            return f"The server refused {exchange.command!r} with {exchange.final!r}. {hint}"
    return ""


def _settled(lab: Lab, conn: Connection) -> list[Exchange]:
    """The session read back once it has gone quiet.

    What the student's socket wrote a moment ago may still be on its way
    through the loopback, and the server's reply after it: wait until
    nothing new arrives for a tenth of a second (a third, if the last
    command is still unanswered), at most one second.
    """
    shape: list[int] | None = None
    quiet_since = start = time.monotonic()
    while True:
        exchanges = lab.trace.exchanges(conn)
        now = time.monotonic()
        seen = [len(part.lines) for exchange in exchanges for part in exchange.parts]
        if seen != shape:
            shape, quiet_since = seen, now
        elif now - quiet_since >= (0.1 if exchanges[-1].complete else 0.3) or now - start >= 1.0:
            return exchanges
        time.sleep(0.02)


@reads_the_wire
def smtp_by_hand(lab: Lab) -> None:
    """Exercise: a raw-socket SMTP client delivers to jane at her provider's MX endpoint.

    The student's session is the last one that reached mail.somewhereelse.com's
    MX endpoint from a socket no lab device owns (the kernel's own). The check
    reads it back from the tap: EHLO after the greeting, one accepted
    transaction for jane (MAIL, RCPT, DATA, the text, the final '.', 250),
    QUIT and its 221, and no line sent before the reply it had to wait for.
    """
    theirs = lab.server("somewhereelse.com")
    mine = [c for c in lab.trace.sessions(protocol="SMTP", service="mx", device=OUTSIDE)
            if c.server == theirs.hostname]
    if not mine:
        _wrong("No connection from your own socket reached the MX endpoint of jane's provider. Did your "
               "cell run socket.create_connection with the address of theirs.mx?")
    conn = mine[-1]  # the latest attempt
    exchanges = _settled(lab, conn)
    if problem := _too_soon(exchanges):
        _wrong(problem)
    commands = [e for e in exchanges if e.command]
    if not commands:
        _wrong("Your socket connected and the server greeted you with 220, but your client sent no "
               "command after that. The next step is EHLO.")
    data = next((e for e in commands if e.verb == "DATA" and e.data is not None and not e.complete), None)
    if data is not None:
        _wrong(_unfinished_message(data))
    accepted = [t for t in _transactions(lab) if t.session.id == conn.id and t.accepted]
    if not accepted and (problem := _refused(exchanges)):
        _wrong(problem)  # the first thing that went wrong; what followed may be its echo
    if not commands[-1].replies and commands[-1].verb != "QUIT":
        _wrong(_unanswered(commands[-1], conn))
    if not accepted:
        verbs = ", ".join(dict.fromkeys(e.verb for e in commands))
        _wrong(f"Your session sent {verbs}, but no message was accepted: the server answers 250 after "
               "the final '.' of a transaction of MAIL FROM, RCPT TO and DATA.")
    to_jane = [t for t in accepted if JANE in (r.lower() for r in t.rcpts)]
    if not to_jane:
        named = ", ".join(sorted({r for t in accepted for r in t.rcpts}))
        _wrong(f"The server took a message, but for {named}, not for jane: look at your RCPT TO.")
    subject = next((line.partition(":")[2].strip() for line in to_jane[-1].body
                    if line.lower().startswith("subject:")), "")
    if subject and not any(who == JANE for who, _, _ in _find(lab, subject)):
        _wrong(f"The server said 250, but jane's inbox holds no message with the subject {subject!r}.")
    quit_ = next((e for e in commands if e.verb == "QUIT"), None)
    if quit_ is None:
        _wrong("jane has your message, but your client never said QUIT: a session ends with QUIT and "
               "the server's 221 (RFC 5321, section 4.1.1.10). Close the socket only after that.")
    if not quit_.replies:
        _wrong(_unanswered(quit_, conn))
    # The tap sees what crossed, not what the client read: a reply read late still passes if the
    # server had answered before the next command arrived.
    _correct("jane's provider took your message (250 after the final '.'), and on the wire each "
             "command waited for the reply before it, from the 220 to the 221.")


# -- two_recipients: one transaction, two RCPT, on the session s --------------------------------


@reads_the_wire
def two_recipients(lab: Lab) -> None:
    """Exercise: on joe's laptop's session, one transaction with two RCPT commands (jane and joe).

    Read from the tap: the transactions of joe-laptop's own SMTP sessions whose
    text has the subject "Two of us"; then one copy in each inbox.
    """
    lab.wait_for_delivery(timeout=5)
    wanted = {JANE, JOE}
    ours = [t for t in _transactions(lab) if t.session.client == "joe-laptop"
            and any(line.casefold() == f"subject: {TWO_SUBJECT}".casefold() for line in t.body)]
    accepted = [t for t in ours if t.accepted]
    refused = sorted({r for t in ours for r in t.refused})
    if not accepted:
        stuck = _where_is(lab, TWO_SUBJECT)
        _wrong(f"joe's laptop sent no accepted message with the subject {TWO_SUBJECT!r}. "
               + (stuck or "Did the server answer 250 after the final '.'? Look at the replies."))
    if not any(wanted <= {r.lower() for r in t.rcpts} for t in accepted):
        if refused:
            _wrong(f"The server refused your RCPT TO for {', '.join(refused)}: look for a typo in the address.")
        counts = sorted({len(t.rcpts) for t in accepted})
        _wrong(f"Your message went out, but no single transaction named both jane and joe: the "
               f"transactions for it had {' or '.join(map(str, counts))} accepted RCPT command(s). "
               "One transaction can carry several recipients.")
    missing = wanted - {who for who, _, _ in _find(lab, TWO_SUBJECT)}
    if missing:
        _wrong(f"The transaction was right, but the inbox of {', '.join(sorted(missing))} has no copy yet.")
    _correct("one transaction, two RCPT commands, and a copy in each inbox.")


# -- lone_dot: a line that is a single "." ---------------------------------------------------------


def lone_dot(lab: Lab) -> None:
    """Exercise: a body line that is a single "." crosses the wire doubled and arrives intact."""
    lab.wait_for_delivery(timeout=5)
    inbox = lab.server("somewhereelse.com").mailbox("jane")
    arrived = [m for m in inbox if "." in _body_lines(m)]
    stuffed = any(".." in t.body for t in _transactions(lab) if t.accepted)
    if arrived and stuffed:
        _correct("the lone dot went over the wire as '..' and arrived as '.'.")
        return
    if not stuffed:
        _wrong("No message on the wire had a body line that is just a dot (the client would have "
               "doubled it to '..'). A line that merely starts with a dot is not enough, and a "
               "dot at the very end of the text is the end-of-data mark, not part of your message.")
    _wrong("A lone dot crossed the wire, but no message in jane's inbox holds that line. "
           "Was the message addressed to jane?")


def data_in_capture(path: Any, answer: Any) -> None:
    """Exercise: the packets of a capture (numbered from 1, as Wireshark does) that carry the DATA command.

    Read from the file itself (`mailcourse.pcapng`, `mailcourse.capture`):
    each session's ``DATA`` (RFC 5321 section 4.1.1.4) is one TCP segment.
    """
    count = _judge_packets(path, b"DATA\r\n", answer, "data_packets", "the DATA command")
    _correct(f"{count} packets, one DATA per session, each a TCP segment of its own with six bytes "
             "of payload. In Wireshark, the filter smtp.req.command == \"DATA\" finds them.")
