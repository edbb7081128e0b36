"""SORT: the messages that match, in the order the client asks for (RFC 5256 sections 2 and 3).

Theory of operation
-------------------
``a1 SORT (REVERSE DATE SUBJECT) UTF-8 UNSEEN`` is a SEARCH whose answer
comes in order: ``* SORT 5 3 4``. The session finds the messages with the
search engine (`mailcourse.protocols.imap.search`) and hands them here as
`Sortable` objects; `sort` orders them by the keys the client named, each
one compared as RFC 5256 section 3 says::

    ARRIVAL  the internal date             CC    the first Cc's mailbox (local part)
    DATE     the Date: header, in UTC       FROM  the first From's mailbox
    SIZE     RFC822.SIZE                    TO    the first To's mailbox
    SUBJECT  the *base subject* (below)     REVERSE  the next key, the other way round

"If two or more messages exactly match according to the sorting criteria,
these messages are sorted according to the order in which they appear in
the mailbox", that is, by sequence number: every sort ends with it.

Strings are compared with the ``i;ascii-casemap`` collation (RFC 4790
section 9.2, the default of RFC 5256): a-z read as A-Z, nothing else folded.

The base subject (RFC 5256 section 2.1)
---------------------------------------
``Re: [list] Fwd: Lunch (fwd)`` and ``Lunch`` are one conversation. The
base subject is what is left after taking away what mail programs add:
"Re:", "Fw:", "Fwd:" in front (with a ``[blob]`` such as a list's tag
before or inside them), "(fwd)" at the end, and the ``[Fwd: ...]`` wrapper
some programs put round a forwarded subject. `base_subject` follows the
RFC's numbered steps, and also says whether it took away a reply or
forward marker, which THREAD=REFERENCES needs (`mailcourse.protocols.imap.thread`).
"""
from __future__ import annotations

import email.utils
import re
from collections.abc import Callable
from dataclasses import dataclass

from .mime import Entity
from .search import _decode_header
from .structure import _addresses

SORT_KEYS = ("ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO")  # RFC 5256 section 3

# i;ascii-casemap (RFC 4790 section 9.2): only the ASCII letters are folded.
_CASEMAP = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")

# The ABNF of RFC 5256 section 5, as regular expressions (WSP is space or tab).
_BLOB = r"\[[^\[\]]*\][ \t]*"  # subj-blob = "[" *BLOBCHAR "]" *WSP
_REFWD = rf"(?:re|fwd?)[ \t]*(?:{_BLOB})?:"  # subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"
_TRAILER = re.compile(r"(?:\(fwd\)|[ \t])\Z", re.IGNORECASE)  # subj-trailer = "(fwd)" / WSP
_LEADER = re.compile(rf"(?:(?:{_BLOB})*{_REFWD}|[ \t])", re.IGNORECASE)  # subj-leader = (*subj-blob subj-refwd) / WSP
_LEADING_BLOB = re.compile(_BLOB)


def casemap(text: str) -> str:
    """A string as the i;ascii-casemap collation compares it."""
    return text.translate(_CASEMAP)


def base_subject(subject: str) -> tuple[str, bool]:
    """The base subject of a (decoded) Subject: value, and whether it was a reply or forward.

    >>> base_subject("Re: [course] Fwd: Lunch (fwd)")
    ('Lunch', True)
    >>> base_subject("[Fwd: re: Lunch]")
    ('Lunch', True)
    """
    # (1) "Convert all tabs and continuations to space. Convert all multiple spaces to a single space."
    text = re.sub(r"[ \t]+", " ", re.sub(r"\r?\n", "", subject))
    reply = False
    while True:
        # (2) "Remove all trailing text of the subject that matches the subj-trailer ABNF, repeat until no more matches"
        while (m := _TRAILER.search(text)):
            reply |= m.group().lower() == "(fwd)"
            text = text[:m.start()]
        while True:
            # (3) "Remove all prefix text of the subject that matches the subj-leader ABNF."
            before = text
            while (m := _LEADER.match(text)):
                reply |= m.group().strip() != ""
                text = text[m.end():]
            # (4) "If there is prefix text of the subject that matches the subj-blob ABNF, and removing that
            # prefix leaves a non-empty subj-base, then remove the prefix text."
            m = _LEADING_BLOB.match(text)
            if m and text[m.end():].strip():
                text = text[m.end():]
            # (5) "Repeat (3) and (4) until no matches remain."
            if text == before:
                break
        # (6) "If the resulting text begins with the subj-fwd-hdr ABNF and ends with the subj-fwd-trl ABNF,
        # remove the subj-fwd-hdr and subj-fwd-trl and repeat from step (2)."
        if text[:5].lower() == "[fwd:" and text.endswith("]"):
            text, reply = text[5:-1], True
            continue
        return text, reply  # (7) "The resulting text is the base subject"


@dataclass
class Sortable:
    """One message as SORT and THREAD see it: its place in the mailbox and its header."""

    seq: int  # the sequence number: the last tie-break of every sort
    number: int  # what the answer shows: the sequence number, or the UID for UID SORT and UID THREAD
    internaldate: float
    size: int
    message: Callable[[], Entity]  # the parsed message, read when a key needs it

    def header(self, name: str) -> str:
        value = self.message().value(name)
        return "" if value is None else _decode_header(value)

    @property
    def subject(self) -> str:
        return base_subject(self.header("Subject"))[0]

    @property
    def sent_date(self) -> float:
        """RFC 5256 section 3, DATE: "If the sent date cannot be determined ... the internal date is used"."""
        try:
            parsed = email.utils.parsedate_to_datetime(self.header("Date"))
            return parsed.timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            return self.internaldate

    def first_mailbox(self, name: str) -> str:
        """RFC 5256 section 3: "addr-mailbox of the first ... address" (a group's name is no address)."""
        value = self.message().value(name)
        for address in _addresses(value) or []:
            if address[3] is not None:  # host NIL marks a group's start or end (RFC 3501 section 7.4.2)
                return (address[2] or b"").decode("utf-8", "replace")
        return ""


_KEY_VALUE: dict[str, Callable[[Sortable], object]] = {
    "ARRIVAL": lambda m: m.internaldate,
    "CC": lambda m: casemap(m.first_mailbox("Cc")),
    "DATE": lambda m: m.sent_date,
    "FROM": lambda m: casemap(m.first_mailbox("From")),
    "SIZE": lambda m: m.size,
    "SUBJECT": lambda m: casemap(m.subject),
    "TO": lambda m: casemap(m.first_mailbox("To")),
}


def parse_sort_criteria(values: list) -> list[tuple[str, bool]]:
    """``(REVERSE DATE SUBJECT)`` as ``[("DATE", True), ("SUBJECT", False)]``; ``ValueError`` for bad ones."""
    criteria: list[tuple[str, bool]] = []
    reverse = False
    for value in values:
        word = str(value).upper() if isinstance(value, str) else ""
        if word == "REVERSE" and not reverse:
            reverse = True
        elif word in SORT_KEYS:
            criteria.append((word, reverse))
            reverse = False
        else:
            raise ValueError(f"unknown sort key {value!r}; known: REVERSE {' '.join(SORT_KEYS)}")
    if reverse or not criteria:
        raise ValueError("sort criteria end with a key: (REVERSE DATE), not (DATE REVERSE)")
    return criteria


def sort(messages: list[Sortable], criteria: list[tuple[str, bool]]) -> list[Sortable]:
    """The messages in the order of the criteria, ties in mailbox order."""
    ordered = sorted(messages, key=lambda m: m.seq)
    # Python's sort is stable: sorting by the last key first leaves the first key in charge.
    for name, reverse in reversed(criteria):
        ordered.sort(key=_KEY_VALUE[name], reverse=reverse)
    return ordered
