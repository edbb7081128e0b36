"""The checks of lesson 07 (Disconnected access with IMAP).

Both exercises are judged by what crossed the wire: the commands of the
student's own IMAP session (`unread_by_hand`), and the session in which
jane-laptop's sync carried an offline move to the server (`archived_offline`).
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..message import parse

from .common import JANE_ACCOUNT, _correct, _wrong, reads_the_wire

if TYPE_CHECKING:
    from ..lab import Lab
    from ..protocols.exchanges import Exchange
    from ..trace import Connection

__all__ = ["archived_offline", "unread_by_hand"]


ARCHIVE, TAX_RETURN = "Archive", "Tax return"
_COPYUID = re.compile(r"\[COPYUID (\d+) ([\d:,]+) ([\d:,]+)\]", re.IGNORECASE)  # RFC 4315 section 3
_FETCHED_UID = re.compile(r"^\* \d+ FETCH \(.*?\bUID (\d+)", re.IGNORECASE)  # RFC 3501 section 7.4.2


def _uid_set(text: str, largest: int = 0) -> set[int]:
    """``1:3,7`` as {1, 2, 3, 7} (RFC 3501 section 9, sequence-set); ``*`` is the largest UID in use."""
    found: set[int] = set()
    for part in text.split(","):
        first, _, last = part.partition(":")
        ends = [largest if end == "*" else int(end) if end.isdigit() else None for end in (first, last or first)]
        if None not in ends:
            low, high = sorted(ends)  # type: ignore[type-var]
            found.update(range(low, high + 1))
    return found


def _list(uids: set[int] | list[int]) -> str:
    return ", ".join(map(str, sorted(uids))) or "none"


def _fetched(exchange: Exchange) -> set[int]:
    """The UIDs an answer to UID FETCH or UID STORE named: ``* 3 FETCH (UID 5 ...)`` (RFC 3501 section 6.4.8)."""
    return {int(m.group(1)) for line in exchange.untagged if (m := _FETCHED_UID.match(line))}


def _searched(exchange: Exchange) -> set[int]:
    """The numbers of the ``* SEARCH 4 5 6`` response (RFC 3501 section 7.2.5)."""
    found: set[int] = set()
    for line in exchange.untagged:
        words = line.split()
        if words[1:2] == ["SEARCH"]:
            found |= {int(word) for word in words[2:] if word.isdigit()}
    return found


def _done_by_uid(exchange: Exchange, hint: str) -> None:
    """Refuse a step the server did not carry out, or one that named messages by sequence number."""
    if exchange.status != "OK":
        _wrong(f"Your {exchange.verb} got {exchange.status or 'no answer'}: {exchange.final!r}. {hint}")
    if not exchange.verb.startswith("UID "):
        _wrong(f"Your session sent {exchange.verb}, which names messages by sequence number: places in the list, "
               "good only in this session. Use the UID form of the command, so that every step names messages "
               "by UID.")


def _jane_inbox(lab: Lab) -> dict[int, frozenset[str]]:
    """UID -> flags of each message in jane's INBOX, as the server's store holds them now."""
    store = lab.server("somewhereelse.com").store
    return {info.uid: frozenset(info.flags) for info in store.list(JANE_ACCOUNT)}


def _unseen_search(lab: Lab) -> tuple[Connection, list[Exchange], int] | None:
    """The last IMAP session that searched for UNSEEN, its exchanges, and where the search is in them."""
    found = None
    for conn in lab.trace.sessions(protocol="IMAP"):
        exchanges = lab.trace.exchanges(conn)
        for index, e in enumerate(exchanges):
            if e.verb in ("SEARCH", "UID SEARCH") and re.search(r"\bUNSEEN\b", e.argument, re.IGNORECASE):
                found = (conn, exchanges, index)
    return found


@reads_the_wire
def unread_by_hand(lab: Lab) -> None:
    """Exercise: UID SEARCH UNSEEN, then UID FETCH of those UIDs, then UID STORE +FLAGS (\\Seen), by hand.

    Read from the trace: the student's own session, its commands in that
    order, the UIDs the server named in each answer; then the server's store,
    which must show those messages read (RFC 3501 sections 6.4.4, 6.4.5, 6.4.6).
    """
    found = _unseen_search(lab)
    if found is None:
        _wrong("No IMAP session in the trace has searched for the unread messages yet (a SEARCH with the "
               "key UNSEEN). Start with that, in the session `box`.")
    conn, exchanges, index = found
    search = exchanges[index]
    _done_by_uid(search, "Is the INBOX selected in that session? (Run the cell that opens `box` again if the "
                 "server logged it out.)")
    unseen = _searched(search)
    if not unseen:
        _wrong("Your search found no unread message: every message in jane's INBOX had \\Seen when it ran. "
               "Run the cell where joe writes again, then your cell.")
    after = exchanges[index + 1:]
    fetches = [e for e in after if e.verb in ("FETCH", "UID FETCH") and e.status == "OK"]
    if not fetches:
        _wrong(f"Your search found UIDs {_list(unseen)}, but the session fetched nothing after it. Fetch "
               "those messages (their subjects, or the whole text with BODY.PEEK[]).")
    if all(e.verb == "FETCH" for e in fetches):
        _wrong("Your session fetched with FETCH, which takes sequence numbers. Your search gave you UIDs: "
               "fetch with the UID form of the command.")
    fetched = set().union(*(_fetched(e) for e in fetches if e.verb == "UID FETCH"))
    if fetched - unseen:
        _wrong(f"Your session fetched UID {_list(fetched - unseen)}, which your search did not find: it was read "
               "already. Fetch exactly the UIDs the search gave.")
    if unseen - fetched:
        _wrong(f"Your search found UIDs {_list(unseen)}, but your session fetched only {_list(fetched)}. "
               "Fetch every one of them.")
    last_fetch = max(i for i, e in enumerate(after) if e in fetches)
    stores = [e for e in after[last_fetch + 1:] if e.verb in ("STORE", "UID STORE")]
    if not stores:
        _wrong(f"Your session fetched UIDs {_list(unseen)}, but stored no flag afterwards. Tell the server "
               "jane has read them: add the \\Seen flag, after the fetch.")
    inbox = _jane_inbox(lab)
    for store in stores:
        _done_by_uid(store, "A folder opened with EXAMINE is read-only: open it with SELECT.")
        words = store.argument.split(None, 1)
        item = words[1].upper() if len(words) > 1 else ""
        if not item.startswith("+FLAGS"):
            if item.startswith("FLAGS"):
                _wrong("Your STORE sent FLAGS, which replaces every flag of the message with the ones you "
                       "give: a \\Flagged or \\Answered set by another device would be lost. Add a flag instead.")
            _wrong(f"Your STORE sent {item.split(' ')[0] or 'nothing'}: that takes flags away. Add one.")
        if "\\SEEN" not in item:
            _wrong(f"Your STORE added {item.split(' ', 1)[-1]}, not \\Seen, the flag that means 'read'.")
    stored = set().union(*(_fetched(e) or _uid_set(e.argument.split()[0], max(inbox, default=0)) for e in stores))
    if unseen - stored:
        _wrong(f"Your STORE marked UID {_list(stored & unseen)} read, but not {_list(unseen - stored)}: "
               "mark every message you fetched.")
    if stored - unseen:
        _wrong(f"Your STORE also touched UID {_list(stored - unseen)}, which your search had not found. Mark "
               "exactly the UIDs you fetched.")
    unread_now = sorted(uid for uid in unseen if uid in inbox and "\\Seen" not in inbox[uid])
    if unread_now:
        _wrong(f"Your session marked UIDs {_list(unseen)} read, but on the server UID {_list(unread_now)} is "
               "unread again: another session took \\Seen away since. Run your cell again.")
    _correct(f"{conn.client}'s session searched, fetched UIDs {_list(unseen)} and then added \\Seen to each: "
             "the server shows them read, for every device.")


def _subjects_in(lab: Lab, folder: str) -> dict[int, str]:
    store = lab.server("somewhereelse.com").store
    return {info.uid: str(parse(store.get(JANE_ACCOUNT, info.uid, folder)).get("Subject", ""))
            for info in store.list(JANE_ACCOUNT, folder)}


@reads_the_wire
def archived_offline(lab: Lab) -> None:
    """Exercise: jane-laptop moves "Tax return" to Archive while offline; its sync does the move on the server.

    Read from the trace: the IMAP session whose MOVE (or COPY) answer says, in
    its COPYUID code (RFC 4315 section 3), that the message got its UID in
    Archive, and that the session was the laptop's sync (it goes on to LIST
    the folders), not commands typed by hand.
    """
    store = lab.server("somewhereelse.com").store
    if not store.has_folder(JANE_ACCOUNT, ARCHIVE):
        _wrong(f"jane has no folder {ARCHIVE!r} on her server yet: run the cell that creates it, then sync the laptop.")
    where = {folder: [uid for uid, subject in _subjects_in(lab, folder).items() if _same(subject, TAX_RETURN)]
             for folder in store.folders(JANE_ACCOUNT)}
    laptop = lab.clients.get("jane-laptop")
    pending = [c for c in (laptop.imap.pending if laptop else []) if c.action == "MOVE" and _same(c.subject, TAX_RETURN)]
    if where.get("INBOX") and not where.get(ARCHIVE):
        if pending and pending[-1].to_folder != ARCHIVE:
            _wrong(f"jane-laptop's journal moves {TAX_RETURN!r} to {pending[-1].to_folder!r}, not to {ARCHIVE!r}.")
        if pending and laptop is not None and not laptop.online:
            _wrong(f"The move is in jane-laptop's journal, but the laptop is still offline, so the server has "
                   f"not heard of it: {TAX_RETURN!r} is still in the INBOX there. Bring the laptop back online "
                   "and sync.")
        if pending:
            _wrong(f"The move is in jane-laptop's journal, but the laptop has not synced since: on the server "
                   f"{TAX_RETURN!r} is still in the INBOX.")
        _wrong(f"{TAX_RETURN!r} is still in jane's INBOX on the server, and jane-laptop's journal holds no move "
               "for it. Move it with the laptop's own mail program (its IMAP mailbox) while the laptop is offline.")
    if not any(where.values()):
        _wrong(f"{TAX_RETURN!r} is in none of jane's folders on the server: deleted, or never arrived? "
               "Run the cell where joe sends it, and try again with the new one.")
    if not where.get(ARCHIVE):
        folder = next(f for f, uids in where.items() if uids)
        _wrong(f"{TAX_RETURN!r} is in {folder!r} on the server, not in {ARCHIVE!r}.")
    if where.get("INBOX"):
        _wrong(f"{ARCHIVE!r} holds a copy of {TAX_RETURN!r}, but the INBOX still has it too: that was a copy, "
               "not a move.")
    archived = set(where[ARCHIVE])
    validity = store.uidvalidity(JANE_ACCOUNT, ARCHIVE)
    mover: tuple[Connection, list[Exchange], int] | None = None
    for conn in lab.trace.sessions(protocol="IMAP"):
        exchanges = lab.trace.exchanges(conn)
        for index, e in enumerate(exchanges):
            if e.verb not in ("MOVE", "UID MOVE", "COPY", "UID COPY") or e.status != "OK":
                continue
            for said in [*e.untagged, e.text]:
                code = _COPYUID.search(said)
                if code and int(code.group(1)) == validity and _uid_set(code.group(3)) & archived:
                    mover = (conn, exchanges, index)
    if mover is None:
        _wrong(f"{TAX_RETURN!r} is in {ARCHIVE!r}, but no IMAP session in the trace moved it there: it was moved "
               "on the server itself. The exercise asks jane-laptop to move it offline and sync.")
    conn, exchanges, index = mover
    if conn.client != "jane-laptop":
        _wrong(f"It was {conn.client}'s session that moved {TAX_RETURN!r}, not jane-laptop's. Let the laptop do "
               "it, offline, and let its sync carry the move to the server.")
    if not any(e.verb == "LIST" for e in exchanges[index + 1:]):
        _wrong("jane-laptop moved it with IMAP commands of its own, online (by hand?). The exercise asks for the "
               "disconnected way: the laptop offline, the move in its journal, then a sync.")
    if laptop is None or not any(_same(m.subject, TAX_RETURN) for m in laptop.imap.messages(ARCHIVE)):
        _wrong(f"The server has {TAX_RETURN!r} in {ARCHIVE!r}, but jane-laptop's cache does not show it there yet. "
               "Sync the laptop once more.")
    verb = exchanges[index].verb
    _correct(f"jane-laptop's sync replayed the move ({verb}): {TAX_RETURN!r} is in {ARCHIVE!r}, on the server and "
             "in the laptop's cache, and no longer in the INBOX.")


def _same(a: str, b: str) -> bool:
    return a.strip().casefold() == b.strip().casefold()
