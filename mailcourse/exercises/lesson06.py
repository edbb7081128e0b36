"""The checks of lesson 06 (Disconnected access with IMAP)."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ..message import parse

from .common import _correct, _wrong
from .lesson05 import _server_line

if TYPE_CHECKING:
    from ..lab import Lab
    from ..protocols.exchanges import Exchange
    from ..trace import Connection

__all__ = ["archived_offline", "idle_news", "unread_uids"]


JANE_ACCOUNT = "jane"
ARCHIVE, TAX_RETURN = "Archive", "Tax return"
_COPYUID = re.compile(r"\[COPYUID (\d+) ([\d:,]+) ([\d:,]+)\]", re.IGNORECASE)  # RFC 4315 section 3


def _uid_set(text: str) -> set[int]:
    """``1:3,7`` as {1, 2, 3, 7} (RFC 4315's uid-set)."""
    found: set[int] = set()
    for part in text.split(","):
        first, _, last = part.partition(":")
        if first.isdigit() and (not last or last.isdigit()):
            low, high = sorted((int(first), int(last or first)))
            found.update(range(low, high + 1))
    return found


def _numbers(answer: Any) -> list[int] | None:
    """Whole numbers from what imaplib or a student may give: 5, "4 5", b"4 5", [b"4 5"], [4, 5]..."""
    items = answer if isinstance(answer, (list, tuple, set, frozenset)) else [answer]
    found: list[int] = []
    for item in items:
        if isinstance(item, bool):
            return None
        if isinstance(item, int):
            found.append(item)
            continue
        if isinstance(item, bytes):
            item = item.decode("ascii", "replace")
        if not isinstance(item, str):
            return None
        for word in item.replace(",", " ").split():
            if not word.isdigit():
                return None
            found.append(int(word))
    return found


def _jane_inbox(lab: Lab) -> list[tuple[int, frozenset[str]]]:
    """(UID, flags) of each message in jane's INBOX on her server, in UID order: sequence number n is item n."""
    store = lab.server("somewhereelse.com").store
    return [(info.uid, info.flags) for info in store.list(JANE_ACCOUNT)]


def _marked_seen_by_fetch(lab: Lab) -> bool:
    """Did some IMAP session fetch a message's text without .PEEK, which sets \\Seen (RFC 3501 section 6.4.5)?"""
    for conn in lab.trace.sessions(protocol="IMAP"):
        for exchange in lab.trace.exchanges(conn):
            if exchange.verb in ("FETCH", "UID FETCH"):
                items = exchange.argument.upper()
                if re.search(r"\bBODY\[|\bRFC822(?![.](HEADER|SIZE))\b", items):
                    return True
    return False


def unread_uids(lab: Lab, uids: Any) -> None:
    """Exercise: the UIDs of jane's unread messages in her INBOX, found with imaplib."""
    if uids is ...:
        _wrong("You have not answered yet: replace the ... with the UIDs you found, as a list of numbers.")
    answer = _numbers(uids)
    if answer is None:
        _wrong(f"{uids!r} is not a list of numbers. imaplib answers with bytes such as b'4 5': "
               "split them and turn each into an int.")
    inbox = _jane_inbox(lab)
    unread = {uid for uid, flags in inbox if "\\Seen" not in flags}
    given = set(answer)
    if given == unread and unread:
        _correct(f"UIDs {', '.join(map(str, sorted(unread)))}: the messages without \\Seen, named as they "
                 "will be named in every session.")
        return
    if not unread:
        hint = (" A FETCH of BODY[] (without .PEEK) sets \\Seen: yours may have marked them read."
                if _marked_seen_by_fetch(lab) else "")
        _wrong("jane's INBOX has no unread message now: every one has \\Seen." + hint
               + " Mark one unread again (STORE -FLAGS (\\Seen)) and look again.")
    sequence = {n for n, (uid, flags) in enumerate(inbox, 1) if "\\Seen" not in flags}
    if given == sequence:
        _wrong(f"{', '.join(map(str, sorted(given)))} are the *sequence numbers* of the unread messages: their "
               "places in the mailbox in this session. They change when a message above them goes. Ask for "
               "the UIDs instead.")
    every = {uid for uid, _ in inbox}
    unknown = sorted(given - every)
    if unknown:
        _wrong(f"No message in jane's INBOX has the UID {', '.join(map(str, unknown))}. Did you give sequence "
               "numbers, or look in another folder?")
    read = sorted(given - unread)
    if read:
        hint = (" (A FETCH of BODY[] without .PEEK marks a message read: did yours?)"
                if _marked_seen_by_fetch(lab) else "")
        _wrong(f"UID {', '.join(map(str, read))} has the \\Seen flag: jane has read it.{hint} Which search key "
               "finds the messages without \\Seen?")
    missing = sorted(unread - given)
    _wrong(f"Right so far, but incomplete: UID {', '.join(map(str, missing))} is unread too. Search every "
           "message of the INBOX, not only some.")


PHONE_DEVICE = "jane-phone"


def idle_news(lab: Lab, line: Any) -> None:
    """Exercise: copy the untagged response that told the idling phone about joe's new message."""
    text = _server_line(line, "the output above, in quotes", "the phone sent it. The news came from the server.")
    exchanges = [e for conn in lab.trace.sessions(protocol="IMAP")
                 if conn.client == PHONE_DEVICE for e in lab.trace.exchanges(conn)]
    idles = [e for e in exchanges if e.verb == "IDLE"]
    if not idles:
        _wrong(f"{PHONE_DEVICE} has not idled yet: run the cell where it sends IDLE and joe writes.")
    if any(text in e.pushed and re.fullmatch(r"\* \d+ EXISTS", text, re.IGNORECASE) for e in idles):
        _correct("* n EXISTS: the mailbox holds n messages now, one more than the phone knew. It came "
                 "while the phone was idling, without a command: pushed, not polled.")
        return
    if any(text in e.pushed for e in idles):
        if re.fullmatch(r"\* \d+ RECENT", text, re.IGNORECASE):
            _wrong("Close: RECENT came with the news, but it counts the messages that no other session has "
                   "seen yet, and IMAP4rev2 dropped it. Which line says how many messages the mailbox holds now?")
        if "FETCH" in text.upper():
            _wrong("That line reports flags that changed, not a new message.")
        if "EXPUNGE" in text.upper():
            _wrong("EXPUNGE says a message has gone. You want the one that says the mailbox has grown.")
        _wrong("That line came while the phone was idling, but it is not the news of a new message.")
    if text.startswith("+"):
        _wrong("That is the continuation request: the server's go-ahead, 'I am idling, tell me when to "
               "stop'. It came before joe wrote. Look at what came after it.")
    if text.upper() == "DONE" or any(text == e.command for e in exchanges):
        _wrong("That is a line the phone sent. The news came from the server.")
    if any(text == f"{e.tag} {e.status} {e.text}".strip() for e in idles):
        _wrong("That is the tagged completion of IDLE: the server says OK after the phone's DONE. The news "
               "came before it, untagged.")
    if any(text in e.untagged for e in exchanges):
        if re.fullmatch(r"\* \d+ EXISTS", text, re.IGNORECASE):
            _wrong("That EXISTS answered a command (SELECT, say): the phone asked. The one you want arrived "
                   "while the phone was idling, without being asked.")
        _wrong("That untagged line answered one of the phone's commands. The news arrived while the phone "
               "was idling, between the '+' and the DONE.")
    _wrong(f"{text!r} is not a line the server sent to {PHONE_DEVICE}. Copy one line exactly as printed "
           "(with or without the 'S: ' in front).")


def _subjects_in(lab: Lab, folder: str) -> dict[int, str]:
    store = lab.server("somewhereelse.com").store
    return {info.uid: str(parse(store.get(JANE_ACCOUNT, info.uid, folder)).get("Subject", ""))
            for info in store.list(JANE_ACCOUNT, folder)}


def archived_offline(lab: Lab) -> None:
    """Exercise: jane-laptop moves "Tax return" to Archive while offline; its sync does the move on the server."""
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
