"""Writing IMAP data: atoms, numbers, strings, lists and NIL (RFC 3501 sections 4 and 9).

Theory of operation
-------------------
Everything an IMAP server says after ``* `` is built from five kinds of data
(RFC 3501 section 4):

=============  ==========================================  ================================
kind           on the wire                                 Python value given to `render`
=============  ==========================================  ================================
atom           ``FLAGS``, ``\\Seen``, ``BODY[]``            `Atom` (written as it is)
number         ``4711``                                    ``int``
string         ``"quoted"`` or a literal ``{5}\\r\\nhello``  ``bytes`` (or ``str`` as astring)
list           ``(a b c)``                                 ``list`` or ``tuple``
NIL            ``NIL``                                     ``None``
=============  ==========================================  ================================

A *quoted* string may hold any 7-bit character except CR, LF and NUL
(``TEXT-CHAR``), with ``\\`` and ``"`` escaped. Anything else (8-bit text,
line ends, a whole message) must go as a *literal*: ``{n}``, CRLF, then
exactly n octets, which the client reads by counting, not by looking for
an end. `string` picks the form; `literal` always sends a literal, which is
what message contents need (see `literal` for why).

The functions here only write; reading a client's command is the parser's
job (`mailcourse.protocols.imap.parser`).
"""
from __future__ import annotations

import time
from collections.abc import Iterable

from .types import Atom

# RFC 3501 section 2.3.2: the flags every server knows. \Recent is set by
# the server only; the others are set and cleared by clients.
SYSTEM_FLAGS = ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft", "\\Recent")

# Longer strings go as literals even when they could be quoted: a long
# quoted line is hard to read in a transcript and some clients cap line length.
MAX_QUOTED = 1024

# RFC 3501 section 9: atom-specials = "(" / ")" / "{" / SP / CTL / list-wildcards /
# quoted-specials / resp-specials. ASTRING-CHAR allows "]" back in.
_ATOM_SPECIALS = frozenset(b'(){ %*"\\]')
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _bytes(s: str | bytes) -> bytes:
    # Text that arrived as undecodable bytes (surrogateescape) goes back out unchanged.
    return s if isinstance(s, bytes) else s.encode("utf-8", "surrogateescape")


def _quotable(data: bytes) -> bool:
    """TEXT-CHAR only (7-bit, no CR, LF or NUL), and short enough to read."""
    return len(data) <= MAX_QUOTED and all(0 < c < 0x80 and c not in (0x0A, 0x0D) for c in data)


def quoted(s: str | bytes) -> bytes:
    """``"..."`` with ``\\`` and ``"`` escaped (RFC 3501 section 4.3, ``quoted``).

    Raises ``ValueError`` for data a quoted string cannot carry (CR, LF, NUL,
    8-bit): that is the caller's mistake; `string` chooses a literal instead.
    """
    data = _bytes(s)
    if not all(0 < c < 0x80 and c not in (0x0A, 0x0D) for c in data):
        raise ValueError("a quoted string cannot hold CR, LF, NUL or 8-bit octets; use a literal")
    return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def literal(s: str | bytes) -> bytes:
    """``{n}`` CRLF and the n octets, unchanged (RFC 3501 section 4.3, ``literal``).

    Message contents (``BODY[...]``, ``RFC822...``) always go as literals,
    even a short or empty one: Python's imaplib hands a FETCH literal to its
    caller as a separate ``(header, data)`` tuple, and clients built on it
    read ``data[0][1]``; a quoted string there would break them.
    """
    data = _bytes(s)
    return b"{%d}\r\n" % len(data) + data


def string(s: str | bytes) -> bytes:
    """A ``string``: quoted when that is safe, else a literal (RFC 3501 section 4.3)."""
    data = _bytes(s)
    return quoted(data) if _quotable(data) else literal(data)


def nstring(s: str | bytes | None) -> bytes:
    """A string, or ``NIL`` for "no value" (RFC 3501 section 4.5)."""
    return b"NIL" if s is None else string(s)


def astring(s: str | bytes) -> bytes:
    """A bare atom when that is unambiguous, else a `string` (RFC 3501 section 9, ``astring``).

    ``NIL`` is quoted too: a mailbox called NIL must not read as "no value".
    """
    data = _bytes(s)
    if data and data.upper() != b"NIL" and all(0x20 < c < 0x7F and c not in _ATOM_SPECIALS or c == 0x5D
                                               for c in data):
        return data
    return string(data)


def flag_list(flags: Iterable[str]) -> bytes:
    """``(\\Seen \\Flagged $Junk)``: system flags first, then keywords, each group sorted.

    The order means nothing to IMAP (flags are a set), but a stable order
    makes transcripts reproducible and easy to compare.
    """
    unique = set(flags)
    ordered = sorted(f for f in unique if f.startswith("\\")) + sorted(f for f in unique if not f.startswith("\\"))
    return b"(" + b" ".join(_bytes(f) for f in ordered) + b")"


def date_time(ts: float) -> bytes:
    """An INTERNALDATE: ``"17-Jul-1996 02:44:25 +0000"`` (RFC 3501 section 9, ``date-time``).

    Always UTC, and month names in English whatever the locale, so the same
    timestamp gives the same bytes on every machine. The day is padded with a
    space (``date-day-fixed``): `` 7-Jul-1996``.
    """
    t = time.gmtime(ts)
    return b'"%2d-%s-%04d %02d:%02d:%02d +0000"' % (t.tm_mday, _MONTHS[t.tm_mon - 1].encode(), t.tm_year,
                                                     t.tm_hour, t.tm_min, t.tm_sec)


def render(value: object) -> bytes:
    """Any IMAP value as bytes: ``None`` -> NIL, ``int`` -> digits, `Atom` as is, ``str`` -> astring,
    ``bytes`` -> string, ``list``/``tuple`` -> ``(...)``.

    Items of a list are separated by a space, except a run of lists at the
    start of a list, which are written back to back. That is how RFC 3501's
    grammar writes "one or more of these": a multipart BODYSTRUCTURE is
    ``"(" 1*body SP media-subtype ...``, an ENVELOPE's address list is
    ``"(" 1*address ")"`` (and RFC 2342's NAMESPACE is the same), so
    ``((...)(...) "MIXED")``. A list after a string, as in a message/rfc822
    part's ``envelope SP body``, keeps its space.
    """
    if value is None:
        return b"NIL"
    if isinstance(value, bool):
        raise TypeError("IMAP has no booleans")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("IMAP numbers are unsigned")
        return b"%d" % value
    if isinstance(value, Atom):
        return _bytes(value)
    if isinstance(value, str):
        return astring(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return string(bytes(value))
    if isinstance(value, (list, tuple)):
        out = bytearray(b"(")
        leading = True  # still in the run of lists at the start
        for i, item in enumerate(value):
            is_list = isinstance(item, (list, tuple))
            leading = leading and is_list
            if i and not leading:
                out += b" "
            out += render(item)
        return bytes(out + b")")
    raise TypeError(f"cannot render {type(value).__name__} as IMAP data")
