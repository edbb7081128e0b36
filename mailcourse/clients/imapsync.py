"""Disconnected access with IMAP: a device's cache, its journal of offline changes, and sync.

RFC 1733 (section 2) names three ways of using a mailbox from a client:
*online* (work on the server, connected all the time), *offline* (download and
delete, POP3's way: see `ClientHost.fetch_pop3`) and *disconnected*: the
messages stay on the server, the device keeps copies, works on them without a
network, and later "resynchronizes" with the server. IMAP4rev1 (RFC 3501) was
made for this last one. Here is how one device (`ClientHost`) does it.

Theory of operation
===================

**Names.** A message is named by ``(folder, UIDVALIDITY, UID)``. RFC 3501
section 2.3.1.1: a UID is given to one message of one folder and never to
another, *as long as the folder's UIDVALIDITY stays the same*. A server that
cannot keep that promise (the folder was deleted and made again, its index was
rebuilt) changes UIDVALIDITY, and then every UID the device knows for that
folder means nothing: the device throws that folder's cache away and downloads
it again.

**The cache** (``<device>/imap/index.json`` and ``<device>/imap/bodies/``)
holds, per folder, the UIDVALIDITY and per message the flags as this device
shows them, the flags as the server had them at the last sync ("synced"), and
a few header fields. Message bodies are files named by UIDVALIDITY and UID.
`IMAPMailbox.folders`, `IMAPMailbox.messages` and `IMAPMailbox.read` use only
the cache: they work with no network.

**The journal** (``<device>/imap/journal.json``) lists what the user did
offline, in order, as `Change` entries: ``+FLAGS (\\Seen)``, ``-FLAGS
(\\Flagged)``, "delete", "move to Archive". It records *changes*, not whole
flag states: "I set \\Flagged" and "the other device set \\Seen" are two
changes that can both be applied. (Sending "the flags are now (\\Flagged)"
would wipe the other device's \\Seen.) A new change to a flag replaces an
earlier pending change to the same flag of the same message: the last thing
the user asked for is what counts.

**Sync** (`IMAPMailbox.sync`) is one IMAP session in two halves:

1. *Replay* the journal, oldest change first: SELECT the folder, check that
   its UIDVALIDITY is the one the change was made under, ``UID FETCH uid
   (FLAGS)`` to see that the message is still there, then ``UID STORE uid
   +FLAGS (\\Seen)``; for a delete ``UID STORE uid +FLAGS.SILENT
   (\\Deleted)`` and ``UID EXPUNGE uid`` (UIDPLUS, RFC 4315); for a move
   ``UID MOVE uid folder`` (RFC 6851), or, on a server without MOVE, ``UID
   COPY`` + ``\\Deleted`` + ``UID EXPUNGE``. A change leaves the journal only
   after the server's OK: if the connection dies halfway, what was not
   confirmed stays in the journal and is replayed at the next sync (setting a
   flag twice does no harm).
2. *Pull* every folder that LIST shows: EXAMINE it (read-only: looking
   changes nothing), ``UID FETCH 1:* (FLAGS)``, then remove from the cache
   what the server no longer has (expunged or moved away by another device),
   take the server's flags for the rest, and download what is new with
   ``UID FETCH uid (BODY.PEEK[])``. PEEK matters: plain ``BODY[]`` would set
   \\Seen on the server (RFC 3501 section 6.4.5), and downloading is not
   reading.

**Pulling cheaply with CONDSTORE** (RFC 7162). ``UID FETCH 1:* (FLAGS)``
costs one response line per message in every folder at every sync, even
when nothing changed. A server that offers CONDSTORE numbers every change of
a folder (a new message, a flag, an expunge) with a growing *mod-sequence*
and says the highest one, HIGHESTMODSEQ, in its answer to EXAMINE. The cache
keeps, per folder, the HIGHESTMODSEQ of its last complete pull, so:

* HIGHESTMODSEQ unchanged (and UIDVALIDITY too): nothing at all changed in
  that folder, no flag, no expunge, no new mail. The pull of that folder is
  the EXAMINE alone.
* changed: ``UID FETCH 1:* (FLAGS) (CHANGEDSINCE n)`` answers only for the
  messages changed or added after n (RFC 7162 section 3.1.4.1), and ``UID
  SEARCH ALL``, one line of UIDs, shows what was expunged.

The HIGHESTMODSEQ kept is the one EXAMINE told, before the fetches: a change
that slips in between is fetched now *and* next time, never missed. It is
saved only when the folder's pull is complete, so a pull cut off halfway is
done again in full. Without CONDSTORE the pull is the plain one above.

**Conflicts.** Two devices that change the same message while apart meet at
the server; the rule is simple, and every case it settles is reported in
`SyncResult.conflicts`, in words:

* The same flag changed both ways on two devices: the device that syncs last
  wins (its change is applied last). A device notices when the server's value
  of a flag differs from the one it saw at its last sync *and* its own change
  reverses it. (If the first device's change left the server as it was, say
  "unread" on a message that was unread there, the second device cannot tell
  that anyone touched the flag; CONDSTORE's modification sequences, RFC 7162,
  could. The rule gives the same outcome either way.)
* An expunge wins over any flag change: a change to a message that is gone
  from the server is dropped, and reported.
* A move of a message that is gone from its folder (deleted, or moved by the
  other device) is dropped, and reported.

Changes to *different* flags never conflict: both survive, because each device
sends only what it changed. After both devices have synced (the first one
again, to pull what the second one sent), both caches equal the server.

Crash safety, as in the rest of the lab: the journal and the index are written
to a temporary file, fsynced, and renamed over the old one (``os.replace``), so
a crash leaves the old file or the new one, never half of one. An offline
change is written to the journal *before* the cache shows it; a message body
is on disk before the index names it.

What real clients add and this one leaves out for clarity: QRESYNC (RFC 7162
section 3.2), which also names the expunged messages so that even the UID
SEARCH is not needed, IDLE (RFC 2177) to hear of new mail at once, and
COPYUID to place a moved message in the cache without downloading it again.
"""
from __future__ import annotations

import email.parser
import email.policy
import imaplib
import json
import re
import shutil
import threading
import urllib.parse
from dataclasses import asdict, dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..durable import fsync_dir, write_atomically
from ..errors import LabError
from ..message import parse
from ..servers import IMAP
from ..store import INBOX
from ..trace import Connection

if TYPE_CHECKING:
    from ..clienthost import ClientHost

SEEN, ANSWERED, FLAGGED, DELETED, RECENT = "\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Recent"

# The kinds of `Change`.
ADD_FLAG, REMOVE_FLAG, DELETE, MOVE = "+FLAGS", "-FLAGS", "DELETE", "MOVE"


@dataclass(frozen=True)
class Change:
    """One thing the user did to a message while (possibly) offline: an entry of the journal.

    ``action`` is ``"+FLAGS"`` or ``"-FLAGS"`` (with ``flag``), ``"DELETE"``
    or ``"MOVE"`` (with ``to_folder``). The message is named as IMAP names
    it: ``folder``, ``uidvalidity`` and ``uid``. ``subject`` is only there to
    make reports readable.
    """

    action: str
    folder: str
    uid: int
    uidvalidity: int
    flag: str = ""
    to_folder: str = ""
    subject: str = ""

    def __str__(self) -> str:
        what = {ADD_FLAG: f"+FLAGS ({self.flag})", REMOVE_FLAG: f"-FLAGS ({self.flag})",
                DELETE: "delete", MOVE: f"move to {self.to_folder}"}[self.action]
        return f"{what}: {self.folder} UID {self.uid} {self.subject!r}"


@dataclass
class CachedMessage:
    """A message as this device's cache knows it: no network needed."""

    uid: int  # the server's UID, in ``folder``
    folder: str
    flags: frozenset[str]  # as this device shows them, offline changes included
    subject: str
    sender: str
    date: str
    size: int
    path: Path = field(repr=False, compare=False)  # the body's file in the cache

    def message(self) -> EmailMessage:
        """The whole message, parsed, read from the cache (this does not mark it \\Seen)."""
        return parse(self.path.read_bytes())


@dataclass
class SyncResult:
    """What one `IMAPMailbox.sync` did."""

    replayed: list[Change] = field(default_factory=list)  # journal entries the server confirmed
    downloaded: list[CachedMessage] = field(default_factory=list)  # new in the cache
    removed: list[CachedMessage] = field(default_factory=list)  # gone from the server, so from the cache
    flags_updated: list[CachedMessage] = field(default_factory=list)  # flags changed elsewhere; new state
    conflicts: list[str] = field(default_factory=list)  # what the conflict rule decided, in sentences
    connection: Connection | None = None  # the IMAP session in the lab's trace


class IMAPMailbox:
    """The IMAP mail of one device: a cache of the server's folders, a journal, and `sync`.

    Everything but `sync` works offline. Get it as ``device.imap``. What each
    change becomes when `sync` replays it::

        read(uid), mark_read(uid)    UID STORE uid +FLAGS (\\Seen)
        mark_unread(uid)             UID STORE uid -FLAGS (\\Seen)
        flag(uid), unflag(uid)       UID STORE uid +FLAGS (\\Flagged), -FLAGS (\\Flagged)
        mark_answered(uid)           UID STORE uid +FLAGS (\\Answered)
        delete(uid)                  UID STORE uid +FLAGS.SILENT (\\Deleted), UID EXPUNGE uid
        move(uid, to_folder)         UID MOVE uid to_folder
    """

    # New messages come down this many at a time: one UID FETCH and one write of the
    # index per batch, not one of each per message. (A smaller batch loses less
    # work when the connection drops; a test sets 1 to cut a download in half.)
    download_batch = 50

    def __init__(self, host: ClientHost) -> None:
        self.host = host
        self.path = host.path / "imap"
        self.path.mkdir(parents=True, exist_ok=True)
        self._index_path = self.path / "index.json"
        self._journal_path = self.path / "journal.json"
        self._bodies = self.path / "bodies"
        self._lock = threading.RLock()  # a notebook cell and a widget may both use the device
        # {"folders": {name: {"uidvalidity": n, "messages": {"<uid>": entry}}}}; entry as in `_entry_for`.
        self._index: dict[str, Any] = _load_json(self._index_path, {"folders": {}})
        self._journal: list[Change] = [Change(**c) for c in _load_json(self._journal_path, [])]

    def __repr__(self) -> str:
        return f"<IMAPMailbox of {self.host.name}: {len(self.folders())} folders, {len(self._journal)} pending>"

    # -- reading the cache (offline) ---------------------------------------------------

    @property
    def pending(self) -> list[Change]:
        """The journal: changes made on this device that the server has not confirmed yet, oldest first."""
        with self._lock:
            return list(self._journal)

    def folders(self) -> list[str]:
        """The folders the last sync found on the server (INBOX first); empty before the first sync."""
        with self._lock:
            names = list(self._index["folders"])
        return sorted(names, key=lambda name: (name.upper() != INBOX, name))

    def messages(self, folder: str = INBOX) -> list[CachedMessage]:
        """The cached messages of ``folder`` in UID order, with the flags this device shows."""
        with self._lock:
            state = self._index["folders"].get(folder)
            if state is None:
                if folder.upper() == INBOX:
                    return []  # every account has an INBOX (RFC 3501 section 5.1); not synced yet
                raise LabError(f"{self.host.name} has no folder {folder!r} in its cache "
                               f"(it has {self.folders()}; sync to learn the server's folders)")
            return [self._cached(folder, state, uid) for uid in sorted(map(int, state["messages"]))]

    def read(self, uid: int, folder: str = INBOX) -> EmailMessage:
        """Open a message: its content from the cache, and \\Seen set locally (sent to the server at the next sync)."""
        with self._lock:
            entry = self._entry(folder, uid)
            message = parse(self._body_path(folder, self._uidvalidity(folder), uid).read_bytes())
            if SEEN not in entry["flags"] and DELETED not in entry["flags"]:
                self._change_flag(folder, uid, SEEN, on=True)
            return message

    # -- changing (offline ok: each change goes into the journal) ------------------------------

    def mark_read(self, uid: int, folder: str = INBOX) -> None:
        self._change_flag(folder, uid, SEEN, on=True)

    def mark_unread(self, uid: int, folder: str = INBOX) -> None:
        self._change_flag(folder, uid, SEEN, on=False)

    def flag(self, uid: int, folder: str = INBOX) -> None:
        self._change_flag(folder, uid, FLAGGED, on=True)

    def unflag(self, uid: int, folder: str = INBOX) -> None:
        self._change_flag(folder, uid, FLAGGED, on=False)

    def mark_answered(self, uid: int, folder: str = INBOX) -> None:
        self._change_flag(folder, uid, ANSWERED, on=True)

    def delete(self, uid: int, folder: str = INBOX) -> None:
        """Delete a message: \\Deleted now, in the cache; expunged on the server at the next sync.

        IMAP deletes in two steps (RFC 3501 sections 2.3.2 and 6.4.3): the
        \\Deleted flag, then EXPUNGE. Until the next sync the message stays in
        `messages` with \\Deleted, and cannot be changed any more.
        """
        with self._lock:
            entry = self._entry(folder, uid)
            if DELETED in entry["flags"]:
                return
            self._record(Change(DELETE, folder, uid, self._uidvalidity(folder), subject=entry["subject"]))
            entry["flags"] = sorted(set(entry["flags"]) | {DELETED})
            self._save_index()

    def move(self, uid: int, to_folder: str, folder: str = INBOX) -> None:
        """Move a message to another folder: it leaves ``folder`` now and appears in ``to_folder`` after the next sync.

        Only the server can give the message its UID in the other folder
        (RFC 3501 section 2.3.1.1), so the cache shows it there once the
        sync has moved it and downloaded it again.
        """
        with self._lock:
            entry = self._entry(folder, uid)
            if DELETED in entry["flags"]:
                raise LabError(f"{folder} UID {uid} is deleted on {self.host.name}; it goes away at the next sync")
            if to_folder == folder or to_folder not in self._index["folders"]:
                raise LabError(f"cannot move to {to_folder!r}: the folders are {self.folders()}")
            self._record(Change(MOVE, folder, uid, self._uidvalidity(folder), to_folder=to_folder,
                                subject=entry["subject"]))
            del self._index["folders"][folder]["messages"][str(uid)]
            self._save_index()

    def _change_flag(self, folder: str, uid: int, flag: str, *, on: bool) -> None:
        with self._lock:
            entry = self._entry(folder, uid)
            if DELETED in entry["flags"]:
                raise LabError(f"{folder} UID {uid} is deleted on {self.host.name}; it goes away at the next sync")
            if (flag in entry["flags"]) == on:
                return  # nothing changes, so there is nothing to tell the server
            change = Change(ADD_FLAG if on else REMOVE_FLAG, folder, uid, self._uidvalidity(folder),
                            flag=flag, subject=entry["subject"])
            self._record(change)
            entry["flags"] = sorted(set(entry["flags"]) | {flag} if on else set(entry["flags"]) - {flag})
            self._save_index()

    def _record(self, change: Change) -> None:
        # The journal first: if the device crashes right after, the change is
        # still sent at the next sync, though the cache may not show it yet.
        if change.action in (ADD_FLAG, REMOVE_FLAG):
            self._journal = [c for c in self._journal if not _same_flag(c, change)]
        self._journal.append(change)
        self._save_journal()

    # -- sync ---------------------------------------------------------------------------

    def sync(self) -> SyncResult:
        """Replay the journal to the server, then pull every folder's news into the cache (one IMAP session).

        Needs the network. A failure (server unreachable, connection lost)
        raises `LabError`; changes the server had not confirmed stay in the
        journal for the next sync.
        """
        host = self.host
        if not host.online:
            raise LabError(f"{host.name} is offline: syncing needs a connection to the server; "
                           f"the {len(self._journal)} change(s) in the journal wait for the next sync")
        server = host.server
        endpoint = server.endpoints.get(IMAP)
        if endpoint is None:
            raise LabError(f"{server.hostname} has no IMAP endpoint")
        with self._lock:
            try:
                client = host.lab.imap(host.name, endpoint)
            except (imaplib.IMAP4.error, OSError) as e:
                raise LabError(f"{host.name} cannot reach {server.hostname}'s IMAP port: {_reason(e)}; "
                               f"the {len(self._journal)} change(s) in the journal wait for the next sync") from e
            result = SyncResult(connection=host._connection_of(client.local_address,
                                                               getattr(endpoint, "protocol", "IMAP")))
            try:
                client.login(host.address, host.password)
                capabilities = _capabilities(client)
                self._replay(client, capabilities, result)
                self._pull(client, capabilities, result)
                client.logout()
            except (imaplib.IMAP4.error, OSError) as e:
                try:
                    client.shutdown()
                except OSError:
                    pass
                dropped = f"; dropped as conflicts: {' '.join(result.conflicts)}" if result.conflicts else ""
                raise LabError(f"the IMAP session of {host.name} with {server.hostname} failed ({_reason(e)}): "
                               f"{len(result.replayed)} change(s) reached the server, {len(self._journal)} "
                               f"stay in the journal for the next sync{dropped}") from e
            return result

    # -- sync, part 1: replay the journal -------------------------------------------------

    def _replay(self, client: imaplib.IMAP4, capabilities: set[str], result: SyncResult) -> None:
        selected: str | None = None
        uidvalidity = 0
        while self._journal:
            change = self._journal[0]  # the journal is a queue: its head leaves it once settled
            if change.folder != selected:
                typ, data = client.select(_quote(change.folder))
                if typ != "OK":
                    selected = None
                    self._drop(change, result, f"the folder {change.folder} cannot be opened on the server "
                                               f"any more ({_text(data)})")
                    continue
                selected, uidvalidity = change.folder, _server_uidvalidity(client)
            if change.uidvalidity != uidvalidity:
                self._drop(change, result, f"{change.folder} was rebuilt on the server (its UIDVALIDITY "
                                           f"changed), so UID {change.uid} no longer names that message")
                continue
            server_flags = _fetch_flags(client, str(change.uid)).get(change.uid)
            if server_flags is None:
                self._drop(change, result, f"the message is no longer in {change.folder} on the server "
                                           f"(another device deleted or moved it)")
                continue
            if change.action in (ADD_FLAG, REMOVE_FLAG):
                self._replay_flag(client, change, server_flags, result)
            elif change.action == DELETE:
                self._replay_delete(client, capabilities, change, result)
            else:
                self._replay_move(client, capabilities, change, result)

    def _replay_flag(self, client: imaplib.IMAP4, change: Change, server_flags: frozenset[str],
                     result: SyncResult) -> None:
        conflict = self._flag_conflict(change, server_flags)
        typ, data = client.uid("STORE", str(change.uid), change.action, f"({change.flag})")
        # RFC 3501 section 6.4.6: without .SILENT the server answers with the
        # message's new flags, which is how we know the message was still there.
        if typ != "OK" or change.uid not in _parse_flags(data):
            self._drop(change, result, f"the server did not apply {change} ({_text(data)})")
            return
        if conflict:
            result.conflicts.append(conflict)
        self._confirmed(change, result)

    def _flag_conflict(self, change: Change, server_flags: frozenset[str]) -> str | None:
        """A sentence if another device changed the same flag the other way since our last sync."""
        entry = self._index["folders"].get(change.folder, {}).get("messages", {}).get(str(change.uid))
        if entry is None:
            return None  # moved on this device since; we no longer know what we saw
        on_server, seen_before = change.flag in server_flags, change.flag in entry["synced"]
        wanted = change.action == ADD_FLAG
        if on_server == seen_before or wanted == on_server:
            return None  # nobody else touched it, or both devices want the same
        name = self.host.name
        return (f"{name}: {change} won over another device: that device {'set' if on_server else 'cleared'} "
                f"{change.flag} since {name} last synced; {name} syncs last, so {change.flag} is now "
                f"{'set' if wanted else 'cleared'}.")

    def _replay_delete(self, client: imaplib.IMAP4, capabilities: set[str], change: Change,
                       result: SyncResult) -> None:
        typ, data = client.uid("STORE", str(change.uid), "+FLAGS.SILENT", f"({DELETED})")
        if typ == "OK":
            typ, data = _expunge(client, capabilities, change.uid)
        if typ != "OK":
            self._drop(change, result, f"the server refused to delete it ({_text(data)})")
            return
        self._confirmed(change, result)

    def _replay_move(self, client: imaplib.IMAP4, capabilities: set[str], change: Change,
                     result: SyncResult) -> None:
        uid, target = str(change.uid), _quote(change.to_folder)
        if "MOVE" in capabilities:
            typ, data = client.uid("MOVE", uid, target)  # RFC 6851: copy and expunge in one step
        else:
            typ, data = client.uid("COPY", uid, target)
            if typ == "OK":
                typ, data = client.uid("STORE", uid, "+FLAGS.SILENT", f"({DELETED})")
            if typ == "OK":
                typ, data = _expunge(client, capabilities, change.uid)
        if typ != "OK":
            self._drop(change, result, f"the server refused the move ({_text(data)}); the message stays "
                                       f"in {change.folder}")
            return
        self._confirmed(change, result)

    def _confirmed(self, change: Change, result: SyncResult) -> None:
        """The server has done ``change``: it leaves the journal, then the cache records what the server has."""
        self._journal.pop(0)
        self._save_journal()
        result.replayed.append(change)
        messages = self._index["folders"].get(change.folder, {}).get("messages", {})
        entry = messages.get(str(change.uid))
        if entry is None:
            return
        if change.action == DELETE:
            del messages[str(change.uid)]
        elif change.action in (ADD_FLAG, REMOVE_FLAG):
            # Only this flag: what we saw of the others stays the base for their conflicts.
            synced = set(entry["synced"])
            entry["synced"] = sorted(synced | {change.flag} if change.action == ADD_FLAG else synced - {change.flag})
        self._save_index()

    def _drop(self, change: Change, result: SyncResult, why: str) -> None:
        """The conflict rule says the change cannot be applied: report it and remove it from the journal."""
        result.conflicts.append(f"{self.host.name}: {change} was dropped: {why}.")
        self._journal.pop(0)
        self._save_journal()

    # -- sync, part 2: pull what changed on the server ------------------------------------

    def _pull(self, client: imaplib.IMAP4, capabilities: set[str], result: SyncResult) -> None:
        condstore = "CONDSTORE" in capabilities
        listed = _list_folders(client)
        folders = self._index["folders"]
        for name in [n for n in folders if n not in listed]:  # deleted on the server
            result.removed += self._forget_folder(name)
        for name in listed:
            typ, data = client.select(_quote(name), readonly=True)  # EXAMINE: looking changes nothing
            if typ != "OK":
                continue  # listed but not openable now: keep what the cache has
            exists, uidvalidity = int(data[0] or 0), _server_uidvalidity(client)
            if name in folders and folders[name]["uidvalidity"] != uidvalidity:
                # RFC 3501 section 2.3.1.1: the UIDs we hold name nothing any more. Start again.
                result.removed += self._forget_folder(name)
            if name not in folders:
                folders[name] = {"uidvalidity": uidvalidity, "messages": {}}
            highest = _server_highestmodseq(client) if condstore else None
            known = folders[name].get("highestmodseq")
            if highest is not None and highest == known:
                continue  # RFC 7162: every change raises HIGHESTMODSEQ, so nothing changed here
            self._pull_folder(client, name, exists, result, changed_since=known if highest is not None else None)
            if highest is not None:  # the pull is complete: next time, only what changes after this
                folders[name]["highestmodseq"] = highest
                self._save_index()

    def _pull_folder(self, client: imaplib.IMAP4, name: str, exists: int, result: SyncResult,
                     changed_since: int | None = None) -> None:
        state = self._index["folders"][name]
        cached = state["messages"]
        if not exists:
            # "1:*" on an empty folder has no messages to name; some servers answer BAD.
            on_server, everything = {}, set()
        elif changed_since is None:
            on_server = _fetch_flags(client, "1:*")
            everything = set(on_server)
        else:
            # CONDSTORE: the flags of what changed (or came) after changed_since, and every UID.
            on_server = _fetch_flags(client, "1:*", changed_since)
            everything = _search_all(client)
            missing = everything - set(on_server) - set(map(int, cached))
            if missing:  # not in the cache, yet not changed: a download cut off at an earlier sync
                on_server.update(_fetch_flags(client, ",".join(map(str, sorted(missing)))))
        for uid in [u for u in map(int, cached) if u not in everything]:
            result.removed.append(self._cached(name, state, uid))
            del cached[str(uid)]
        new = [uid for uid in sorted(on_server) if str(uid) not in cached]
        for start in range(0, len(new), self.download_batch):
            batch = new[start:start + self.download_batch]
            bodies = _fetch_bodies(client, batch)  # a message missing here was expunged a moment ago
            for uid in batch:
                if uid in bodies:
                    path = self._body_path(name, state["uidvalidity"], uid)
                    path.parent.mkdir(parents=True, exist_ok=True)
                    write_atomically(path, bodies[uid])
            if bodies:
                fsync_dir(self._bodies / _dirname(name))
            for uid in batch:
                if uid in bodies:
                    cached[str(uid)] = _entry_for(bodies[uid], on_server[uid])
                    result.downloaded.append(self._cached(name, state, uid))
            self._save_index()  # the bodies first, then the index that names them, as fetch_pop3 does
        for uid, flags in sorted(on_server.items()):
            entry = cached.get(str(uid))
            if entry is None or uid in new:
                continue
            if set(entry["flags"]) != flags or set(entry["synced"]) != flags:
                changed = set(entry["flags"]) != flags
                entry["flags"] = entry["synced"] = sorted(flags)
                if changed:
                    result.flags_updated.append(self._cached(name, state, uid))
        self._save_index()
        keep = {self._body_path(name, state["uidvalidity"], int(uid)).name for uid in cached}
        folder_dir = self._bodies / _dirname(name)
        for path in folder_dir.iterdir() if folder_dir.is_dir() else ():
            if path.name not in keep:  # removed, moved away, or left by a crash
                path.unlink()

    def _forget_folder(self, name: str) -> list[CachedMessage]:
        state = self._index["folders"].pop(name)
        gone = [self._cached(name, state, int(uid)) for uid in state["messages"]]
        self._save_index()
        shutil.rmtree(self._bodies / _dirname(name), ignore_errors=True)
        return gone

    # -- the cache on disk ---------------------------------------------------------------

    def _entry(self, folder: str, uid: int) -> dict[str, Any]:
        entry = self._index["folders"].get(folder, {}).get("messages", {}).get(str(uid))
        if entry is None:
            raise LabError(f"{self.host.name} has no message with UID {uid} in {folder!r} in its cache")
        return entry

    def _uidvalidity(self, folder: str) -> int:
        return self._index["folders"][folder]["uidvalidity"]

    def _body_path(self, folder: str, uidvalidity: int, uid: int) -> Path:
        return self._bodies / _dirname(folder) / f"{uidvalidity}.{uid}.eml"

    def _cached(self, folder: str, state: dict[str, Any], uid: int) -> CachedMessage:
        entry = state["messages"][str(uid)]
        return CachedMessage(uid, folder, frozenset(entry["flags"]), entry["subject"], entry["sender"],
                             entry["date"], entry["size"], self._body_path(folder, state["uidvalidity"], uid))

    def _save_index(self) -> None:
        _write(self._index_path, json.dumps(self._index, indent=1).encode())

    def _save_journal(self) -> None:
        _write(self._journal_path, json.dumps([asdict(c) for c in self._journal], indent=1).encode())


# -- helpers: files ----------------------------------------------------------------------



def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, data, sync_dir=True)  # the rename is on disk too: the journal is the user's work


def _load_json(path: Path, default: Any) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return default


def _dirname(folder: str) -> str:
    # A folder name may hold "/" or "." (hierarchy delimiters); on disk it is one safe name.
    return urllib.parse.quote(folder, safe="")


def _entry_for(raw: bytes, flags: frozenset[str]) -> dict[str, Any]:
    headers = email.parser.BytesHeaderParser(policy=email.policy.default).parsebytes(raw)
    return {"flags": sorted(flags), "synced": sorted(flags), "subject": str(headers["Subject"] or ""),
            "sender": str(headers["From"] or ""), "date": str(headers["Date"] or ""), "size": len(raw)}


def _same_flag(a: Change, b: Change) -> bool:
    return (a.action in (ADD_FLAG, REMOVE_FLAG) and b.action in (ADD_FLAG, REMOVE_FLAG) and a.flag == b.flag
            and (a.folder, a.uidvalidity, a.uid) == (b.folder, b.uidvalidity, b.uid))


# -- helpers: the IMAP conversation (imaplib returns raw response lines) ---------------------

def _quote(name: str) -> str:
    """A mailbox name as an IMAP quoted string (RFC 3501 section 4.3); imaplib sends arguments as given."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _capabilities(client: imaplib.IMAP4) -> set[str]:
    # Asked again after LOGIN: a server may offer more to a logged-in user (RFC 3501 section 6.2.3).
    _, data = client.capability()
    return {word.upper() for line in data if line for word in line.decode("ascii", "replace").split()}


def _server_highestmodseq(client: imaplib.IMAP4) -> int | None:
    # CONDSTORE: "* OK [HIGHESTMODSEQ n]" with every SELECT and EXAMINE (RFC 7162 section 3.1.2.1).
    _, data = client.response("HIGHESTMODSEQ")
    try:
        return int(data[-1]) if data and data[-1] is not None else None
    except ValueError:
        return None


def _server_uidvalidity(client: imaplib.IMAP4) -> int:
    # SELECT and EXAMINE must answer "* OK [UIDVALIDITY n]" (RFC 3501 section 6.3.1).
    _, data = client.response("UIDVALIDITY")
    if not data or data[-1] is None:
        raise imaplib.IMAP4.error("the server sent no UIDVALIDITY for the folder")
    return int(data[-1])


_UID = re.compile(rb"\bUID (\d+)")
_FLAGS = re.compile(rb"\bFLAGS \(([^)]*)\)")


def _parse_flags(data: list[Any]) -> dict[int, frozenset[str]]:
    """UID -> flags, from FETCH responses such as ``b'3 (UID 7 FLAGS (\\Seen))'``.

    \\Recent is left out: it belongs to one session, not to the message (RFC 3501 section 2.3.2).
    """
    found = {}
    for item in data:
        line = item[0] if isinstance(item, tuple) else item
        if not isinstance(line, bytes):
            continue
        uid, flags = _UID.search(line), _FLAGS.search(line)
        if uid and flags:
            names = flags.group(1).decode("utf-8", "replace").split()
            found[int(uid.group(1))] = frozenset(f for f in names if f != RECENT)
    return found


def _fetch_flags(client: imaplib.IMAP4, uids: str, changed_since: int | None = None) -> dict[int, frozenset[str]]:
    """UID -> flags of the messages ``uids`` names; with ``changed_since``, only those changed after it (CONDSTORE)."""
    if changed_since is None:
        typ, data = client.uid("FETCH", uids, "(FLAGS)")
    else:
        typ, data = client.uid("FETCH", uids, "(FLAGS)", f"(CHANGEDSINCE {changed_since})")  # RFC 7162 3.1.4.1
    if typ != "OK":
        raise imaplib.IMAP4.error(f"UID FETCH {uids} (FLAGS) failed: {_text(data)}")
    return _parse_flags(data)


def _search_all(client: imaplib.IMAP4) -> set[int]:
    """Every UID of the selected folder: one line, however many messages (RFC 3501 section 6.4.8)."""
    typ, data = client.uid("SEARCH", "ALL")
    if typ != "OK":
        raise imaplib.IMAP4.error(f"UID SEARCH ALL failed: {_text(data)}")
    return {int(word) for line in data if line for word in line.split() if word.isdigit()}


def _fetch_bodies(client: imaplib.IMAP4, uids: list[int]) -> dict[int, bytes]:
    """UID -> message, for a batch of messages in one ``UID FETCH``: one round trip, not one each.

    BODY.PEEK[]: the whole message without setting \\Seen (RFC 3501 section
    6.4.5). A UID FETCH response always carries the UID (section 6.4.8),
    which is how each literal is matched to its message.
    """
    _, data = client.uid("FETCH", ",".join(map(str, uids)), "(BODY.PEEK[])")
    bodies = {}
    for item in data:
        if isinstance(item, tuple) and b"BODY[]" in item[0].upper():
            found = _UID.search(item[0])
            if found:
                bodies[int(found.group(1))] = item[1]
    return bodies


def _expunge(client: imaplib.IMAP4, capabilities: set[str], uid: int) -> tuple[str, list[Any]]:
    if "UIDPLUS" in capabilities:
        return client.uid("EXPUNGE", str(uid))  # RFC 4315 section 2.1: only this message
    # Plain EXPUNGE removes every \Deleted message of the folder, also those
    # another client marked and meant to keep a while: UIDPLUS exists for this.
    return client.expunge()


_LIST = re.compile(rb'^\((?P<attributes>[^)]*)\) (?P<delimiter>"(?:[^"\\]|\\.)*"|NIL) (?P<name>.*)$')


def _list_folders(client: imaplib.IMAP4) -> list[str]:
    """The selectable folders, from ``LIST "" *`` (RFC 3501 section 6.3.8)."""
    typ, data = client.list()
    if typ != "OK":
        raise imaplib.IMAP4.error(f"LIST failed: {_text(data)}")
    names = []
    for item in data:
        line, literal = (item[0], item[1]) if isinstance(item, tuple) else (item, None)
        match = _LIST.match(line or b"")
        if match is None:
            continue
        attributes = match.group("attributes").lower().split()
        if b"\\noselect" in attributes or b"\\nonexistent" in attributes:
            continue
        name = literal if literal is not None else match.group("name")
        if literal is None and name.startswith(b'"'):
            name = re.sub(rb"\\(.)", rb"\1", name[1:-1])
        names.append(name.decode("utf-8", "replace"))
    return names


def _text(data: list[Any]) -> str:
    return " ".join(d.decode("utf-8", "replace") if isinstance(d, bytes) else str(d) for d in data if d)


def _reason(error: Exception) -> str:
    first = error.args[0] if error.args else ""
    return first.decode("utf-8", "replace") if isinstance(first, bytes) else str(error) or type(error).__name__
