"""Writing small files so that a crash never leaves half of one.

Every file the lab rewrites (a queue entry's state, a device's UIDL list and
IMAP journal, a folder's UID list) goes through `write_atomically`: write a
temporary file next to it, fsync it, and rename it over the old one. A rename
within one directory is atomic (POSIX ``rename(2)``), so a reader, or the lab
after a crash, finds either the old file or the new one. The same "write,
fsync, rename" dance is how Maildir delivers a message (see `mailcourse.store`).
"""
from __future__ import annotations

import os
from pathlib import Path


def fsync_dir(path: Path) -> None:
    """Make a directory's entries (a new or renamed file in it) durable, not only the file's bytes."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, data: bytes | str, *, sync_dir: bool = False) -> None:
    """Replace ``path`` with ``data``: afterwards the file holds the old content or the new, never a mix.

    ``sync_dir`` also makes the rename itself durable (one more fsync); without
    it a crash just after the call may bring back the previous version, which
    is fine for files that can be rebuilt or whose old version is still valid.
    """
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    if sync_dir:
        fsync_dir(path.parent)
