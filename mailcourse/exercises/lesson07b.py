"""The checks of lesson 07b (Keeping devices in step: CONDSTORE, conflicts, UIDVALIDITY, IDLE).

Both exercises are judged by what crossed the wire in the student's own
session: a ``UID FETCH`` with CONDSTORE's ``CHANGEDSINCE`` (`changes_since`)
and an ``IDLE`` typed by hand (`idle_by_hand`).
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from .common import _correct, _numbers, _wrong, reads_the_wire
from .lesson07 import _done_by_uid, _fetched, _list

if TYPE_CHECKING:
    from ..lab import Lab

__all__ = ["changes_since", "idle_by_hand"]

PHONE = "jane-phone"
_CHANGEDSINCE = re.compile(r"\(\s*CHANGEDSINCE\s+(\d+)\s*\)", re.IGNORECASE)  # RFC 7162 section 3.1.4.1
_EXISTS = re.compile(r"^\* (\d+) EXISTS$", re.IGNORECASE)  # RFC 3501 section 7.3.1


@reads_the_wire
def changes_since(lab: Lab, since: int, last_seen: int, changed: Any) -> None:
    """Exercise: ``UID FETCH 1:* (FLAGS) (CHANGEDSINCE n)``, n the laptop's last HIGHESTMODSEQ.

    Read from the trace: the sessions opened since the mark ``since``, the
    UID FETCH that carries the CHANGEDSINCE modifier (RFC 7162 section
    3.1.4.1), the mod-sequence it names, and the UIDs the server's answer
    named; ``changed`` must hold those UIDs.
    """
    sessions = lab.trace.sessions(protocol="IMAP", since=since)
    if not sessions:
        _wrong("No IMAP session started in your cell. Run the whole cell: it opens one for jane-laptop.")
    exchanges = [e for conn in sessions for e in lab.trace.exchanges(conn)]
    asked = [e for e in exchanges if e.verb in ("FETCH", "UID FETCH") and _CHANGEDSINCE.search(e.argument)]
    if not asked:
        if any(e.verb in ("FETCH", "UID FETCH") for e in exchanges):
            _wrong("Your session fetched, but without the CHANGEDSINCE modifier: the server answered for "
                   "every message, changed or not. That is the traffic CONDSTORE saves.")
        _wrong("Your session sent no FETCH with the CHANGEDSINCE modifier yet.")
    fetch = asked[-1]
    _done_by_uid(fetch, "Is the INBOX selected?")
    number = int(_CHANGEDSINCE.search(fetch.argument).group(1))  # type: ignore[union-attr]
    if number != last_seen:
        which = "later" if number > last_seen else "earlier"
        _wrong(f"You asked for the changes since mod-sequence {number}, but the laptop last looked at "
               f"{last_seen} (`last_seen`): {which} than that, so the answer "
               + ("misses changes the laptop never heard of." if number > last_seen
                  else "repeats changes the laptop knew already."))
    named = _fetched(fetch)
    answer = _numbers(changed)
    if changed is ...:
        _wrong(f"The server's answer named UIDs {_list(named)}: now put them in `changed`, as a list of numbers.")
    if answer is None:
        _wrong(f"{changed!r} is not a list of numbers. Take the number after 'UID' in each line of the answer.")
    if answer != named:
        _wrong(f"`changed` holds UIDs {_list(answer)}, but the server's answer named {_list(named)}. Read the "
               "number after 'UID' in each FETCH line, not the sequence number in front.")
    _correct(f"CHANGEDSINCE {number} brought back only the {len(named)} message(s) changed since the laptop "
             f"last looked, UIDs {_list(named)}, and nothing about the others.")


def _text(line: Any) -> str:
    if isinstance(line, bytes):
        line = line.decode("utf-8", "replace")
    text = str(line).strip()
    return text[2:].strip() if text[:2] in ("S:", "C:") else text


@reads_the_wire
def idle_by_hand(lab: Lab, news: Any) -> None:
    """Exercise: jane-phone sends IDLE, hears joe's new message pushed, and ends with DONE (RFC 2177 section 3).

    Read from the trace: the phone's IDLE exchange, the server's ``+``, the
    untagged responses pushed while it idled, and the tagged completion
    after DONE; ``news`` must be the pushed line that tells of the new message.
    """
    idles = [e for conn in lab.trace.sessions(protocol="IMAP", device=PHONE)
             for e in lab.trace.exchanges(conn) if e.verb == "IDLE"]
    if not idles:
        _wrong(f"{PHONE} has sent no IDLE yet: send the command, with a tag of your own, then CRLF.")
    idle = idles[-1]
    if idle.complete and idle.status != "OK":
        _wrong(f"The server answered your IDLE with {idle.final!r}. Send the command alone, nothing after it.")
    if not idle.continuations:
        _wrong("Your IDLE got no '+' from the server yet: read the server's go-ahead before joe writes.")
    grown = [line for line in idle.pushed if _EXISTS.match(line)]
    if not idle.complete:
        _wrong("The phone is still idling: the server waits for DONE, and answers it with the tagged OK. "
               + ("" if grown else "Nothing about a new message was pushed yet, either: let joe write while "
                  "the phone idles."))
    if not grown:
        _wrong("Your IDLE ended, but nothing about a new message was pushed while it lasted: joe's message "
               "must arrive between the '+' and your DONE.")
    if news is ...:
        _wrong("The wire is right; now put the line that told the phone about the message into `news`.")
    said = _text(news)
    if said in grown:
        _correct(f"{said!r} came while {PHONE} was idling, unasked: the INBOX had grown. DONE ended the IDLE, "
                 "and the tagged OK closed it.")
        return
    if said.startswith("+"):
        _wrong("That is the continuation request, the server's 'I am idling'. It came before joe wrote.")
    if said in idle.pushed:
        _wrong("That line was pushed while the phone idled, but it does not say how many messages the INBOX "
               "holds now.")
    if said == idle.final.strip():
        _wrong("That is the tagged completion, after DONE. The news came before it, untagged.")
    _wrong(f"{said!r} is not one of the lines the server pushed during your IDLE. Keep the line you read "
           "from the socket (bytes or text).")
