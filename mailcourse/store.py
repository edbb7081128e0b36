"""The mail store: accounts -> folders -> messages, kept on disk as Maildir.

One `MailStore` belongs to one mail server. SMTP delivery writes into it, and
every way of reading mail (direct server access now; POP3, IMAP and webmail
later) reads the same files, so a change made through one protocol is seen
through all of them.

Layout on disk (Maildir, readable by mutt and other real tools)::

    <root>/<account>/                 the INBOX, a Maildir: tmp/ new/ cur/
    <root>/<account>/.<Folder>/       other folders (Maildir++ naming)
    <root>/<account>/.<Folder>.<Sub>/ a folder inside another: "." separates the levels
    <folder>/mailcourse-uidlist       what IMAP needs and Maildir lacks
    <folder>/mailcourse-keywords      IMAP keywords ($Forwarded, Junk...) and their letters
    <root>/<account>/subscriptions    the folders IMAP's SUBSCRIBE named, one a line

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
UIDNEXT is kept in that first line, so a UID is never given twice, not even
after the message with the highest UID was expunged and the lab restarted.

Modification sequences (CONDSTORE, RFC 7162 section 3.1)
---------------------------------------------------------
Every change to a folder (a delivery, a flag or keyword change, an expunge)
takes the next number of the folder's counter, its *mod-sequence*; a message
remembers the number of its last change (`MessageInfo.modseq`), the folder
the highest number it has used (HIGHESTMODSEQ). A client that remembers
HIGHESTMODSEQ asks "what changed since n?" instead of "tell me everything".
That only works if the counter never goes backwards for one UIDVALIDITY,
not even after a restart or a crash that lost the last write.

How it is kept on disk, and why:

* each uidlist line carries the message's mod-sequence and the file's name
  with its flags as they were at that mod-sequence:
  ``<uid> M<modseq> <name>:2,<flags>`` (a plain ``<uid> <name>`` line from
  an older store is still read). A flag change *appends* such a line (no
  fsync, like a delivery); the last line of a UID wins. The file is
  rewritten, compacted, at an expunge or when the log has grown to twice
  the folder's size: appending keeps a flag change cheap.
* the first line holds a *reservation*, ``M<ceiling>``: no mod-sequence
  above it has ever been handed out. When the counter reaches the ceiling,
  the next block of `MODSEQ_BLOCK` numbers is reserved by rewriting the file
  (fsynced, rename included) *before* the first of them is used. So a lost
  append costs nothing: a reopened folder starts its counter at the
  ceiling, above anything it could have handed out, and every message whose
  file no longer matches its last line (flags changed by mutt, or by this
  store just before a crash) gets a fresh number above it. The price is a
  jump of up to one block at each restart, and one durable rewrite per block
  of changes: delivery, on the SMTP hot path, stays one append.

(A clock-based counter, e.g. microseconds since the epoch, would need no
reservation, but a clock set back breaks it, and the numbers are long to
read in a transcript.)

Folder names and the hierarchy (RFC 3501 sections 5.1 and 6.3.8)
------------------------------------------------------------------
Maildir++ puts every folder in one directory level and writes the hierarchy
into the name: ``.Archive.2024`` is folder "2024" inside "Archive". This store
uses that same "." as the IMAP hierarchy delimiter, so the name a client sees
is the name on disk minus the leading dot (the Courier IMAP convention). The
alternative, Dovecot's "/" shown to clients and mapped to "." on disk, would
forbid "." in names or need an escape; one delimiter everywhere is simpler to
read in a transcript and on disk.

Every other printable character is a valid name character for IMAP (RFC 3501
section 5.1; RFC 9051 section 5.1 even says the wildcards "%" and "*" are
valid, if awkward in LIST), and Dovecot accepts ``foo\\bar``, so this store
does too. What a file system cannot hold, or holds differently on another
system, is written as ``%XX`` (its hex code) in the directory's name:
"/" (the path separator, which would leave the account's directory), "\\"
(Windows' one), ``: * ? " < > |`` and "%" itself, so the encoding can be
undone. ``foo\\bar`` is kept in ``.foo%5Cbar``. `check_folder` still refuses
"..", a leading or trailing "." (an empty level), control characters and
names longer than 127 characters, for every caller; with "/" encoded, no name
can reach a directory other than ``<account>/.<name>``. Names arrive from
clients in modified UTF-7 (RFC 3501 section 5.1.3: "&" starts an encoded
run), which is printable ASCII, spaces included.

Keywords (RFC 3501 section 2.3.2) go in the file name too, as lower-case
letters after the system flag letters; ``mailcourse-keywords`` says which
letter stands for which keyword (``0 $Forwarded`` is letter "a"), as Dovecot's
``dovecot-keywords`` does. So 26 keywords per folder at most.

Special-use folders (RFC 6154): `create_special_use_folders` makes Sent,
Drafts and Trash for an account (the IMAP server calls it at login) and
subscribes to them.
"""
from __future__ import annotations

import os
import re
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .durable import fsync_dir, write_atomically

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

# Account names: letters and digits, then also ". _ + @ -". Letters outside ASCII too
# (str patterns match Unicode): a UTF-8 mailbox such as zoë@ (RFC 6531) has a folder.
_SAFE_NAME = re.compile(r"^[^\W_][\w.+@-]{0,127}\Z")  # \Z: "$" would allow a final newline
# Folder names: printable ASCII (modified UTF-7 is ASCII), spaces, "&" and ","
# included, at most 127 characters. The characters some file system cannot
# hold in a name are written %XX on disk (see "Folder names" above).
_FOLDER_NAME = re.compile(r"^[ -~]{1,127}\Z")  # printable ASCII, the space included
_ESCAPED_ON_DISK = frozenset('%/\\:*?"<>|')

DELIMITER = "."  # the IMAP hierarchy delimiter, the Maildir++ one (see the module docstring)

# RFC 6154: the folders every account gets, and the attribute LIST shows for each.
SPECIAL_USE = {"Drafts": "\\Drafts", "Sent": "\\Sent", "Trash": "\\Trash"}

_KEYWORD_LETTERS = "abcdefghijklmnopqrstuvwxyz"  # Dovecot's: keyword 0 is "a"

# How many mod-sequences one durable rewrite of the uidlist reserves (see the module docstring).
MODSEQ_BLOCK = 100


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
    modseq: int = 0  # the mod-sequence of the message's last change (RFC 7162 section 3.1)


def check_name(kind: str, name: str) -> str:
    """Refuse names that could leave the store's folder (``..``, ``/``, ...).

    Account and folder names reach the store from clients (a login, an IMAP
    folder name), so they are checked here, once, for every caller.
    """
    if not _SAFE_NAME.match(name) or ".." in name:
        raise StoreError(f"invalid {kind} name: {name!r}")
    return name


def check_folder(name: str) -> str:
    """A folder name a client may use, or `StoreError` (see "Folder names" above).

    "." separates levels, so a name may not start or end with one nor have
    two in a row (an empty level); with "/" refused, no name can reach a
    directory other than ``<account>/.<name>``.
    """
    if (not _FOLDER_NAME.match(name) or ".." in name
            or name.startswith(DELIMITER) or name.endswith(DELIMITER)):
        raise StoreError(f"invalid folder name: {name!r}")
    return name


def folder_directory(name: str) -> str:
    """The directory name that holds folder *name*: ``"." + name``, "/" and the like as %XX."""
    directory = "." + "".join(f"%{ord(c):02X}" if c in _ESCAPED_ON_DISK else c for c in check_folder(name))
    if len(directory) > 255:  # NAME_MAX of ext4, APFS and NTFS alike
        raise StoreError(f"folder name too long once encoded: {name!r}")
    return directory


def folder_name(directory: str) -> str:
    """The folder a directory holds: `folder_directory` undone."""
    return re.sub(r"%([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), directory[1:])


def _is_inbox(folder: str) -> bool:
    # RFC 3501 section 5.1: "INBOX" in any case is the INBOX.
    return folder.upper() == INBOX


class _Folder:
    """One Maildir folder with its UID list, loaded into memory."""

    def __init__(self, path: Path, uidvalidity: int) -> None:
        self.path = path
        for sub in ("tmp", "new", "cur"):
            (path / sub).mkdir(parents=True, exist_ok=True)
        self.uidlist = path / "mailcourse-uidlist"
        self.keywords_file = path / "mailcourse-keywords"
        self.keywords: list[str] = []  # keyword i is letter _KEYWORD_LETTERS[i] in file names
        self.messages: dict[int, MessageInfo] = {}
        self._load(uidvalidity)

    def _load(self, uidvalidity: int) -> None:
        uid_of: dict[str, int] = {}
        last: dict[int, tuple[int, str]] = {}  # uid -> (modseq, info letters) of its last uidlist line
        self.uidvalidity, self.uidnext = uidvalidity, 1
        self.reserved = 0  # no mod-sequence above this was ever handed out (the uidlist's "M")
        self._log_lines = 0  # lines in the uidlist after the first
        if self.keywords_file.exists():
            for line in self.keywords_file.read_text().splitlines():
                number, _, keyword = line.partition(" ")
                if number.isdigit() and int(number) == len(self.keywords) and keyword:
                    self.keywords.append(keyword)
        if self.uidlist.exists():
            lines = self.uidlist.read_text().splitlines()
            head = lines[0].split() if lines else []
            if len(head) in (2, 3):
                self.uidvalidity, self.uidnext = int(head[0][1:]), int(head[1][1:])
                if len(head) == 3 and head[2][1:].isdigit():
                    self.reserved = int(head[2][1:])
            for line in lines[1:]:
                entry = _uidlist_entry(line)
                if entry is None:  # a torn last line is skipped
                    continue
                uid, modseq, name, info = entry
                uid_of[name] = uid
                self.uidnext = max(self.uidnext, uid + 1)
                if modseq is not None:
                    last[uid] = (modseq, info)
                    self.reserved = max(self.reserved, modseq)
                self._log_lines += 1
        # The counter starts above anything handed out before (see the module docstring).
        self.highestmodseq = self.reserved
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
            known = last.get(uid)
            if known is not None and sorted(known[1]) == sorted(info):
                modseq = known[0]
            else:  # new, from an older store, or its flags changed after its last line: a fresh number
                self.highestmodseq += 1
                modseq, rewrite = self.highestmodseq, True
            flags = self._flags_of(info)
            self.messages[uid] = MessageInfo(uid, name, flags, mtime, path.stat().st_size, path, modseq)
        if rewrite or len(uid_of) != len(self.messages):
            self._reserve()

    def _flags_of(self, info: str) -> frozenset[str]:
        flags = {_FLAG_LETTERS[c] for c in info if c in _FLAG_LETTERS}
        for c in info:
            i = _KEYWORD_LETTERS.find(c)
            if 0 <= i < len(self.keywords):
                flags.add(self.keywords[i])
        return frozenset(flags)

    def _letter(self, keyword: str) -> str:
        """The letter of a keyword in file names, given one the first time it is used."""
        for i, known in enumerate(self.keywords):
            if known.lower() == keyword.lower():  # keywords are case-insensitive (RFC 3501 9: atom)
                return _KEYWORD_LETTERS[i]
        if len(self.keywords) == len(_KEYWORD_LETTERS):
            raise StoreError(f"no room for another keyword in this folder (at most {len(_KEYWORD_LETTERS)})")
        self.keywords.append(keyword)
        with open(self.keywords_file, "a") as f:
            f.write(f"{len(self.keywords) - 1} {keyword}\n")
        return _KEYWORD_LETTERS[len(self.keywords) - 1]

    def _rewrite_uidlist(self, *, durable: bool = False) -> None:
        lines = [f"V{self.uidvalidity} N{self.uidnext} M{self.reserved}"]
        lines += [_uidlist_line(m) for _, m in sorted(self.messages.items())]
        write_atomically(self.uidlist, "\n".join(lines) + "\n", sync_dir=durable)
        self._log_lines = len(self.messages)

    def _reserve(self) -> None:
        """Reserve the next block of mod-sequences: durably, before any of them is used."""
        self.reserved = self.highestmodseq + MODSEQ_BLOCK
        self._rewrite_uidlist(durable=True)

    def _next_modseq(self) -> int:
        """The mod-sequence of a change happening now (RFC 7162 section 3.1.1: it only grows)."""
        if self.highestmodseq + 1 > self.reserved:
            self._reserve()
        self.highestmodseq += 1
        return self.highestmodseq

    def _log(self, info: MessageInfo) -> None:
        # No fsync here: the message file is safe already, and a line lost in a
        # crash is rebuilt when the folder is opened (see `_load`).
        if self._log_lines >= 2 * len(self.messages) + MODSEQ_BLOCK:
            self._rewrite_uidlist()  # compact the log: one line per message
            return
        with open(self.uidlist, "a") as f:
            f.write(_uidlist_line(info) + "\n")
        self._log_lines += 1

    def add(self, raw: bytes, name: str, flags: frozenset[str], internaldate: float) -> int:
        final = self._path_for(name, flags, "cur" if flags else "new")  # may refuse a 27th keyword
        tmp = self.path / "tmp" / name
        with open(tmp, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.utime(tmp, (internaldate, internaldate))
        # New mail that nobody has seen goes to new/; mail with flags to cur/.
        os.rename(tmp, final)
        fsync_dir(final.parent)
        uid = self.uidnext
        self.uidnext += 1
        info = MessageInfo(uid, name, flags, internaldate, len(raw), final, self._next_modseq())
        self.messages[uid] = info
        self._log(info)
        return uid

    def _path_for(self, name: str, flags: frozenset[str], sub: str = "cur") -> Path:
        letters = "".join(sorted(_LETTER_FOR_FLAG[f] if f in _LETTER_FOR_FLAG else self._letter(f)
                                 for f in flags if not f.startswith("\\") or f in _LETTER_FOR_FLAG))
        return self.path / sub / (f"{name}:2,{letters}" if sub == "cur" else name)

    def set_flags(self, uid: int, flags: frozenset[str], unchanged_since: int | None = None) -> int | None:
        info = self.messages[uid]
        if unchanged_since is not None and info.modseq > unchanged_since:
            return None  # RFC 7162 section 3.1.3: changed since the client looked; leave it alone
        target = self._path_for(info.name, flags)
        if target != info.path:
            os.rename(info.path, target)  # also from new/ to cur/: a client has seen it
        info.path = target
        if flags != info.flags:  # no change, no new mod-sequence (RFC 7162 section 3.1.3)
            info.flags, info.modseq = flags, self._next_modseq()
            self._log(info)
        return info.modseq

    def remove(self, uid: int) -> None:
        info = self.messages.pop(uid)
        info.path.unlink(missing_ok=True)
        self._next_modseq()  # an expunge is a change of the folder too: HIGHESTMODSEQ grows
        self._rewrite_uidlist()


def _uidlist_line(info: MessageInfo) -> str:
    return f"{info.uid} M{info.modseq} {info.path.name}"


def _uidlist_entry(line: str) -> tuple[int, int | None, str, str] | None:
    """(uid, modseq, name, info letters) of a uidlist line; modseq None for an old ``<uid> <name>`` line."""
    uid, _, rest = line.partition(" ")
    if not uid.isdigit() or not rest:
        return None
    marker, _, filename = rest.partition(" ")
    if not (marker.startswith("M") and marker[1:].isdigit() and filename):
        return int(uid), None, rest.partition(":2,")[0], ""
    name, _, info = filename.partition(":2,")
    return int(uid), int(marker[1:]), name, info


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
        self._last_validity = 0
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
        """The account's folders: INBOX first, then the others in name order."""
        base = self._account_path(account)
        subs = sorted(folder_name(p.name) for p in base.iterdir() if p.name.startswith(".") and (p / "cur").is_dir())
        return [INBOX] + subs

    def has_folder(self, account: str, folder: str) -> bool:
        try:
            return folder in self.folders(account) or _is_inbox(folder)
        except StoreError:
            return False

    def create_folder(self, account: str, folder: str, *, exist_ok: bool = True) -> None:
        """Make a folder (IMAP CREATE); with ``exist_ok=False`` an existing one is an error."""
        with self._lock:
            if not exist_ok and self.has_folder(account, folder):
                raise StoreError(f"{folder} exists already")
            self._folder(account, folder, create=True)
        self._notify(account, folder)

    def delete_folder(self, account: str, folder: str) -> None:
        """Remove a folder and its messages for good (IMAP DELETE, RFC 3501 section 6.3.4).

        INBOX cannot be deleted. A folder with folders inside it is refused
        too: RFC 3501 would keep its name as a ``\\Noselect`` placeholder,
        which Maildir++ cannot represent, so the client deletes the inner
        folders first.
        """
        with self._lock:
            if _is_inbox(folder):
                raise StoreError("INBOX cannot be deleted")
            box = self._folder(account, folder)  # StoreError if there is no such folder
            if any(name.startswith(folder + DELIMITER) for name in self.folders(account)):
                raise StoreError(f"{folder} has folders inside it: delete them first")
            del self._folders[(account, folder)]
            # Out of sight in one step (a rename within the account), then removed.
            trash = self._account_path(account) / "tmp" / f"deleted-{time.time_ns()}"
            os.rename(box.path, trash)
            shutil.rmtree(trash, ignore_errors=True)
        self._notify(account, folder)

    def rename_folder(self, account: str, old: str, new: str) -> None:
        """Give a folder, and every folder inside it, a new name (IMAP RENAME, RFC 3501 section 6.3.5).

        Messages keep their UIDs and the folder its UIDVALIDITY: the uidlist
        moves with the directory. Renaming INBOX is special in RFC 3501:
        "all messages in INBOX are moved to a new mailbox with the given name,
        leaving INBOX empty"; that is what happens here too (flags and
        internal dates kept, new UIDs in the new folder).
        """
        with self._lock:
            check_folder(new)
            if _is_inbox(new) or self.has_folder(account, new):
                raise StoreError(f"{new} exists already")
            if _is_inbox(old):
                self._folder(account, new, create=True)
                for info in self.list(account, INBOX):
                    self.move(account, info.uid, INBOX, new)
                return
            self._folder(account, old)  # StoreError if there is no such folder
            base = self._account_path(account)
            inner = [name for name in self.folders(account) if name.startswith(old + DELIMITER)]
            renames = [(name, new + name[len(old):]) for name in [old] + inner]
            for _, target in renames:
                check_folder(target)  # a long new name may make an inner name too long
            for name, target in renames:
                self._folders.pop((account, name), None)
                os.rename(base / folder_directory(name), base / folder_directory(target))
        for name, target in renames:
            self._notify(account, name)
            self._notify(account, target)

    def create_special_use_folders(self, account: str) -> None:
        """Sent, Drafts and Trash (RFC 6154), made and subscribed to if missing."""
        with self._lock:
            for folder in SPECIAL_USE:
                if not self.has_folder(account, folder):
                    self.create_folder(account, folder)
                    self.subscribe_folder(account, folder)

    # -- subscriptions (IMAP SUBSCRIBE, UNSUBSCRIBE, LSUB: RFC 3501 sections 6.3.6-6.3.9) ----

    def subscriptions(self, account: str) -> list[str]:
        """The names the account subscribed to, in order; they need not exist (RFC 3501 6.3.6)."""
        path = self._account_path(account) / "subscriptions"
        try:
            return sorted(set(path.read_text().splitlines()) - {""})
        except FileNotFoundError:
            return []

    def subscribe_folder(self, account: str, folder: str) -> None:
        name = INBOX if _is_inbox(folder) else check_folder(folder)
        with self._lock:
            self._write_subscriptions(account, set(self.subscriptions(account)) | {name})

    def unsubscribe_folder(self, account: str, folder: str) -> None:
        name = INBOX if _is_inbox(folder) else folder
        with self._lock:
            names = set(self.subscriptions(account))
            if name not in names:
                raise StoreError(f"not subscribed to {folder}")
            self._write_subscriptions(account, names - {name})

    def _write_subscriptions(self, account: str, names: set[str]) -> None:
        path = self._account_path(account) / "subscriptions"
        write_atomically(path, "".join(f"{name}\n" for name in sorted(names)))

    def _account_path(self, account: str) -> Path:
        path = self.root / check_name("account", account)
        if not (path / "cur").is_dir():
            raise StoreError(f"no such account: {account!r}")
        return path

    def _folder(self, account: str, folder: str, create: bool = False) -> _Folder:
        folder = INBOX if _is_inbox(folder) else folder
        key = (account, folder)
        found = self._folders.get(key)
        if found is not None:
            return found
        base = self.root / check_name("account", account)
        path = base if folder == INBOX else base / folder_directory(folder)
        if not create and not (path / "cur").is_dir():
            raise StoreError(f"no such folder: {account}/{folder}")
        # UIDVALIDITY must change if a folder is ever recreated (RFC 3501
        # section 2.3.1.1): the clock does that, and a folder made again within
        # the same second still gets a greater value than the last one given.
        self._last_validity = max(int(time.time()), self._last_validity + 1)
        self._folders[key] = _Folder(path, uidvalidity=self._last_validity)
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
            uid = box.add(raw, self._unique_name(), frozenset(flags), internaldate or time.time())
        self._notify(account, folder)
        return uid

    def _unique_name(self) -> str:
        self._counter += 1
        return f"{time.time_ns()}.M{self._counter}P{os.getpid()}.{self.hostname}"

    def copy(self, account: str, uid: int, source: str, target: str) -> int:
        """Copy a message to another folder, flags and internal date kept; returns its new UID.

        The new UID is what IMAP's COPYUID response reports (RFC 4315 section 3).
        """
        with self._lock:
            info = self._info(account, source, uid)
            raw = info.path.read_bytes()
            new_uid = self._folder(account, target).add(raw, self._unique_name(), info.flags, info.internaldate)
        self._notify(account, target)
        return new_uid

    def move(self, account: str, uid: int, source: str, target: str) -> int:
        """Move a message to another folder (IMAP MOVE, RFC 6851); returns its UID there."""
        with self._lock:
            new_uid = self.copy(account, uid, source, target)
            self._folder(account, source).remove(uid)
        self._notify(account, source)
        return new_uid

    def list(self, account: str, folder: str = INBOX) -> list[MessageInfo]:
        """The folder's messages in UID order."""
        with self._lock:
            box = self._folder(account, folder)
            return [box.messages[uid] for uid in sorted(box.messages)]

    def get(self, account: str, uid: int, folder: str = INBOX) -> bytes:
        with self._lock:
            info = self._info(account, folder, uid)
            return info.path.read_bytes()

    def set_flags(self, account: str, uid: int, flags: set[str] | frozenset[str], folder: str = INBOX,
                  unchanged_since: int | None = None) -> int | None:
        """Give a message these flags; returns its mod-sequence afterwards.

        With ``unchanged_since`` (CONDSTORE's UNCHANGEDSINCE, RFC 7162
        section 3.1.3) nothing is changed, and None is returned, if the
        message changed after that mod-sequence: test and change happen
        under one lock, so no other change can slip in between.
        """
        with self._lock:
            self._info(account, folder, uid)
            modseq = self._folder(account, folder).set_flags(uid, frozenset(flags), unchanged_since)
        self._notify(account, folder)
        return modseq

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

    def highestmodseq(self, account: str, folder: str = INBOX) -> int:
        """The folder's HIGHESTMODSEQ (RFC 7162 section 3.1.2): it grows with every change, never shrinks."""
        with self._lock:
            return self._folder(account, folder).highestmodseq

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
