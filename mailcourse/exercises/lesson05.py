"""The checks of lesson 05 (Offline access with POP3)."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from .common import _correct, _wrong

if TYPE_CHECKING:
    from ..lab import Lab
    from ..protocols.exchanges import Exchange
    from ..trace import Connection

__all__ = ["size_line", "phone_keeps_mail", "only_new_messages"]


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


def _server_line(answer: Any, source: str, client_sent: str) -> str:
    """A server line the student copied from ``source``, without its ``S:`` prefix; a ``C:`` line is wrong."""
    if answer is ...:
        _wrong(f"You have not answered yet: replace the ... with a line copied from {source}.")
    line = str(answer).strip()
    side = re.match(r"^([CS]):\s?(.*)$", line)
    if side:
        if side.group(1) == "C":
            _wrong(f"That line starts with C:, so {client_sent}")
        line = side.group(2).strip()
    return line


def size_line(lab: Lab, answer: Any) -> None:
    """Exercise: copy the server's line that gives the size of message 2 before it is downloaded."""
    line = _server_line(answer, "the transcript", "the client sent it. The size comes from the server.")
    sent = False
    contexts: list[tuple[Exchange, str]] = []  # (exchange, "greeting" | "status" | "listing")
    for conn in lab.trace.sessions(protocol="POP3"):
        for exchange in _answered(lab, conn):
            if exchange.verb and line.casefold() == f"{exchange.verb} {exchange.argument}".strip().casefold():
                sent = True
            if exchange.final.strip() == line:
                contexts.append((exchange, "status" if exchange.verb else "greeting"))
            if line in (item.strip() for item in exchange.data or []):
                contexts.append((exchange, "listing"))
    if not contexts:
        if sent:
            _wrong(f"{line!r} is a command: the client sent it. The size comes back from the server.")
        _wrong(f"{line!r} is not a line the server sent in any POP3 session of the trace. Copy one "
               "line exactly as the transcript shows it (with or without the 'S: ' in front).")
    for exchange, where in contexts:
        words = line.split()
        if exchange.verb == "LIST" and where == "listing" and words[:1] == ["2"]:
            _correct("the scan listing gives each message's number and its size in octets, before any download.")
            return
        if exchange.verb == "LIST" and where == "status" and _number(exchange) == 2 and exchange.ok:
            _correct("LIST 2 answers with the message number and its size in octets, before any download.")
            return
    exchange, where = contexts[0]
    if where == "greeting":
        _wrong("That is the server's greeting: it answers no command and says nothing about messages.")
    if line.startswith("-ERR"):
        _wrong("That is a negative response, -ERR: the server refused a command. Look for a +OK answer.")
    if exchange.verb == "STAT":
        _wrong("That is the answer to STAT: how many messages the maildrop holds, and their size all "
               "together. You want the size of message 2 alone.")
    if exchange.verb == "LIST":
        other = line.split()[1] if where == "status" else line.split()[0]  # "+OK 1 120" or "1 120"
        _wrong(f"Right command, wrong message: that line is about message {other}. Find the one for message 2.")
    if exchange.verb == "UIDL":
        _wrong("That line comes from UIDL: a message number and its unique id, a name that never "
               "changes. It says nothing about size.")
    if exchange.verb in ("RETR", "TOP") and where == "status":
        _wrong(f"That is the first line of the answer to {exchange.verb}: the message is already on its "
               "way. Which command asks for sizes without downloading anything?")
    if exchange.verb in ("RETR", "TOP"):
        _wrong(f"That line is part of a message's text, sent in answer to {exchange.verb}. The size "
               "comes in a line of its own, before the download.")
    _wrong(f"That is the server's answer to {exchange.verb or 'a command'}. Which command asks for "
           "the size of each message?")


PHONE = "jane-phone"


def _retrieved(exchanges: list[Exchange]) -> list[Exchange]:
    return [e for e in exchanges if e.verb == "RETR" and e.ok]


def _message_ids(lines: list[str]) -> list[str]:
    """The Message-ID of a message as it crossed the wire (its header lines only)."""
    header = lines[: lines.index("")] if "" in lines else lines
    return [line.split(":", 1)[1].strip() for line in header if line.lower().startswith("message-id:")]


def phone_keeps_mail(lab: Lab) -> None:
    """Exercise: jane-phone fetches by POP3 and leaves the messages on the server for the laptop."""
    phone = lab.clients.get(PHONE)
    if phone is None:
        _wrong(f"The lab has no device called {PHONE!r}. Run the cell that gives jane her phone.")
    sessions = [conn for conn in lab.trace.sessions(protocol="POP3") if conn.client == PHONE]
    if not sessions:
        _wrong(f"{PHONE} has not opened a POP3 session yet: ask it to fetch jane's mail.")
    fetched = [(conn, exchanges) for conn in sessions
               if _retrieved(exchanges := _answered(lab, conn))]
    if not fetched:
        waiting = len(lab.server("somewhereelse.com").mailbox("jane"))
        _wrong(f"{PHONE} connected, but downloaded nothing (no RETR): "
               + ("the maildrop was empty. Let joe send jane something first."
                  if not waiting else f"{waiting} message(s) wait on the server. Fetch again."))
    _, exchanges = fetched[-1]
    deleted = _deleted_at_quit(exchanges)
    if deleted:
        _wrong(f"{PHONE} downloaded {len(_retrieved(exchanges))} message(s), then sent DELE for "
               f"{len(deleted)} and QUIT: the server removed them, and the laptop will never see them. "
               "Ask the phone to leave the messages where they are (to try again, let joe send jane "
               "a new message first).")
    if not _ended(exchanges):
        _wrong(f"{PHONE}'s session is still open: it holds the lock on jane's maildrop. End it with QUIT.")
    ids = [mid for e in _retrieved(exchanges) for mid in _message_ids(e.data or [])]
    on_server = {str(m["Message-ID"]) for m in lab.server("somewhereelse.com").mailbox("jane")}
    on_phone = {str(m["Message-ID"]) for m in phone.local_messages()}
    gone = [mid for mid in ids if mid not in on_server]
    if gone:
        _wrong(f"{PHONE} kept the messages on the server, but {len(gone)} of them are gone from it now: "
               "another session deleted them after the phone's. Let joe send a new one and fetch again.")
    if any(mid not in on_phone for mid in ids):
        _wrong(f"The messages stayed on the server, but {PHONE} has no copy of them in its local store: "
               "use the phone's own mail program, not poplib by hand.")
    _correct(f"{PHONE} has its own copies, and the messages are still on the server for the laptop.")


def only_new_messages(lab: Lab, already: Any, new_messages: Any = None, since: int = 0) -> None:
    """Exercise: a poplib session that retrieves exactly the messages whose UIDL is not in ``already``.

    ``since`` is a `Trace.mark` taken at the top of the student's cell: only
    the sessions opened after it count. ``new_messages``, if given, should
    hold one item per message retrieved.
    """
    if not isinstance(already, (set, frozenset, list, tuple)):
        _wrong("`already` should be the set of UIDLs the device has seen; run the cell that makes it again.")
    seen = {str(uidl) for uidl in already}
    sessions = lab.trace.sessions(protocol="POP3", since=since)
    if not sessions:
        _wrong("No POP3 session started in your cell. Open one with lab.pop3(...) and log in as jane.")
    runs = [(conn, _answered(lab, conn)) for conn in sessions]
    listed = [(conn, exchanges) for conn, exchanges in runs
              if any(e.verb == "UIDL" and e.ok and not e.argument for e in exchanges)]
    if not listed:
        if not any(e.verb == "PASS" and e.ok for _, exchanges in runs for e in exchanges):
            _wrong("Your session never logged in: send USER and then PASS (poplib's user() and pass_()).")
        _wrong("Your session never asked for the unique ids of the messages (UIDL without a number): "
               "without them it cannot tell old messages from new ones.")
    _, exchanges = listed[-1]
    uidls: dict[int, str] = {}
    for e in exchanges:
        if e.verb == "UIDL" and e.ok and not e.argument:
            for item in e.data or []:
                number, _, uidl = item.partition(" ")
                if number.isdigit():
                    uidls[int(number)] = uidl.strip()
    wanted = {n for n, uidl in uidls.items() if uidl not in seen}
    got = {_number(e) for e in _retrieved(exchanges)}
    if not wanted and not got:
        _wrong("Every message in the maildrop has a UIDL in `already`: there was nothing new to fetch. "
               "Run the cell before yours, where joe sends two new messages, then run yours again.")
    extra = sorted(n for n in got if n not in wanted)
    if extra:
        _wrong(f"Your session downloaded message(s) {', '.join(map(str, extra))}, whose UIDL is in "
               "`already`: the device has them. Compare each UIDL with the set before you ask for the message.")
    missing = sorted(wanted - got)
    if missing:
        _wrong(f"Message(s) {', '.join(map(str, missing))} have a UIDL that is not in `already`, but your "
               "session never retrieved them (RETR).")
    if _deleted_at_quit(exchanges):
        _wrong("Your session downloaded the right messages but also deleted some (DELE, then QUIT). "
               "This device leaves mail on the server.")
    if not _ended(exchanges):
        _wrong("The right messages came down, but your session is still open: it holds the lock on "
               "jane's maildrop, and no other device can log in. End it with quit().")
    if new_messages is not None and len(new_messages) != len(wanted):
        _wrong(f"Your session retrieved the {len(wanted)} right message(s), but `new_messages` holds "
               f"{len(new_messages)} item(s): keep each message you retrieve, once.")
    _correct(f"your session downloaded the {len(wanted)} new message(s) and left the rest alone.")
