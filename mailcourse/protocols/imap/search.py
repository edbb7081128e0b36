"""SEARCH: which messages match a client's search keys (RFC 3501 section 6.4.4).

Theory of operation
-------------------
``a1 SEARCH UNSEEN FROM "jane" SINCE 1-Feb-1994`` asks for the numbers of
the messages that match *all* the keys (RFC 3501: "When multiple keys are
specified, the result is the intersection (AND function) of all the
messages that match those keys"). `parse_search` reads the parser's values
into a tree of `SearchKey` objects, one small class per kind of key; the
session asks the tree about each message with `SearchKey.matches`::

    >>> key = parse_search([Atom("UNSEEN"), Atom("LARGER"), Atom("100")])
    >>> key
    And(keys=(Flag(flag='\\\\Seen', present=False), Size(larger=True, octets=100)))
    >>> key.matches(Candidate(seq=1, uid=7, flags=frozenset(), internaldate=0, size=500,
    ...                       largest_seq=1, largest_uid=7, raw=lambda: b""))
    True

A `Candidate` is what the session knows about one message. Reading the
message file is the slow part, so ``raw`` is a function that the keys call
only when they must (FROM, BODY, SENTON...), and `needs_message` says in
advance whether any key will.

RFC 3501's rules that shape the code:

* Strings match "if the string is a substring of the field", case-insensitively.
  Header values are compared after decoding RFC 2047 encoded words
  (``=?UTF-8?Q?J=C3=B6rg?=``) and body text after undoing quoted-printable
  and base64, because that is the text a person searches for.
* Dates are compared "disregarding time and timezone": BEFORE, ON and SINCE
  use the internal date, taken in UTC; SENTBEFORE, SENTON and SENTSINCE the
  date written in the Date: header, in the sender's own time zone.
* A bad key or argument raises ``ValueError`` with a readable text, which
  the session answers with BAD. A bad *message* never raises: a header or
  body that cannot be decoded is searched as it is.
"""
from __future__ import annotations

import base64
import binascii
import datetime
import email.header
import email.utils
import quopri
import re
from collections.abc import Callable
from dataclasses import dataclass

from .mime import Entity, parse_message
from .types import Atom, SequenceSet, Value, text

MAX_NUMBER = 0xFFFFFFFF  # RFC 3501 section 9: "number" is an unsigned 32-bit integer
MAX_MODSEQ = 2**63 - 1  # RFC 7162 section 7: mod-sequence-value
CHARSETS = ("US-ASCII", "UTF-8")  # what this server understands (RFC 3501 requires US-ASCII)


@dataclass
class Candidate:
    """One message as SEARCH sees it: what the session knows, and a way to read the rest.

    ``largest_seq`` and ``largest_uid`` are what ``*`` stands for in a
    sequence set or UID set. ``flags`` holds ``"\\\\Recent"`` when the
    session has it for this message.
    """

    seq: int
    uid: int
    flags: frozenset[str]
    internaldate: float
    size: int
    largest_seq: int
    largest_uid: int
    raw: Callable[[], bytes]
    modseq: int | None = None


class _View:
    """A `Candidate` plus what the keys worked out about it, each computed once."""

    def __init__(self, candidate: Candidate) -> None:
        self.c = candidate
        self._message: Entity | None = None
        self._body: str | None = None
        self.flags = {f.casefold() for f in candidate.flags}

    @property
    def message(self) -> Entity:
        if self._message is None:
            self._message = parse_message(self.c.raw())
        return self._message

    def header_values(self, name: str) -> list[str]:
        """Every field called ``name`` (there may be several), decoded."""
        name = name.lower()
        return [_decode_header(f.value) for f in self.message.fields if f.name is not None and f.name.lower() == name]

    def header_text(self) -> str:
        """The whole header, decoded; a line that is no field (a malformed header) is kept as it is."""
        return "\n".join(_decode_header(f.value) if f.name is None else f"{f.name}: {_decode_header(f.value)}"
                         for f in self.message.fields)

    @property
    def body(self) -> str:
        if self._body is None:
            self._body = "\n".join(_decoded_text(e) for e in self.message.walk()
                                   if not e.parts and e.message is None and e.content_type.startswith("text/"))
        return self._body


# -- the keys --------------------------------------------------------------------------------

class SearchKey:
    """A search key: `matches` says whether a message matches it."""

    def matches(self, m: Candidate) -> bool:
        return self._test(_View(m))

    def _test(self, m: _View) -> bool:
        raise NotImplementedError

    @property
    def needs_message(self) -> bool:
        """Whether matching reads the message (headers or body), not just the session's index."""
        return False


@dataclass(frozen=True)
class All(SearchKey):
    """ALL: every message in the mailbox."""

    def _test(self, m: _View) -> bool:
        return True


@dataclass(frozen=True)
class Flag(SearchKey):
    """ANSWERED, DELETED, DRAFT, FLAGGED, RECENT, SEEN, KEYWORD and their UN- forms: a flag is there (or not)."""

    flag: str
    present: bool = True

    def _test(self, m: _View) -> bool:
        return (self.flag.casefold() in m.flags) == self.present


@dataclass(frozen=True)
class Not(SearchKey):
    """NOT key: the messages that do not match."""

    key: SearchKey

    def _test(self, m: _View) -> bool:
        return not self.key._test(m)

    @property
    def needs_message(self) -> bool:
        return self.key.needs_message


@dataclass(frozen=True)
class Or(SearchKey):
    """OR key1 key2: the messages that match either."""

    left: SearchKey
    right: SearchKey

    def _test(self, m: _View) -> bool:
        return self.left._test(m) or self.right._test(m)

    @property
    def needs_message(self) -> bool:
        return self.left.needs_message or self.right.needs_message


@dataclass(frozen=True)
class And(SearchKey):
    """Several keys side by side, or in parentheses: the messages that match all of them."""

    keys: tuple[SearchKey, ...]

    def _test(self, m: _View) -> bool:
        # The cheap keys first, so that a message ruled out by its flags is never read.
        ordered = sorted(self.keys, key=lambda k: k.needs_message)
        return all(k._test(m) for k in ordered)

    @property
    def needs_message(self) -> bool:
        return any(k.needs_message for k in self.keys)


@dataclass(frozen=True)
class SequenceSetKey(SearchKey):
    """A bare sequence set such as ``2:4,*``: message numbers."""

    numbers: SequenceSet

    def _test(self, m: _View) -> bool:
        return self.numbers.contains(m.c.seq, m.c.largest_seq)


@dataclass(frozen=True)
class Uid(SearchKey):
    """UID set: the messages whose UIDs are in the set."""

    uids: SequenceSet

    def _test(self, m: _View) -> bool:
        return self.uids.contains(m.c.uid, m.c.largest_uid)


@dataclass(frozen=True)
class Size(SearchKey):
    """LARGER n (``larger=True``) and SMALLER n: RFC822.SIZE above or below n octets."""

    larger: bool
    octets: int

    def _test(self, m: _View) -> bool:
        return m.c.size > self.octets if self.larger else m.c.size < self.octets


@dataclass(frozen=True)
class Date(SearchKey):
    """BEFORE, ON, SINCE (the internal date) and SENTBEFORE, SENTON, SENTSINCE (the Date: header)."""

    compare: str  # "BEFORE", "ON" or "SINCE"
    date: datetime.date
    sent: bool = False

    def _test(self, m: _View) -> bool:
        day = _sent_date(m) if self.sent else _internal_date(m.c.internaldate)
        if day is None:
            return False
        if self.compare == "BEFORE":
            return day < self.date
        if self.compare == "ON":
            return day == self.date
        return day >= self.date  # SINCE: "within or later than the specified date"

    @property
    def needs_message(self) -> bool:
        return self.sent


@dataclass(frozen=True)
class Header(SearchKey):
    """HEADER name string, and FROM, TO, CC, BCC, SUBJECT: the string is in that field's value.

    "If the string to search is zero-length, this matches all messages that
    have a header line with the specified field-name regardless of the contents."
    """

    name: str
    text: str

    def _test(self, m: _View) -> bool:
        needle = self.text.casefold()
        return any(needle in value.casefold() for value in m.header_values(self.name))

    @property
    def needs_message(self) -> bool:
        return True


@dataclass(frozen=True)
class Body(SearchKey):
    """BODY string (the body's text) and TEXT string (``whole=True``: header or body)."""

    text: str
    whole: bool = False

    def _test(self, m: _View) -> bool:
        needle = self.text.casefold()
        return needle in m.body.casefold() or (self.whole and needle in m.header_text().casefold())

    @property
    def needs_message(self) -> bool:
        return True


@dataclass(frozen=True)
class ModSeq(SearchKey):
    """MODSEQ n (RFC 7162 section 3.1.5): messages changed at or after mod-sequence n."""

    modseq: int

    def _test(self, m: _View) -> bool:
        return m.c.modseq is not None and m.c.modseq >= self.modseq


def needs_message(key: SearchKey) -> bool:
    """Whether matching ``key`` reads any message (so the session knows whether to offer ``raw`` cheaply)."""
    return key.needs_message


# -- reading the command ---------------------------------------------------------------------

# Keys without arguments (RFC 3501 section 6.4.4). NEW is "\Recent and not
# \Seen", OLD "not \Recent"; both are spelled with the keys above.
_FLAG_KEYS: dict[str, SearchKey] = {
    "ALL": All(),
    "ANSWERED": Flag("\\Answered"), "UNANSWERED": Flag("\\Answered", False),
    "DELETED": Flag("\\Deleted"), "UNDELETED": Flag("\\Deleted", False),
    "DRAFT": Flag("\\Draft"), "UNDRAFT": Flag("\\Draft", False),
    "FLAGGED": Flag("\\Flagged"), "UNFLAGGED": Flag("\\Flagged", False),
    "SEEN": Flag("\\Seen"), "UNSEEN": Flag("\\Seen", False),
    "RECENT": Flag("\\Recent"), "OLD": Flag("\\Recent", False),
    "NEW": And((Flag("\\Recent"), Flag("\\Seen", False))),
}
_HEADER_KEYS = {"FROM": "From", "TO": "To", "CC": "Cc", "BCC": "Bcc", "SUBJECT": "Subject"}
_DATE_KEYS = {"BEFORE": ("BEFORE", False), "ON": ("ON", False), "SINCE": ("SINCE", False),
              "SENTBEFORE": ("BEFORE", True), "SENTON": ("ON", True), "SENTSINCE": ("SINCE", True)}
_MONTHS = {m: i for i, m in enumerate(("JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                        "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), start=1)}
_DATE = re.compile(r"([0-9]{1,2})-([A-Za-z]{3})-([0-9]{4})")


def parse_search(args: list[Value]) -> SearchKey:
    """The search keys after ``SEARCH`` as one `SearchKey`; ``ValueError`` (answered with BAD) for bad ones.

    A leading ``CHARSET US-ASCII`` or ``CHARSET UTF-8`` is accepted and
    ignored (strings arrive as UTF-8 either way); any other charset raises
    ``ValueError("[BADCHARSET (US-ASCII UTF-8)] ...")``, the response code
    RFC 3501 section 7.1 defines for it (the session answers NO with it).
    """
    args = list(args)
    if args and isinstance(args[0], Atom) and args[0].upper() == "CHARSET":
        if len(args) < 2 or isinstance(args[1], list):
            raise ValueError("CHARSET needs a charset name")
        charset = text(args[1]).upper()
        if charset not in CHARSETS:
            raise ValueError(f"[BADCHARSET ({' '.join(CHARSETS)})] charset {charset} is not supported")
        args = args[2:]
    if not args:
        raise ValueError("SEARCH needs at least one search key")
    return _Reader(args).keys()


@dataclass
class _Reader:
    """Reads keys from the front of a list of values, one at a time."""

    args: list[Value]
    pos: int = 0

    def keys(self) -> SearchKey:
        keys = []
        while self.pos < len(self.args):
            keys.append(self.key())
        if not keys:
            raise ValueError("empty parentheses are not a search key")
        return keys[0] if len(keys) == 1 else And(tuple(keys))

    def take(self, what: str) -> Value:
        if self.pos >= len(self.args):
            raise ValueError(f"missing {what}")
        value = self.args[self.pos]
        self.pos += 1
        return value

    def key(self) -> SearchKey:
        value = self.take("search key")
        if isinstance(value, list):  # "(" search-key *(SP search-key) ")"
            return _Reader(value).keys()
        if not isinstance(value, Atom):
            # TRY004: a client's mistake is a ValueError here, which the session answers with BAD
            raise ValueError("a search key is an atom such as UNSEEN, not a string")  # noqa: TRY004
        name = value.upper()
        if name in _FLAG_KEYS:
            return _FLAG_KEYS[name]
        if name in _HEADER_KEYS:
            return Header(_HEADER_KEYS[name], self.string(name))
        if name == "HEADER":
            return Header(self.string("HEADER's field name"), self.string("HEADER's string"))
        if name in ("BODY", "TEXT"):
            return Body(self.string(name), whole=name == "TEXT")
        if name in ("KEYWORD", "UNKEYWORD"):
            keyword = self.atom(name)
            if keyword.startswith("\\") or any(c in '(){ %*"]' for c in keyword):
                raise ValueError(f"{name} needs a keyword such as $Junk, not {keyword}")
            return Flag(keyword, name == "KEYWORD")
        if name in ("LARGER", "SMALLER"):
            return Size(name == "LARGER", self.number(name, MAX_NUMBER))
        if name in _DATE_KEYS:
            compare, sent = _DATE_KEYS[name]
            return Date(compare, self.date(name), sent)
        if name == "NOT":
            return Not(self.key())
        if name == "OR":
            return Or(self.key(), self.key())
        if name == "UID":
            return Uid(self.sequence_set(self.atom("UID")))
        if name == "MODSEQ":
            # "MODSEQ" [SP entry-name SP entry-type-req] SP mod-sequence-valzer (RFC 7162 section 3.1.5);
            # this server keeps one mod-sequence per message, so the entry is read and ignored.
            if self.pos < len(self.args) and isinstance(self.args[self.pos], bytes):
                self.pos += 1
                if self.atom("MODSEQ's entry type").lower() not in ("priv", "shared", "all"):
                    raise ValueError("MODSEQ's entry type is priv, shared or all")
            return ModSeq(self.number("MODSEQ", MAX_MODSEQ))
        try:
            return SequenceSetKey(SequenceSet.parse(value))
        except ValueError:
            raise ValueError(f"unknown search key {value}") from None

    def string(self, what: str) -> str:
        value = self.take(f"the string after {what}")
        if isinstance(value, list):
            raise ValueError(f"{what} needs a string, not a list")  # noqa: TRY004
        # Strings arrive as UTF-8 (or plain ASCII); bytes that are neither still search as best they can.
        return value if isinstance(value, str) else value.decode("utf-8", "replace")

    def atom(self, what: str) -> str:
        value = self.take(f"the argument of {what}")
        if not isinstance(value, Atom):
            raise ValueError(f"{what} needs an atom")  # noqa: TRY004
        return str(value)

    def number(self, what: str, largest: int) -> int:
        value = self.atom(what)
        if not value.isascii() or not value.isdigit() or len(value) > 20 or int(value) > largest:
            raise ValueError(f"{what} needs a number, not {value}")
        return int(value)

    def sequence_set(self, value: str) -> SequenceSet:
        try:
            return SequenceSet.parse(value)
        except ValueError:
            raise ValueError(f"not a UID set: {value}") from None

    def date(self, what: str) -> datetime.date:
        # date = date-text / DQUOTE date-text DQUOTE; date-text = date-day "-" date-month "-" date-year
        value = self.string(what)
        match = _DATE.fullmatch(value)
        if not match or match[2].upper() not in _MONTHS:
            raise ValueError(f"{what} needs a date such as 1-Feb-1994, not {value}")
        try:
            return datetime.date(int(match[3]), _MONTHS[match[2].upper()], int(match[1]))
        except ValueError:
            raise ValueError(f"no such day: {value}") from None


# -- reading the message ---------------------------------------------------------------------

def _internal_date(ts: float) -> datetime.date | None:
    try:
        return datetime.datetime.fromtimestamp(ts, datetime.UTC).date()
    except (OverflowError, OSError, ValueError):
        return None


def _sent_date(m: _View) -> datetime.date | None:
    """The day of the Date: header as written there (RFC 3501: "disregarding time and timezone")."""
    values = m.header_values("Date")
    if not values:
        return None
    try:
        parsed = email.utils.parsedate_tz(values[0])
        return None if parsed is None else datetime.date(*parsed[:3])
    except (TypeError, ValueError, OverflowError, IndexError):
        return None


def _decode_header(value: bytes) -> str:
    """A header value with RFC 2047 encoded words decoded; raw 8-bit text read as UTF-8 (RFC 6532)."""
    raw = value.decode("utf-8", "replace")
    if "=?" not in raw:
        return raw
    try:
        return str(email.header.make_header(email.header.decode_header(raw)))
    except Exception:  # noqa: BLE001 - a broken encoded word (bad charset, bad base64) is searched as written
        return raw


def _decoded_text(entity: Entity) -> str:
    """A text part's body as text: transfer encoding undone (RFC 2045 section 6), then its charset."""
    body = entity.body
    encoding = entity.encoding
    if encoding == "QUOTED-PRINTABLE":
        body = quopri.decodestring(body)
    elif encoding == "BASE64":
        body = _base64(body)
    charset = (entity.param("charset") or "utf-8").lower()
    if charset in ("us-ascii", "ascii"):
        charset = "utf-8"  # a superset: mislabelled 8-bit mail is usually UTF-8
    try:
        return body.decode(charset, "replace")
    except Exception:  # noqa: BLE001 - the charset is whatever the sender wrote: unknown or not a text codec
        return body.decode("utf-8", "replace")


def _base64(body: bytes) -> bytes:
    """Base64 decoded leniently: characters outside the alphabet ignored (RFC 2045 section 6.8), padding repaired."""
    data = re.sub(rb"[^A-Za-z0-9+/]", b"", body)
    data = data[: len(data) - 1] if len(data) % 4 == 1 else data
    try:
        return base64.b64decode(data + b"=" * (-len(data) % 4))
    except (binascii.Error, ValueError):
        return body
