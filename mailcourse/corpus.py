"""The course's sample messages: the ``.eml`` files in the repository's ``data/`` folder.

    >>> from mailcourse import corpus
    >>> corpus.path("lunch").name
    'lunch.eml'
    >>> corpus.describe("lunch")[:40]
    'The chapter\\'s "Lunch tomorrow", joe@some'
    >>> corpus.load("lunch").startswith(b"From: joe@someplace.org\\r\\n")
    True

A sample's name is its file name without ``.eml``; its one-line description
is its row in the table of ``data/README.md``, so the list a lesson prints and
the list a person reads on GitHub are one list. `names` gives them in the
table's order.

The files are bytes exactly as they would cross the wire: CRLF line ends
(RFC 5322 section 2.1), which is also how the lab's store keeps delivered
mail. Read them with `load` (bytes), never as text: ``malformed.eml`` has a
bare LF and 8-bit bytes on purpose, and text mode would change both.

Where ``data/`` is: next to the ``mailcourse`` package, in the repository
checkout. The course runs from a checkout (``make lab``, Binder,
nbgitpuller) with an editable install (``pip install -e .``), where that is
where the package lives. A plain ``pip install .`` copies only the package;
set ``MAILCOURSE_DATA`` to the folder then (or clone the repository).

To put samples into a mailbox as mail that arrived earlier, use `seed`
(`MailServer.file` files one).
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from .errors import LabError

if TYPE_CHECKING:
    from .mailserver import MailServer

_ROW = re.compile(r"^\|\s*`([^`/]+)\.eml`\s*\|\s*(.+?)\s*\|\s*$")


def folder() -> Path:
    """The folder of the samples: ``$MAILCOURSE_DATA``, or ``data/`` next to the package."""
    found = Path(os.environ.get("MAILCOURSE_DATA") or Path(__file__).resolve().parent.parent / "data")
    if not (found / "README.md").is_file():
        raise LabError(f"no sample messages at {found}: run the course from its repository "
                       "(pip install -e .), or set MAILCOURSE_DATA to its data/ folder")
    return found


def index() -> dict[str, str]:
    """Every sample: name -> one-line description, in the order of ``data/README.md``."""
    out: dict[str, str] = {}
    for line in (folder() / "README.md").read_text(encoding="utf-8").splitlines():
        match = _ROW.match(line)
        if match:
            out[match[1]] = match[2]
    return out


def names() -> list[str]:
    """The samples' names: ``["lunch", "plain", "alternative", ...]``."""
    return list(index())


def describe(name: str) -> str:
    """The one-line description of a sample."""
    _check(name)
    return index()[name]


def path(name: str) -> Path:
    """The ``.eml`` file of a sample, e.g. ``path("lunch")``."""
    _check(name)
    return folder() / f"{name}.eml"


def load(name: str) -> bytes:
    """A sample's bytes, exactly as in its file."""
    return path(name).read_bytes()


def seed(server: MailServer, user: str, samples: Iterable[str] | None = None, folder: str = "INBOX") -> list[int]:
    """File samples (all of them by default) into a mailbox, as mail that arrived earlier; returns their UIDs.

    For lessons that need a full inbox (IMAP SEARCH, the webmail's list):
    ``corpus.seed(lab.server("somewhereelse.com"), "jane")``. No SMTP, no
    queue, no trace: see `MailServer.file`.
    """
    return [server.file(user, load(name), folder) for name in (names() if samples is None else samples)]


def _check(name: str) -> None:
    if name not in index():
        raise LabError(f"no sample called {name!r}; the corpus has {', '.join(names())}")
