"""The mail store: accounts -> folders -> messages, kept on disk as Maildir.

One `MailStore` belongs to one mail server. SMTP delivery writes into it, and
every way of reading mail (direct server access now; POP3, IMAP and webmail
later) reads the same files, so a change made through one protocol is seen
through all of them.

Layout on disk (Maildir, readable by mutt and other real tools)::

    <root>/<account>/                 the INBOX, a Maildir: tmp/ new/ cur/
    <root>/<account>/.<Folder>/       other folders (Maildir++ naming)
    <folder>/mailcourse-uidlist       what IMAP needs and Maildir lacks

Maildir keeps each message in its own file and delivers with the
"write to tmp/, fsync, rename into new/" dance (see the maildir(5) manual
page and D. J. Bernstein's description of the format), so a message that the
server has acknowledged survives a crash of the process.

Flags live in the file name (``:2,FRS``), as every Maildir reader expects. The
internal date (RFC 3501 section 2.3.3) is the file's modification time.
UIDs (RFC 3501 section 2.3.1.1) are kept in the ``mailcourse-uidlist`` file:
a first line ``V<uidvalidity> N<uidnext>`` and then one ``<uid> <unique-name>``
line per message, appended and fsynced on delivery. A file that is in the
Maildir but missing from that list (dropped there by another program, or
delivered just before a crash) gets the next UID when the folder is opened.
"""
from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

INBOX = "INBOX"

# Maildir info letters and the IMAP system flags they stand for (maildir(5)).
_FLAG_LETTERS = {
    "D": "\\Draft",
    "F": "\\Flagged",
    "R": "\\Answered",
    "S": "\\Seen",
    "T": "\\Deleted",
}
_LETTER_FOR_FLAG = {flag: letter for letter, flag in _FLAG_LETTERS.items()}

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+@-]{0,127}\Z")  # \Z: "$" would allow a final newline


class StoreError(Exception):
    """A request the store cannot honour (unknown account, folder or UID)."""


@dataclass
class MessageInfo:
    """What the store knows about one message without reading it."""

    uid: int
    name: str  # Maildir unique name, without the ":2,..." info part
    flags: frozenset[str]
    internaldate: float  # seconds since the epoch
    size: int
    path: Path = field(repr=False)


def check_name(kind: str, name: str) -> str:
    """Refuse names that could leave the store's folder (``..``, ``/``, ...).

    Account and folder names reach the store from clients (a login, an IMAP
    folder name), so they are checked here, once, for every caller.
    """
    if not _SAFE_NAME.match(name) or ".." in name:
        raise StoreError(f"invalid {kind} name: {name!r}")
    return name


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _Folder:
    """One Maildir folder with its UID list, loaded into memory."""

    def __init__(self, path: Path, uidvalidity: int) -> None:
        self.path = path
        for sub in ("tmp", "new", "cur"):
            (path / sub).mkdir(parents=True, exist_ok=True)
        self.uidlist = path / "mailcourse-uidlist"
        self.messages: dict[int, MessageInfo] = {}
        self._load(uidvalidity)

    def _load(self, uidvalidity: int) -> None:
        uid_of: dict[str, int] = {}
        self.uidvalidity, self.uidnext = uidvalidity, 1
        if self.uidlist.exists():
            lines = self.uidlist.read_text().splitlines()
            head = lines[0].split() if lines else []
            if len(head) == 2:
                self.uidvalidity, self.uidnext = int(head[0][1:]), int(head[1][1:])
            for line in lines[1:]:
                uid, _, name = line.partition(" ")
                if uid.isdigit() and name:  # a torn last line is skipped
                    uid_of[name] = int(uid)
                    self.uidnext = max(self.uidnext, int(uid) + 1)
        found: list[tuple[float, str, Path, str]] = []
        for sub in ("new", "cur"):
            for entry in os.scandir(self.path / sub):
                name, _, info = entry.name.partition(":2,")
                st = entry.stat()
                found.append((st.st_mtime, name, Path(entry.path), info))
        rewrite = not self.uidlist.exists()
        for mtime, name, path, info in sorted(found):
            uid = uid_of.get(name)
            if uid is None:  # a message the list does not know yet
                uid, self.uidnext, rewrite = self.uidnext, self.uidnext + 1, True
            flags = frozenset(_FLAG_LETTERS[c] for c in info if c in _FLAG_LETTERS)
            self.messages[uid] = MessageInfo(uid, name, flags, mtime, path.stat().st_size, path)
        if rewrite or len(uid_of) != len(self.messages):
            self._rewrite_uidlist()

    def _rewrite_uidlist(self) -> None:
        tmp = self.uidlist.with_suffix(".tmp")
        lines = [f"V{self.uidvalidity} N{self.uidnext}"]
        lines += [f"{uid} {m.name}" for uid, m in sorted(self.messages.items())]
        with open(tmp, "w") as f:
            f.write("\n".join(lines) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.uidlist)

    def add(self, raw: bytes, name: str, flags: frozenset[str], internaldate: float) -> int:
        tmp = self.path / "tmp" / name
        with open(tmp, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.utime(tmp, (internaldate, internaldate))
        # New mail that nobody has seen goes to new/; mail with flags to cur/.
        final = self._path_for(name, flags, "cur" if flags else "new")
        os.rename(tmp, final)
        _fsync_dir(final.parent)
        uid = self.uidnext
        self.uidnext += 1
        self.messages[uid] = MessageInfo(uid, name, flags, internaldate, len(raw), final)
        # No fsync here: the message file is safe already, and a line lost in a
        # crash is rebuilt when the folder is opened (see `_load`).
        with open(self.uidlist, "a") as f:
            f.write(f"{uid} {name}\n")
        return uid

    def _path_for(self, name: str, flags: frozenset[str], sub: str = "cur") -> Path:
        letters = "".join(sorted(_LETTER_FOR_FLAG[f] for f in flags if f in _LETTER_FOR_FLAG))
        return self.path / sub / (f"{name}:2,{letters}" if sub == "cur" else name)

    def set_flags(self, uid: int, flags: frozenset[str]) -> None:
        info = self.messages[uid]
        target = self._path_for(info.name, flags)
        if target != info.path:
            os.rename(info.path, target)
        info.path, info.flags = target, flags

    def remove(self, uid: int) -> None:
        info = self.messages.pop(uid)
        info.path.unlink(missing_ok=True)
        self._rewrite_uidlist()


class MailStore:
    """All mailboxes of one mail server, on disk under ``root``.

    Thread-safe: one lock guards the in-memory index; the servers on the lab's
    loop and the notebook's cells call it from different threads.
    """

    def __init__(self, root: str | os.PathLike[str], hostname: str = "mailcourse") -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.hostname = hostname
        self._lock = threading.RLock()
        self._folders: dict[tuple[str, str], _Folder] = {}
        self._counter = 0
        self._listeners: list = []

    # -- accounts and folders ------------------------------------------------

    def create_account(self, account: str) -> None:
        with self._lock:
            self._folder(check_name("account", account), INBOX, create=True)

    def accounts(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if (p / "cur").is_dir())

    def has_account(self, account: str) -> bool:
        return (self.root / account / "cur").is_dir() if _SAFE_NAME.match(account) else False

    def folders(self, account: str) -> list[str]:
        base = self._account_path(account)
        subs = sorted(p.name[1:] for p in base.iterdir() if p.name.startswith(".") and (p / "cur").is_dir())
        return [INBOX] + subs

    def create_folder(self, account: str, folder: str) -> None:
        with self._lock:
            self._folder(account, folder, create=True)

    def _account_path(self, account: str) -> Path:
        path = self.root / check_name("account", account)
        if not (path / "cur").is_dir():
            raise StoreError(f"no such account: {account!r}")
        return path

    def _folder(self, account: str, folder: str, create: bool = False) -> _Folder:
        key = (account, folder)
        found = self._folders.get(key)
        if found is not None:
            return found
        base = self.root / check_name("account", account)
        path = base if folder.upper() == INBOX else base / ("." + check_name("folder", folder))
        if not create and not (path / "cur").is_dir():
            raise StoreError(f"no such folder: {account}/{folder}")
        # UIDVALIDITY must change if a folder is ever recreated: the clock does that.
        self._folders[key] = _Folder(path, uidvalidity=int(time.time()))
        return self._folders[key]

    # -- messages ------------------------------------------------------------

    def deliver(
        self,
        account: str,
        raw: bytes,
        folder: str = INBOX,
        flags: frozenset[str] | set[str] = frozenset(),
        internaldate: float | None = None,
    ) -> int:
        """Store one message durably and return its UID.

        When this returns, the bytes and the directory entry are on disk
        (fsync), which is what lets SMTP answer 250 to DATA (RFC 5321
        section 4.1.1.4: the server takes on responsibility for the message).
        """
        with self._lock:
            box = self._folder(account, folder)
            self._counter += 1
            name = f"{time.time_ns()}.M{self._counter}P{os.getpid()}.{self.hostname}"
            uid = box.add(raw, name, frozenset(flags), internaldate or time.time())
        self._notify(account, folder)
        return uid

    def list(self, account: str, folder: str = INBOX) -> list[MessageInfo]:
        """The folder's messages in UID order."""
        with self._lock:
            box = self._folder(account, folder)
            return [box.messages[uid] for uid in sorted(box.messages)]

    def get(self, account: str, uid: int, folder: str = INBOX) -> bytes:
        with self._lock:
            info = self._info(account, folder, uid)
            return info.path.read_bytes()

    def set_flags(self, account: str, uid: int, flags: set[str] | frozenset[str], folder: str = INBOX) -> None:
        with self._lock:
            self._info(account, folder, uid)
            self._folder(account, folder).set_flags(uid, frozenset(flags))
        self._notify(account, folder)

    def delete(self, account: str, uid: int, folder: str = INBOX) -> None:
        """Remove a message for good (what POP3's UPDATE and IMAP's EXPUNGE do)."""
        with self._lock:
            self._info(account, folder, uid)
            self._folder(account, folder).remove(uid)
        self._notify(account, folder)

    def uidvalidity(self, account: str, folder: str = INBOX) -> int:
        with self._lock:
            return self._folder(account, folder).uidvalidity

    def uidnext(self, account: str, folder: str = INBOX) -> int:
        with self._lock:
            return self._folder(account, folder).uidnext

    def _info(self, account: str, folder: str, uid: int) -> MessageInfo:
        try:
            return self._folder(account, folder).messages[uid]
        except KeyError:
            raise StoreError(f"no message with UID {uid} in {account}/{folder}") from None

    # -- change notification (IMAP IDLE, widgets) ----------------------------

    def subscribe(self, callback) -> None:
        """Call ``callback(account, folder)`` after every change."""
        self._listeners.append(callback)

    def _notify(self, account: str, folder: str) -> None:
        for callback in list(self._listeners):
            callback(account, folder)
