"""Reading a POP3 session back from the wire: what the checks of lessons 06, 06b and 08 share.

Each function takes the exchanges of one session (`Trace.exchanges`) and
answers one question about it in the terms of RFC 1939: did it log in,
which messages did it retrieve, which did it really delete, did it end.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .common import _wrong

if TYPE_CHECKING:
    from ..lab import Lab
    from ..protocols.exchanges import Exchange
    from ..trace import Connection


_LOGINS = ("PASS", "APOP", "AUTH")  # the commands that end the AUTHORIZATION state (RFC 1939 section 4)


def _answered(lab: Lab, conn: Connection) -> list[Exchange]:
    """The greeting and the commands of one POP3 session that got their status line (`Trace.exchanges`)."""
    return [exchange for exchange in lab.trace.exchanges(conn) if exchange.final]


def _number(exchange: Exchange) -> int | None:
    """The message number the command names (``RETR 2``, ``LIST 2``...), if any."""
    first = exchange.argument.split()[:1]
    return int(first[0]) if first and first[0].isdigit() else None


def _deleted_at_quit(exchanges: list[Exchange]) -> list[int]:
    """The message numbers a session really deleted: marked by DELE, not undone by RSET, then QUIT.

    RFC 1939 section 6: the server removes marked messages only in the
    UPDATE state, which a session reaches by QUIT and by nothing else.
    """
    marked: list[int] = []
    for exchange in exchanges:
        if exchange.verb == "DELE" and exchange.ok and (number := _number(exchange)) is not None:
            marked.append(number)
        elif exchange.verb == "RSET" and exchange.ok:
            marked = []
        elif exchange.verb == "QUIT" and exchange.ok:
            return marked
    return []


def _ended(exchanges: list[Exchange]) -> bool:
    return any(e.verb == "QUIT" for e in exchanges)


def _retrieved(exchanges: list[Exchange]) -> list[Exchange]:
    return [e for e in exchanges if e.verb == "RETR" and e.ok]


def _logged_in(exchanges: list[Exchange]) -> bool:
    return any(e.verb in _LOGINS and e.ok for e in exchanges)


def _student_session(lab: Lab, since: int, device: str) -> list[Exchange]:
    """The last POP3 session opened since ``since`` that logged in, read from the wire.

    Fails with a plain sentence when there is no session, or none that logged in.
    """
    sessions = lab.trace.sessions(protocol="POP3", since=since)
    if not sessions:
        _wrong(f'No POP3 session started in your cell. Open one with lab.pop3("{device}", pop3) '
               "and log in as jane.")
    runs = [_answered(lab, conn) for conn in sessions]
    logged_in = [exchanges for exchanges in runs if _logged_in(exchanges)]
    if not logged_in:
        refused = [e.final for exchanges in runs for e in exchanges if e.verb in _LOGINS and not e.ok]
        if refused:
            _wrong(f"Your session tried to log in, but the server answered {refused[-1]!r}.")
        _wrong("Your session never logged in: send USER and then PASS (poplib's user() and pass_()).")
    return logged_in[-1]


def _must_end(exchanges: list[Exchange], what: str) -> None:
    if not _ended(exchanges):
        _wrong(f"{what}, but your session is still open: it holds the lock on jane's mailbox, and no "
               "other device can log in until it ends. End it with quit().")
