"""The checks of lesson 00 (Start here).

Both exercises are read back from the wire (the lab's tap), never from what
a function returned:

* `greeting_and_quit`: the student opens a TCP connection to jane's
  provider with a plain socket, reads the greeting, says QUIT and reads the
  answer (RFC 5321 sections 3.1, 3.8 and 4.1.1.10);
* `hello_jane`: the student logs in to joe's provider with smtplib, as joe's
  laptop, and sends jane a message (RFC 6409 section 4.3, RFC 4954 section 4).

Both read a session with the helpers of `mailcourse.exercises.common`
(`_from_outside`, `_session_trouble`, `_subject`), which lesson 01's checks
share.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .common import (JANE, _correct, _find, _from_outside, _said, _session_trouble, _subject, _transactions,
                     _where_is, _wrong, reads_the_wire)

if TYPE_CHECKING:
    from ..lab import Lab

__all__ = ["greeting_and_quit", "hello_jane"]


# -- exercise 1: a greeting and a goodbye ---------------------------------------------------


def _text(received: Any) -> str:
    """What a student's variable holds, as text: recv gives bytes, a string is fine too."""
    if isinstance(received, (bytes, bytearray)):
        return bytes(received).decode("utf-8", "replace")
    return received if isinstance(received, str) else ""


@reads_the_wire
def greeting_and_quit(lab: Lab, greeting: Any, goodbye: Any) -> None:
    """Exercise: a socket to jane's provider's MX endpoint; read the 220, send QUIT, read the 221.

    The server speaks first (RFC 5321 section 3.1); every command is a line
    ended by CRLF (section 2.3.8); QUIT asks the server to answer 221 and
    close (section 4.1.1.10). The check finds the student's connection in
    the trace (a connection from no lab device), reads its exchanges, and
    compares ``greeting`` and ``goodbye`` with the replies on the wire.
    """
    janes_server = lab.server("somewhereelse.com")
    mine = [c for c in lab.trace.sessions(protocol="SMTP") if _from_outside(c)]
    if not mine:
        _wrong("The trace shows no connection from your own code to any mail server yet. "
               "Run your cell: it should open one with socket.create_connection.")
    to_jane = [c for c in mine if c.server == janes_server.hostname and c.service == "mx"]
    if not to_jane:
        last = mine[-1]
        _wrong(f"Your connection went to {last.server} ({last.service} endpoint). The exercise asks for "
               f"{janes_server.hostname}, and its mx endpoint: the one other servers deliver to.")
    conn = to_jane[-1]  # the latest try is the one to judge
    exchanges = lab.trace.exchanges(conn)
    said = [e for e in exchanges if e.command]
    quits = [e for e in said if e.verb == "QUIT"]
    if not said:
        _wrong(f"You connected and {janes_server.hostname} greeted you, but the trace shows nothing sent "
               "by you. Send QUIT.")
    if not quits:
        _wrong(f"You sent {_said(exchanges)}, and the server answered {said[-1].final or 'nothing'!r}. "
               "The exercise asks for QUIT.")
    if not quits[0].complete:
        _wrong("The trace shows QUIT from you, but no answer: the server is still waiting for the end of "
               "your line. A command is a whole line, and a line ends with the two characters \\r\\n.")
    wire_greeting, wire_goodbye = exchanges[0].final, quits[0].final
    got, bye = _text(greeting), _text(goodbye)
    if wire_greeting in got and wire_goodbye in got:
        _wrong("Your greeting holds both replies, the greeting and the answer to QUIT: you sent QUIT "
               "before you read. The server speaks first; read its greeting, then send.")
    if wire_greeting not in got:
        if wire_goodbye in got:
            _wrong(f"Your greeting holds {got.strip()!r}, the answer to QUIT, but on the wire the server "
                   f"spoke first: {wire_greeting!r}. Read before you send.")
        _wrong(f"On the wire the server greeted you with {wire_greeting!r}, but your greeting holds "
               f"{greeting!r}. Keep what the first recv returns in greeting.")
    if wire_goodbye not in bye:
        _wrong(f"On the wire the server answered QUIT with {wire_goodbye!r}, but your goodbye holds "
               f"{goodbye!r}. Keep what recv returns after QUIT in goodbye.")
    _correct(f"the server spoke first ({wire_greeting[:3]}), you said QUIT, it answered "
             f"{wire_goodbye[:3]} and hung up.")


# -- exercise 2: joe's first message, sent by hand -------------------------------------------


HELLO_SUBJECT = "Hello, Jane"


@reads_the_wire
def hello_jane(lab: Lab) -> None:
    """Exercise: with smtplib, as joe's laptop, log in to joe's provider and send jane "Hello, Jane".

    A submission server takes mail only from users who logged in with AUTH
    (RFC 6409 section 4.3, RFC 4954 section 4). The check reads joe's laptop's
    submission sessions from the trace: the transaction that carried the
    message, or else what went wrong in the latest session; then it looks
    for the message in jane's inbox.
    """
    lab.wait_for_delivery(timeout=5)  # give mail in flight a moment to arrive
    sent = [t for t in _transactions(lab) if t.session.client == "joe-laptop" and t.accepted
            and t.session.service == "submission"]
    hello = [t for t in sent if _subject(t.body).casefold() == HELLO_SUBJECT.casefold()]
    if hello:
        if JANE not in hello[-1].rcpts:
            _wrong(f"joe's laptop sent {HELLO_SUBJECT!r}, but to {', '.join(hello[-1].rcpts)} "
                   "(RCPT TO on the wire), not to jane.")
        if any(who == JANE for who, _, _ in _find(lab, HELLO_SUBJECT)):
            _correct("the trace shows your session from joe's laptop (login, MAIL, RCPT, DATA, 250), "
                     "and jane's inbox holds the message.")
            return
        _wrong(f"joe's provider took {HELLO_SUBJECT!r} (250), but jane's inbox does not hold it yet. "
               f"{_where_is(lab, HELLO_SUBJECT)}")
    mine = lab.trace.sessions(protocol="SMTP", service="submission", device="joe-laptop")
    mine = [c for c in mine if c.client == "joe-laptop"]
    outside = [c for c in lab.trace.sessions(protocol="SMTP") if _from_outside(c)]
    if outside and (not mine or outside[-1].id > mine[-1].id):
        _wrong(f"Your latest session ({outside[-1].label}) came from your notebook, not from joe's "
               "laptop. Open it with lab.smtp, naming the device, as the cell's first line does.")
    if not mine:
        _wrong("The trace shows no SMTP session from joe's laptop to his provider yet. Run your cell.")
    trouble = _session_trouble(lab, mine[-1])
    if trouble:
        _wrong(f"In your latest session from joe's laptop: {trouble}")
    subjects = [_subject(t.body) for t in sent if t.session.id == mine[-1].id]
    _wrong(f"The latest session from joe's laptop sent {subjects or 'nothing'}, not a message with the "
           f"subject {HELLO_SUBJECT!r}. Has your cell run, with the message it gives?")
