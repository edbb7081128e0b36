"""The checks of lesson 06 (Offline access with POP3).

Both exercises are POP3 sessions the student opens with poplib; each check
reads that session back from the lab's tap (`Trace.exchanges`) and judges
what crossed the wire: which commands, in which order, and what the server
answered, read with the helpers of `mailcourse.exercises.pop3_sessions`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .common import _correct, _wrong, reads_the_wire
from .pop3_sessions import _answered, _deleted_at_quit, _logged_in, _must_end, _number, _student_session

if TYPE_CHECKING:
    from ..lab import Lab
    from ..protocols.exchanges import Exchange

__all__ = ["pop3_by_hand", "only_new_messages"]


def _listed_size(exchanges: list[Exchange], number: int) -> int | None:
    """The size of message ``number`` in the answer to LIST (the scan listing, or ``LIST n``)."""
    for e in exchanges:
        if e.verb != "LIST" or not e.ok:
            continue
        lines = [e.final.removeprefix("+OK").strip()] if e.argument else (e.data or [])
        for line in lines:
            words = line.split()
            if len(words) >= 2 and words[0] == str(number) and words[1].isdigit():
                return int(words[1])
    return None


@reads_the_wire
def pop3_by_hand(lab: Lab, size_of_2: Any, since: int = 0) -> None:
    """Exercise: a poplib session of jane-laptop that sends STAT, LIST, RETR 2 and QUIT, deleting nothing.

    ``since`` is a `Trace.mark` taken at the top of the student's cell.
    ``size_of_2`` must be the size of message 2 as the server's LIST gave it.
    """
    exchanges = _student_session(lab, since, "jane-laptop")
    verbs = [e.verb for e in exchanges if e.verb]
    sent = ", ".join(dict.fromkeys(verbs))
    if "STAT" not in verbs:
        _wrong(f"Your session sent {sent}, but no STAT: ask how many messages jane's mailbox holds "
               "and how big they are together.")
    if "LIST" not in verbs:
        _wrong(f"Your session sent {sent}, but no LIST: the scan listing gives the size of each "
               "message before anything is downloaded.")
    retrieved = [(i, _number(e)) for i, e in enumerate(exchanges) if e.verb == "RETR" and e.ok]
    if not any(number == 2 for _, number in retrieved):
        others = sorted({n for _, n in retrieved if n is not None})
        _wrong("Your session never downloaded message 2 (RETR)"
               + (f"; it retrieved message(s) {', '.join(map(str, others))} instead." if others else "."))
    first_retr = next(i for i, number in retrieved if number == 2)
    if first_retr < next(i for i, e in enumerate(exchanges) if e.verb == "LIST"):
        _wrong("Your session downloaded message 2 before it asked for the sizes: LIST first, then RETR.")
    if any(e.verb == "DELE" for e in exchanges):
        removed = _deleted_at_quit(exchanges)
        _wrong("Your session sent DELE" + (f", and QUIT removed {len(removed)} message(s) from jane's mailbox"
                                           if removed else "") + ": this exercise only looks, it deletes nothing.")
    _must_end(exchanges, "STAT, LIST and RETR 2 went well")
    listed = _listed_size(exchanges, 2)
    if listed is None:
        _wrong("Your session sent LIST, but its answer names no message 2: run the cells above, "
               "where joe sends jane three messages, then your cell again.")
    if size_of_2 is None or size_of_2 is ...:
        _wrong("The session is right; now put the size of message 2, as the server's LIST answered, "
               "in size_of_2.")
    try:
        size = int(str(size_of_2).strip())
    except ValueError:
        _wrong(f"size_of_2 should be a number of octets (an int), not {size_of_2!r}.")
    if size != listed:
        total = next((e.final.split() for e in exchanges if e.verb == "STAT" and e.ok), [])
        if total[2:] and total[2] == str(size):
            _wrong(f"{size} is what STAT answered: the size of all the messages together. You want "
                   "message 2 alone.")
        for number in range(1, 100):
            if number != 2 and _listed_size(exchanges, number) == size:
                _wrong(f"{size} is the size of message {number} in the scan listing. You want message 2.")
        _wrong(f"size_of_2 is {size}, but that is not what the server's LIST said about message 2 in "
               "your session. Read the size from the listing line that starts with 2.")
    _correct("STAT, LIST and RETR crossed the wire, and the size of message 2 came from the scan "
             "listing, before the download.")


@reads_the_wire
def only_new_messages(lab: Lab, already: Any, new_messages: Any = None, since: int = 0) -> None:
    """Exercise: a poplib session that retrieves exactly the messages whose UIDL is not in ``already``.

    ``since`` is a `Trace.mark` taken at the top of the student's cell: only
    the sessions opened after it count. ``new_messages``, if given, should
    hold one item per message retrieved. The session must ask UIDL before
    any RETR, retrieve the new messages and only them, and send no DELE.
    """
    if not isinstance(already, (set, frozenset, list, tuple)):
        _wrong("`already` should be the set of UIDLs the device has seen; run the cell that makes it again.")
    seen = {str(uidl) for uidl in already}
    sessions = lab.trace.sessions(protocol="POP3", since=since)
    if not sessions:
        _wrong('No POP3 session started in your cell. Open one with lab.pop3("jane-phone", pop3) '
               "and log in as jane.")
    runs = [_answered(lab, conn) for conn in sessions]
    listed = [exchanges for exchanges in runs
              if any(e.verb == "UIDL" and e.ok and not e.argument for e in exchanges)]
    if not listed:
        if not any(_logged_in(exchanges) for exchanges in runs):
            _wrong("Your session never logged in: send USER and then PASS (poplib's user() and pass_()).")
        _wrong("Your session never asked for the unique ids of the messages (UIDL without a number): "
               "without them it cannot tell old messages from new ones.")
    exchanges = listed[-1]
    uidl_at = next(i for i, e in enumerate(exchanges) if e.verb == "UIDL" and e.ok and not e.argument)
    uidls: dict[int, str] = {}
    for item in exchanges[uidl_at].data or []:
        number, _, uidl = item.partition(" ")
        if number.isdigit():
            uidls[int(number)] = uidl.strip()
    wanted = {n for n, uidl in uidls.items() if uidl not in seen}
    retrieved = [(i, _number(e)) for i, e in enumerate(exchanges) if e.verb == "RETR" and e.ok]
    if any(i < uidl_at for i, _ in retrieved):
        _wrong("Your session downloaded a message before it asked for the UIDL listing: it could not "
               "know yet whether that message was new. Ask UIDL first.")
    got = {number for _, number in retrieved}
    if not wanted and not got:
        _wrong("Every message in the mailbox has a UIDL in `already`: there was nothing new to fetch. "
               "Run the cell before yours, where joe sends two new messages, then run yours again.")
    extra = sorted(n for n in got if n not in wanted)
    if extra:
        _wrong(f"Your session downloaded message(s) {', '.join(map(str, extra))}, whose UIDL is in "
               "`already`: the device has them. Compare each UIDL with the set before you ask for the message.")
    missing = sorted(wanted - got)
    if missing:
        _wrong(f"Message(s) {', '.join(map(str, missing))} have a UIDL that is not in `already`, but your "
               "session never retrieved them (RETR).")
    if any(e.verb == "DELE" for e in exchanges):
        removed = _deleted_at_quit(exchanges)
        _wrong("Your session downloaded the right messages but also sent DELE"
               + (f" (and QUIT removed {len(removed)} of them)" if removed else "")
               + ". This device leaves mail on the server: it never marks a message for deletion.")
    _must_end(exchanges, "The right messages came down")
    if new_messages is not None and len(new_messages) != len(wanted):
        _wrong(f"Your session retrieved the {len(wanted)} right message(s), but `new_messages` holds "
               f"{len(new_messages)} item(s): keep each message you retrieve, once.")
    _correct(f"your session downloaded the {len(wanted)} new message(s) and left the rest alone.")
