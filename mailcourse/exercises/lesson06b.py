"""The checks of lesson 06b (POP3 up close: TOP, byte-stuffing, locks and APOP).

Each check reads the student's own POP3 session back from the lab's tap
(`Trace.exchanges`), with the readers of lesson 06.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .common import _correct, _subject, _wrong, reads_the_wire
from .pop3_sessions import _answered, _must_end, _number, _student_session

if TYPE_CHECKING:
    from ..lab import Lab
    from ..protocols.exchanges import Exchange

__all__ = ["headers_only", "apop_login"]


def _count(exchanges: list[Exchange]) -> int | None:
    """How many messages the session was told of: STAT's answer, or the lines of the scan listing."""
    for e in exchanges:
        if e.verb == "STAT" and e.ok and e.final.split()[1:2] and e.final.split()[1].isdigit():
            return int(e.final.split()[1])
        if e.verb == "LIST" and e.ok and not e.argument and e.data is not None:
            return len(e.data)
    return None


@reads_the_wire
def headers_only(lab: Lab, subjects: Any, since: int = 0) -> None:
    """Exercise: one session that reads every message's header with ``TOP n 0`` and downloads no message.

    ``subjects`` should list the Subject of each message, in message order,
    as the headers on the wire give them.
    """
    exchanges = _student_session(lab, since, "jane-laptop")
    whole = sorted({n for e in exchanges if e.verb == "RETR" and (n := _number(e)) is not None})
    if whole:
        _wrong(f"Your session downloaded message(s) {', '.join(map(str, whole))} whole (RETR). "
               "The point is to read the headers without the bodies: TOP can do that.")
    count = _count(exchanges)
    if count is None:
        _wrong("Your session never asked how many messages there are (STAT, or LIST): without that "
               "it cannot know which numbers to ask TOP for.")
    tops = [e for e in exchanges if e.verb == "TOP"]
    if not tops:
        _wrong("Your session sent no TOP command: TOP msg n gives a message's header and its first n body lines.")
    refused = [e for e in tops if not e.ok]
    if refused:
        _wrong(f"The server refused {refused[0].command!r}: {refused[0].final}")
    extra = [e.command for e in tops if e.argument.split()[1:2] != ["0"]]
    if extra:
        _wrong(f"Your session sent {extra[0]!r}: that asks for lines of the body too. "
               "How many body lines does a header-only request ask for?")
    asked = {_number(e) for e in tops}
    missing = [n for n in range(1, count + 1) if n not in asked]
    if missing:
        _wrong(f"jane's mailbox holds {count} messages, but your session never sent TOP for "
               f"message(s) {', '.join(map(str, missing))}.")
    _must_end(exchanges, "Every header came down")
    by_number = {_number(e): _subject(e.data or []) or None for e in tops}  # the header TOP n 0 sent
    on_wire = [by_number[n] for n in range(1, count + 1)]
    if not isinstance(subjects, (list, tuple)):
        _wrong(f"`subjects` should be a list of {count} subjects (strings), one per message; it is a "
               f"{type(subjects).__name__}.")
    given = [s.decode() if isinstance(s, bytes) else str(s) for s in subjects]
    if len(given) != count:
        _wrong(f"`subjects` holds {len(given)} item(s), but the mailbox holds {count} messages: one subject each.")
    for number, (mine, theirs) in enumerate(zip(given, on_wire), start=1):
        if mine.strip() == theirs:
            continue
        if mine.lower().startswith("subject:"):
            _wrong(f"Item {number} of `subjects` still starts with 'Subject:': keep only the text after the colon.")
        _wrong(f"Item {number} of `subjects` is {mine!r}, but the header of message {number} that your "
               f"session received says Subject: {theirs}.")
    _correct(f"{count} headers with TOP n 0, not one body downloaded, and the subjects match the wire.")


@reads_the_wire
def apop_login(lab: Lab, since: int = 0) -> None:
    """Exercise: log in to jane's mailbox with APOP, so that no password crosses the wire (RFC 1939 section 7).

    The tap masks the digest as it records it, so the check judges the
    commands and the server's answers, not the digest itself.
    """
    sessions = lab.trace.sessions(protocol="POP3", since=since)
    if not sessions:
        _wrong("No POP3 session started in your cell: connect to the POP3 endpoint and read the greeting.")
    runs = [_answered(lab, conn) for conn in sessions]
    exchanges = next((run for run in reversed(runs) if any(e.verb == "APOP" for e in run)), runs[-1])
    if any(e.verb == "PASS" for run in runs for e in run):
        _wrong("A session of your cell sent PASS: the password itself crossed the wire (the tap hides "
               "it in the transcript; an eavesdropper would not). APOP logs in without it.")
    apops = [e for e in exchanges if e.verb == "APOP"]
    if not apops:
        sent = ", ".join(dict.fromkeys(e.verb for e in exchanges if e.verb)) or "nothing after the greeting"
        _wrong(f"Your session sent {sent}, but no APOP command: APOP name digest.")
    answer = apops[-1]
    if not answer.ok and "Syntax" in answer.final:  # the tap masks the arguments: the server counted them
        _wrong(f"The server answered {answer.final!r}: APOP takes two arguments, the name and the digest, "
               "one space between them.")
    if not answer.ok:
        if "IN-USE" in answer.final:
            _wrong("The digest was right, but another session holds jane's mailbox: end it (quit()) and try again.")
        _wrong(f"The server answered {answer.final!r}. The digest is MD5 over the timestamp of this "
               "session's own greeting, angle brackets included, followed by the secret, written as "
               "32 lowercase hexadecimal digits; the name is jane's login.")
    _must_end(exchanges, "APOP logged you in")
    _correct("APOP opened jane's mailbox, and no password crossed the wire.")
