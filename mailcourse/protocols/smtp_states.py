"""The SMTP session as a client sees it: its states and the moves between them, as data.

RFC 5321 section 4.1.4 puts the commands of a session in order::

    greeting (220) -> EHLO -> [AUTH] -> MAIL FROM -> RCPT TO (one or more) -> DATA (354)
                   -> message text -> "." (250: the server has the message) -> MAIL FROM ... or QUIT

A command out of that order gets "503 Bad sequence of commands" (section
4.1.4 and 4.3.2), and RSET, or a new EHLO, throws an open transaction away.

The SMTP stepper (`mailcourse.viz.widgets.SMTPStepper`) follows a session
with the three tables below and nothing else: which state a reply leads to
(`TRANSITIONS`), which commands are in order in each state (`IN_ORDER`),
and which one a textbook client sends next (`LIKELY_NEXT`). Print them to
read the session's rules; the stepper's buttons take their hints from them.

The tables describe a client's *expectations*. The server decides: the
stepper sends whatever you click and shows what the server really answered,
and the state only moves when the reply says so.
"""
from __future__ import annotations

import enum


class State(enum.Enum):
    """Where a session is, from the client's side (RFC 5321 section 4.1.4)."""

    CLOSED = "not connected"
    GREETED = "connected and greeted (220): the client introduces itself next"
    READY = "introduced (EHLO): no mail transaction open"
    MAIL = "mail transaction open: the sender is given"
    RCPT = "mail transaction open: at least one recipient accepted"
    DATA = "the server reads the message text (after 354)"
    MESSAGE = "message text sent: a line holding only \".\" ends it"


# The commands, by the names on the stepper's buttons. "message" is not a
# command: it is the message text, sent after DATA's 354; "." ends it.
COMMANDS = ("connect", "EHLO", "AUTH", "MAIL FROM", "RCPT TO", "DATA", "message", ".", "RSET", "QUIT")

ANY = "*"  # any state, or any command, in `TRANSITIONS`

# What a reply does to the session: (state, command, outcome) -> next state.
# The outcome is the first digit of the reply code, "none" for the message
# text (the server answers nothing until "."), or "closed" when the server
# ends the connection (221 after QUIT, 421, or the socket closing: RFC 5321
# section 3.8). Looked up as (state, command), then (ANY, command), then
# (ANY, ANY); with no entry the state stays as it was: a 5yz reply to MAIL
# FROM leaves you where you were.
TRANSITIONS: dict[tuple[State | str, str, str], State] = {
    # A 554 greeting also leaves the connection open, for QUIT only (section 3.1).
    **{(ANY, "connect", digit): State.GREETED for digit in "25"},
    (ANY, "EHLO", "2"): State.READY,  # a new EHLO also ends an open transaction (section 4.1.4)
    (State.READY, "MAIL FROM", "2"): State.MAIL,
    (State.MAIL, "RCPT TO", "2"): State.RCPT,
    (State.RCPT, "RCPT TO", "2"): State.RCPT,
    (State.RCPT, "DATA", "3"): State.DATA,
    (State.DATA, "message", "none"): State.MESSAGE,
    (State.MESSAGE, "message", "none"): State.MESSAGE,
    # The reply to "." ends the transaction, whatever it says (250, 451, 552, 554).
    **{(state, ".", digit): State.READY for state in (State.DATA, State.MESSAGE) for digit in "2345"},
    (State.GREETED, "RSET", "2"): State.GREETED,  # nothing to reset before EHLO
    (ANY, "RSET", "2"): State.READY,
    (ANY, ANY, "closed"): State.CLOSED,
}

# Commands that are in order in each state: a client following RFC 5321
# sends these, and no other. Anything else is allowed on the stepper, and
# the server answers it, usually with 503.
IN_ORDER: dict[State, tuple[str, ...]] = {
    State.CLOSED: ("connect",),
    State.GREETED: ("EHLO", "RSET", "QUIT"),
    State.READY: ("EHLO", "AUTH", "MAIL FROM", "RSET", "QUIT"),
    State.MAIL: ("RCPT TO", "EHLO", "RSET", "QUIT"),
    State.RCPT: ("RCPT TO", "DATA", "EHLO", "RSET", "QUIT"),
    State.DATA: ("message", "."),
    State.MESSAGE: ("message", "."),
}

# What a textbook client sends next. In READY that is AUTH first on a
# server that asks for it (submission, RFC 4954 and RFC 6409) until the
# user has logged in; see `likely_next`.
LIKELY_NEXT: dict[State, tuple[str, ...]] = {
    State.CLOSED: ("connect",),
    State.GREETED: ("EHLO",),
    State.READY: ("AUTH", "MAIL FROM"),
    State.MAIL: ("RCPT TO",),
    State.RCPT: ("DATA",),
    State.DATA: ("message",),
    State.MESSAGE: (".",),
}

# What can be sent at all. Inside DATA every line is message text, so a
# command would not be a command: the server would keep it as part of the
# message and answer nothing, and the stepper would wait for a reply that
# never comes. And the message text only means something after 354.
SENDABLE: dict[State, tuple[str, ...]] = {
    State.CLOSED: ("connect",),
    **{state: tuple(c for c in COMMANDS if c != "message")
       for state in (State.GREETED, State.READY, State.MAIL, State.RCPT)},
    State.DATA: ("connect", "message", "."),
    State.MESSAGE: ("connect", "message", "."),
}


def outcome(code: int | None, closed: bool = False) -> str:
    """The outcome key of `TRANSITIONS` for a reply code (None: no reply expected)."""
    if closed or code in (221, 421):
        return "closed"
    return "none" if code is None else str(code)[0]


def next_state(state: State, command: str, result: str) -> State:
    """The state after ``command`` got the reply whose outcome is ``result``."""
    for key in ((state, command, result), (ANY, command, result), (ANY, ANY, result)):
        if key in TRANSITIONS:
            return TRANSITIONS[key]
    return state


def likely_next(state: State, needs_auth: bool) -> str:
    """The command a textbook client sends next; AUTH only while ``needs_auth``."""
    choices = [c for c in LIKELY_NEXT[state] if c != "AUTH" or needs_auth]
    return choices[0]
