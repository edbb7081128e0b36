"""FETCH: what a client may ask about a message, and how the server answers (RFC 3501 sections 6.4.5 and 7.4.2).

Theory of operation
-------------------
``a1 FETCH 1:3 (FLAGS BODY.PEEK[HEADER.FIELDS (FROM)])`` asks, for each of
messages 1 to 3, for a list of *fetch attributes*. The parser hands the
session the attribute list as `Atom` values; `parse_fetch_items` turns them
into `FetchItem` objects (raising ``ValueError``, answered with BAD, for
anything RFC 3501 does not define); for each message the session gathers a
`FetchData` and `render_fetch` writes the inside of ``* 2 FETCH (...)``::

    >>> items = parse_fetch_items([Atom("FLAGS"), Atom("BODY.PEEK[HEADER.FIELDS (FROM)]")])
    >>> render_fetch(items, FetchData(uid=7, flags={"\\\\Seen"}, internaldate=0, size=50,
    ...                               raw=b"From: a@b\\r\\nTo: c@d\\r\\n\\r\\nHi\\r\\n"))
    b'FLAGS (\\\\Seen) BODY[HEADER.FIELDS (FROM)] {13}\\r\\nFrom: a@b\\r\\n\\r\\n'

Cheap attributes (FLAGS, UID, INTERNALDATE, RFC822.SIZE, MODSEQ) come from
the store's index; the rest need the message itself, which `needs_message`
tells the session. Fetching a body section without ``.PEEK`` sets ``\\Seen``
(`sets_seen`): the session does that before rendering, so FLAGS shows it.

Sections and part numbers
-------------------------
A message is a tree of MIME entities (RFC 2045, RFC 2046). IMAP numbers the
parts of that tree (RFC 3501 section 6.4.5): the parts of a multipart are
1, 2, 3...; a message/rfc822 part holds a whole message whose own parts
continue the number (3.1, 3.2); a message that is not multipart has just
part 1, its body. After the number may come ``HEADER``, ``HEADER.FIELDS
(...)``, ``HEADER.FIELDS.NOT (...)`` and ``TEXT`` (the header or body of a
message, so only on a message/rfc822 part) or ``MIME`` (the MIME header of
the part itself).

Every section is a slice of the stored bytes, so that a client that fetches
``BODY[HEADER]`` and ``BODY[TEXT]`` and puts them together gets exactly
``BODY[]``. That is why this module splits messages itself, byte by byte
(`parse_message`): header and body part at the first empty line (RFC 5322
section 2.1), multipart bodies at their ``--boundary`` lines (RFC 2046
section 5.1.1). The standard library's `email` package is used only to read
header values (Content-Type parameters); it would not give back the exact
bytes.

A section that does not exist (part 9 of a two-part message, ``HEADER`` of
a text part) is answered with an empty string, not NIL. RFC 3501 does not
say what to do; the grammar allows both (``nstring``), real servers differ
(Dovecot answers NIL for some cases and an empty string for others), and an
empty string is what a client that asked for text can always handle.

Malformed mail must never break FETCH: a header without an empty line after
it is all header; a multipart without a boundary, or whose boundary never
appears, is shown as text/plain; a garbage Content-Type reads as
text/plain (RFC 2045 section 5.2's default).

ENVELOPE and BODYSTRUCTURE (RFC 3501 section 7.4.2) are returned as plain
Python lists for `mailcourse.protocols.imap.response.render`.
"""
from __future__ import annotations

import email.message
import email.utils
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from email.policy import compat32

from .response import astring, date_time, flag_list, literal, render
from .types import Atom, Value

# RFC 3501 section 6.4.5: the three macros, "equivalent to" these lists.
MACROS: dict[str, tuple[str, ...]] = {
    "ALL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"),
    "FAST": ("FLAGS", "INTERNALDATE", "RFC822.SIZE"),
    "FULL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"),
}
# Attributes without brackets. MODSEQ comes from CONDSTORE (RFC 7162 section 3.1.4).
SIMPLE_ITEMS = frozenset({"FLAGS", "UID", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODYSTRUCTURE", "BODY",
                          "RFC822", "RFC822.HEADER", "RFC822.TEXT", "MODSEQ"})
# What the store's index answers without reading the message file.
INDEX_ITEMS = frozenset({"FLAGS", "UID", "INTERNALDATE", "RFC822.SIZE", "MODSEQ"})

MAX_NUMBER = 0xFFFFFFFF  # RFC 3501 section 9: "number" is an unsigned 32-bit integer
MAX_DEPTH = 64  # deeper MIME nesting than this is shown as text/plain, not followed


# -- what the client asked for ---------------------------------------------------------------

@dataclass(frozen=True)
class FetchItem:
    """One fetch attribute (RFC 3501 section 6.4.5), e.g. ``BODY.PEEK[1.HEADER.FIELDS (TO)]<0.100>``.

    ``name`` is the attribute without ``.PEEK`` or brackets (``"BODY"``,
    ``"FLAGS"``, ``"RFC822.HEADER"``...). For ``BODY[...]`` ``section`` is
    the text between the brackets (``""`` for ``BODY[]``), split into
    ``part`` (``(1,)``), ``specifier`` (``"HEADER.FIELDS"``) and ``fields``
    (``("TO",)``); plain ``BODY`` (the structure) has ``section=None``.
    ``partial`` is ``(origin, count)``.
    """

    name: str
    peek: bool = False
    section: str | None = None
    part: tuple[int, ...] = ()
    specifier: str = ""  # "", HEADER, HEADER.FIELDS, HEADER.FIELDS.NOT, TEXT or MIME
    fields: tuple[str, ...] = ()
    partial: tuple[int, int] | None = None

    @property
    def response_name(self) -> str:
        """How the answer names this item: no ``.PEEK``, and only the origin of a partial (RFC 3501 section 7.4.2)."""
        if self.section is None:
            return self.name
        origin = "" if self.partial is None else f"<{self.partial[0]}>"
        return f"{self.name}[{self.section}]{origin}"

    def __str__(self) -> str:
        return self.response_name


def parse_fetch_items(arg: Value) -> list[FetchItem]:
    """The attributes of a FETCH command: a macro, one attribute, or a parenthesized list of attributes.

    Raises ``ValueError`` with a readable text for anything else; the session
    answers BAD. Macros stand alone (RFC 3501 section 9: ``"ALL" / "FULL" /
    "FAST" / fetch-att / "(" fetch-att *(SP fetch-att) ")"``).
    """
    if isinstance(arg, Atom):
        macro = MACROS.get(arg.upper())
        if macro is not None:
            return [FetchItem(name) for name in macro]
        return [_parse_item(arg)]
    if isinstance(arg, list):
        if not arg:
            raise ValueError("FETCH needs at least one attribute inside the parentheses")
        items = []
        for value in arg:
            if not isinstance(value, Atom):  # a client's mistake: ValueError, answered with BAD
                raise ValueError("FETCH attributes are atoms such as FLAGS or BODY[TEXT]")  # noqa: TRY004
            if value.upper() in MACROS:
                raise ValueError(f"the macro {value.upper()} cannot be used inside a list")
            items.append(_parse_item(value))
        return items
    raise ValueError("FETCH attributes are atoms such as FLAGS or BODY[TEXT]")


def _parse_item(atom: str) -> FetchItem:
    head, bracket, rest = atom.partition("[")
    name = head.upper()
    if not bracket:
        if name in SIMPLE_ITEMS:
            return FetchItem(name)
        raise ValueError(f"unknown FETCH attribute {atom}")
    if name not in ("BODY", "BODY.PEEK"):
        raise ValueError(f"only BODY and BODY.PEEK take a [section], not {head}")
    close = rest.rfind("]")
    if close < 0:
        raise ValueError(f"missing ] in {atom}")
    part, specifier, fields = _parse_section(rest[:close])
    partial = _parse_partial(rest[close + 1:])
    return FetchItem("BODY", peek=name == "BODY.PEEK", section=_section_text(part, specifier, fields),
                     part=part, specifier=specifier, fields=fields, partial=partial)


_PARTIAL = re.compile(r"<([0-9]{1,10})\.([0-9]{1,10})>")
_PART_NUMBER = re.compile(r"[0-9]{1,10}")


def _parse_partial(text: str) -> tuple[int, int] | None:
    # RFC 3501 section 9: "<" number "." nz-number ">"
    if not text:
        return None
    match = _PARTIAL.fullmatch(text)
    if not match:
        raise ValueError(f"a partial fetch is <origin.count>, not {text}")
    origin, count = int(match[1]), int(match[2])
    if count == 0 or origin > MAX_NUMBER or count > MAX_NUMBER:
        raise ValueError(f"bad partial range {text}")
    return origin, count


def _parse_section(text: str) -> tuple[tuple[int, ...], str, tuple[str, ...]]:
    """``1.2.HEADER.FIELDS (TO CC)`` -> ``((1, 2), "HEADER.FIELDS", ("TO", "CC"))`` (RFC 3501 section 9, ``section-spec``)."""
    part: list[int] = []
    rest = text
    while number := _PART_NUMBER.match(rest):
        digits = number[0]
        if digits.startswith("0") or int(digits) > MAX_NUMBER:
            raise ValueError(f"bad part number {digits} in [{text}]")
        part.append(int(digits))
        rest = rest[len(digits):]
        if rest.startswith("."):
            rest = rest[1:]
            if not rest:
                raise ValueError(f"section [{text}] ends with a dot")
        elif rest:
            raise ValueError(f"bad section [{text}]")
    keyword, _, fields_text = rest.partition(" ")
    keyword = keyword.upper()
    if keyword in ("HEADER.FIELDS", "HEADER.FIELDS.NOT"):
        return tuple(part), keyword, _parse_header_list(fields_text, text)
    if fields_text or rest.endswith(" "):
        raise ValueError(f"bad section [{text}]")
    if keyword in ("", "HEADER", "TEXT") or (keyword == "MIME" and part):
        return tuple(part), keyword, ()
    raise ValueError(f"bad section [{text}]: MIME needs a part number" if keyword == "MIME"
                     else f"bad section [{text}]")


def _parse_header_list(text: str, section: str) -> tuple[str, ...]:
    # header-list = "(" header-fld-name *(SP header-fld-name) ")", header-fld-name = astring
    if not (text.startswith("(") and text.endswith(")")):
        raise ValueError(f"HEADER.FIELDS needs a list of field names in [{section}]")
    inner, names, i = text[1:-1], [], 0
    while i < len(inner):
        if inner[i] == " ":
            i += 1
        elif inner[i] == '"':
            j, name = i + 1, []
            while j < len(inner) and inner[j] != '"':
                if inner[j] == "\\" and j + 1 < len(inner):
                    j += 1
                name.append(inner[j])
                j += 1
            if j >= len(inner):
                raise ValueError(f"unterminated quoted field name in [{section}]")
            if any(not " " <= c < "\x7f" for c in name):
                raise ValueError(f"bad field name in [{section}]")
            names.append("".join(name))
            i = j + 1
        else:
            j = i
            while j < len(inner) and inner[j] != " ":
                j += 1
            word = inner[i:j]
            if any(c in '(){%*"\\' or not " " < c < "\x7f" for c in word):
                raise ValueError(f"bad field name {word!r} in [{section}]")
            names.append(word)
            i = j
    if not names or any(not n for n in names):
        raise ValueError(f"HEADER.FIELDS needs at least one field name in [{section}]")
    if any(len(n) > 998 for n in names):  # RFC 5322 section 2.1.1: no line is longer
        raise ValueError(f"a field name in [{section}] is too long")
    return tuple(names)


def _section_text(part: tuple[int, ...], specifier: str, fields: tuple[str, ...]) -> str:
    """The section as the answer writes it: keywords in upper case, field names as the client wrote them."""
    text = ".".join(map(str, part))
    if part and specifier:
        text += "."
    text += specifier
    if fields:
        text += " (" + " ".join(astring(f).decode("utf-8", "surrogateescape") for f in fields) + ")"
    return text


def sets_seen(items: list[FetchItem]) -> bool:
    """Whether this FETCH sets ``\\Seen``: BODY[...] without .PEEK, RFC822 and RFC822.TEXT do (RFC 3501 section 6.4.5)."""
    return any(i.name in ("RFC822", "RFC822.TEXT") or (i.name == "BODY" and i.section is not None and not i.peek)
               for i in items)


def needs_message(items: list[FetchItem]) -> bool:
    """Whether any item needs the message's bytes (everything but FLAGS, UID, INTERNALDATE, RFC822.SIZE, MODSEQ)."""
    return any(i.name not in INDEX_ITEMS for i in items)


# -- the answer ------------------------------------------------------------------------------

@dataclass
class FetchData:
    """What the session knows about one message, for `render_fetch`.

    ``raw`` is needed only when `needs_message` says so; ``modseq`` only for
    CONDSTORE's MODSEQ item (RFC 7162), which is left out when it is None.
    """

    uid: int
    flags: Iterable[str]
    internaldate: float
    size: int
    raw: bytes | None = None
    modseq: int | None = None


def render_fetch(items: list[FetchItem], data: FetchData, *, uid: bool = False) -> bytes:
    """The inside of ``* n FETCH (...)``: ``b'UID 4 FLAGS (\\\\Seen) BODY[] {12}\\r\\n...'``.

    Items come in the order asked, each once. With ``uid=True`` (a UID
    FETCH) UID comes first even if not asked: "the UID FETCH command
    always includes the UID data item in its response" (RFC 3501 section 6.4.8).
    """
    out: list[bytes] = []
    done: set[str] = set()
    message: list[Entity] = []  # parsed at most once, and only when an item needs it

    def tree() -> Entity:
        if data.raw is None:
            raise ValueError("this FETCH needs the message: pass FetchData.raw (see needs_message)")
        if not message:
            message.append(parse_message(data.raw))
        return message[0]

    if uid:
        out.append(b"UID %d" % data.uid)
        done.add("UID")
    for item in items:
        name = item.response_name
        if name in done:
            continue
        done.add(name)
        value = _fetch_value(item, data, tree)
        if value is not None:
            out.append(name.encode("utf-8", "surrogateescape") + b" " + value)
    return b" ".join(out)


def _fetch_value(item: FetchItem, data: FetchData, tree: Callable[[], Entity]) -> bytes | None:
    name = item.name
    if name == "FLAGS":
        return flag_list(data.flags)
    if name == "UID":
        return b"%d" % data.uid
    if name == "INTERNALDATE":
        return date_time(data.internaldate)
    if name == "RFC822.SIZE":
        return b"%d" % data.size
    if name == "MODSEQ":  # RFC 7162 section 3.1.4.1: MODSEQ (624140003)
        return None if data.modseq is None else b"(%d)" % data.modseq
    top = tree()
    if name == "ENVELOPE":
        return render(_envelope(top))
    if name == "BODYSTRUCTURE":
        return render(_structure(top, extensible=True))
    if name == "BODY" and item.section is None:
        return render(_structure(top, extensible=False))
    # RFC 3501 section 6.4.5: RFC822 is BODY[], RFC822.HEADER is BODY.PEEK[HEADER], RFC822.TEXT is BODY[TEXT]
    if name == "RFC822":
        return literal(top.whole)
    if name == "RFC822.HEADER":
        return literal(top.header)
    if name == "RFC822.TEXT":
        return literal(top.body)
    content = section_bytes(top, item.part, item.specifier, item.fields)
    if item.partial is not None:
        origin, count = item.partial
        content = content[origin:origin + count]  # past the end: an empty string
    return literal(content)


def section_bytes(top: Entity, part: tuple[int, ...], specifier: str = "", fields: tuple[str, ...] = ()) -> bytes:
    """The octets of one body section, a slice of the raw message; ``b""`` when the section does not exist."""
    if not part:
        entity: Entity | None = top
    else:
        entity = _find_part(top, part)
        if entity is None:
            return b""
        if specifier == "":
            return entity.body
        if specifier == "MIME":
            # (For part 1 of a message that is not multipart, that is the message's header,
            # where its Content-* fields are.)
            return entity.header
        # HEADER, TEXT and HEADER.FIELDS after a part number need a message/rfc822 part.
        entity = entity.message
        if entity is None:
            return b""
    if specifier == "":
        return entity.whole
    if specifier == "HEADER":
        return entity.header
    if specifier == "TEXT":
        return entity.body
    # HEADER.FIELDS and .NOT: "The field-matching is case-insensitive but otherwise
    # exact. Subsetting does not exclude the [RFC-2822] delimiting blank line"
    wanted = {f.lower() for f in fields}
    keep = specifier == "HEADER.FIELDS"
    lines = [f.lines for f in entity.fields if (f.name is not None and f.name.lower() in wanted) == keep]
    return b"".join(lines) + entity.blank_line


def _find_part(top: Entity, path: tuple[int, ...]) -> Entity | None:
    """Follow a part number such as 4.2.1 down the MIME tree (RFC 3501 section 6.4.5's example)."""
    entity, at_message = top, True
    for n in path:
        if not at_message and entity.message is not None:
            entity, at_message = entity.message, True  # into a message/rfc822 part: its parts go on
        if entity.parts:
            if n > len(entity.parts):
                return None
            entity = entity.parts[n - 1]
        elif not (at_message and n == 1):
            return None  # a message that is not multipart has just part 1, its body: itself
        at_message = False
    return entity


# -- the byte-level MIME splitter ------------------------------------------------------------

@dataclass
class HeaderField:
    """One header field, with its continuation lines, exactly as stored (line ends included).

    ``name`` is None for a line that is no field at all (no colon), which a
    malformed header may have.
    """

    name: str | None
    lines: bytes

    @property
    def value(self) -> bytes:
        """The text after the colon, unfolded (RFC 5322 section 2.2.3) and stripped; not decoded."""
        raw = self.lines.partition(b":")[2] if self.name is not None else self.lines
        return re.sub(rb"\r?\n(?=[ \t])", b"", raw).strip()


@dataclass
class Entity:
    """One MIME entity (a message or a body part) as offsets into the raw message.

    ``header`` ends with the empty line that ends it (``blank_line``), when
    there is one; ``header + body == whole``. A multipart has ``parts``; a
    message/rfc822 part has the encapsulated ``message``.
    """

    raw: bytes
    start: int
    body_start: int
    end: int
    fields: list[HeaderField]
    blank_line: bytes
    content_type: str = "text/plain"
    params: list[tuple[str, str]] = field(default_factory=list)
    parts: list[Entity] = field(default_factory=list)
    message: Entity | None = None

    @property
    def header(self) -> bytes:
        return self.raw[self.start:self.body_start]

    @property
    def body(self) -> bytes:
        return self.raw[self.body_start:self.end]

    @property
    def whole(self) -> bytes:
        return self.raw[self.start:self.end]

    def get(self, name: str) -> HeaderField | None:
        """The first field with this name (case-insensitive), or None."""
        name = name.lower()
        return next((f for f in self.fields if f.name is not None and f.name.lower() == name), None)

    def value(self, name: str) -> bytes | None:
        found = self.get(name)
        return None if found is None else found.value

    def text_value(self, name: str) -> str | None:
        found = self.value(name)
        return None if found is None else found.decode("utf-8", "surrogateescape")

    def param(self, name: str) -> str | None:
        return next((v for k, v in self.params if k == name), None)

    @property
    def encoding(self) -> str:
        """Content-Transfer-Encoding in upper case; 7BIT when absent (RFC 2045 section 6.1)."""
        words = (self.text_value("Content-Transfer-Encoding") or "").split()
        return words[0].upper() if words else "7BIT"

    def walk(self) -> Iterator[Entity]:
        """This entity and everything inside it, depth first."""
        yield self
        for part in self.parts:
            yield from part.walk()
        if self.message is not None:
            yield from self.message.walk()


def parse_message(raw: bytes) -> Entity:
    """Split a message into its MIME tree; never raises (malformed parts degrade to text/plain)."""
    return _entity(raw, 0, len(raw), "text/plain", 0)


def _entity(raw: bytes, start: int, end: int, default_type: str, depth: int) -> Entity:
    fields, body_start, blank = _split_header(raw, start, end)
    entity = Entity(raw, start, body_start, end, fields, blank)
    entity.content_type, entity.params = _content_type(entity, default_type)
    if depth >= MAX_DEPTH:
        entity.content_type, entity.params = "text/plain", []
    elif entity.content_type.startswith("multipart/"):
        boundary = entity.param("boundary")
        spans = _split_multipart(raw, body_start, end, boundary.encode("utf-8", "surrogateescape")) if boundary else []
        # RFC 2046 section 5.1.5: in a multipart/digest a part is message/rfc822 by default.
        child_default = "message/rfc822" if entity.content_type == "multipart/digest" else "text/plain"
        entity.parts = [_entity(raw, s, e, child_default, depth + 1) for s, e in spans]
        if not entity.parts:  # no boundary, or it never appears: show the body as text
            entity.content_type, entity.params = "text/plain", []
    elif entity.content_type == "message/rfc822" and entity.encoding in ("7BIT", "8BIT", "BINARY"):
        # RFC 2046 section 5.2.1 allows no other encoding here; an encoded one stays opaque.
        entity.message = _entity(raw, body_start, end, "text/plain", depth + 1)
    return entity


def _split_header(raw: bytes, start: int, end: int) -> tuple[list[HeaderField], int, bytes]:
    """The fields up to the first empty line, where the body starts, and that empty line (RFC 5322 section 2.1).

    Without an empty line the whole entity is header and the body is empty.
    """
    fields: list[HeaderField] = []
    pos = start
    while pos < end:
        newline = raw.find(b"\n", pos, end)
        line_end = end if newline < 0 else newline + 1
        line = raw[pos:line_end]
        if line in (b"\r\n", b"\n"):
            return fields, line_end, line
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1].lines += line  # a continuation line belongs to the field above
        else:
            name, colon, _ = line.partition(b":")
            name = name.strip()
            fields.append(HeaderField(name.decode("utf-8", "surrogateescape") if colon and name else None, line))
        pos = line_end
    return fields, end, b""


def _split_multipart(raw: bytes, start: int, end: int, boundary: bytes) -> list[tuple[int, int]]:
    """The (start, end) of each body part between ``--boundary`` lines (RFC 2046 section 5.1.1).

    "The boundary delimiter MUST occur at the beginning of a line, i.e.,
    following a CRLF, and the initial CRLF is considered to be attached to
    the boundary delimiter line rather than part of the preceding part." A
    delimiter line may have white space after it; ``--boundary--`` closes.
    Without a closing delimiter the last part runs to the end.
    """
    delimiter = b"--" + boundary
    spans: list[tuple[int, int]] = []
    open_at: int | None = None
    pos = start
    while True:
        at = raw.find(delimiter, pos, end)
        if at < 0:
            break
        pos = at + len(delimiter)
        if at != start and raw[at - 1:at] != b"\n":
            continue  # not at the beginning of a line
        newline = raw.find(b"\n", pos, end)
        line_end = end if newline < 0 else newline + 1
        rest = raw[pos:line_end].rstrip(b"\r\n")
        closing = rest.startswith(b"--")
        if rest[2 if closing else 0:].strip(b" \t"):
            continue  # "--boundaryX": a longer word, not our delimiter
        if open_at is not None:
            part_end = at - 2 if raw[at - 2:at] == b"\r\n" else at - 1 if at > start else at
            spans.append((open_at, max(open_at, part_end)))
        if closing:
            open_at = None
            break
        open_at = line_end
        pos = line_end
    if open_at is not None:
        spans.append((open_at, end))
    return spans


def _content_type(entity: Entity, default_type: str) -> tuple[str, list[tuple[str, str]]]:
    """Content-Type as ("type/subtype", [(param, value)...]), names lower case, read with the stdlib."""
    value = entity.text_value("Content-Type")
    if value is None:
        return default_type, []
    params = _params(value)
    if params is None:
        return "text/plain", []
    ctype = params[0][0].lower()
    if ctype.count("/") != 1 or not all(ctype.split("/")) or any(c in ctype for c in " \t\"()<>@,;:\\[]?="):
        return "text/plain", []  # RFC 2045 section 5.2: a syntactically invalid type means text/plain
    return ctype, params[1:]


def _params(value: str, header: str = "content-type") -> list[tuple[str, str]] | None:
    """``type; a=1; b*=utf-8''x`` as [("type", ""), ("a", "1"), ("b", "x")] (RFC 2045, RFC 2231), or None."""
    try:
        holder = email.message.Message(policy=compat32)
        holder[header] = value
        params = holder.get_params(header=header) or []
        return [(str(k).lower() if i else str(k), email.utils.collapse_rfc2231_value(v))
                for i, (k, v) in enumerate(params)] or None
    except Exception:  # noqa: BLE001 - a header the stdlib cannot read is just a bad header
        return None


# -- ENVELOPE (RFC 3501 section 7.4.2) -------------------------------------------------------

def envelope(raw: bytes) -> list:
    """ENVELOPE as a list for `render`: date, subject, from, sender, reply-to, to, cc, bcc, in-reply-to, message-id."""
    return _envelope(parse_message(raw))


def _envelope(message: Entity) -> list:
    """RFC 3501 section 7.4.2: header values as they are (no RFC 2047 decoding), addresses taken apart.

    "If the Sender or Reply-To lines are absent in the [RFC-2822] header, or
    are present but empty, the server sets the corresponding member of the
    envelope to be the same value as the from member."
    """
    sender_from = _addresses(message.value("From"))
    sender = _addresses(message.value("Sender")) or sender_from
    reply_to = _addresses(message.value("Reply-To")) or sender_from
    return [message.value("Date"), message.value("Subject"), sender_from, sender, reply_to,
            _addresses(message.value("To")), _addresses(message.value("Cc")), _addresses(message.value("Bcc")),
            message.value("In-Reply-To"), message.value("Message-ID")]


_SPECIALS = "<>:;@,."


def _addresses(value: bytes | None) -> list | None:
    """An address list as IMAP's ``(name adl mailbox host)`` structures, or None (NIL) when there is none.

    RFC 3501 section 7.4.2: "[RFC-2822] group syntax is indicated by a
    special form of address structure in which the host name field is NIL.
    If the mailbox name field is also NIL, this is an end of group marker
    (semi-colon in RFC 822 syntax). If the mailbox name field is non-NIL,
    this is a start of group marker, and the mailbox name field holds the
    group name phrase." A word without ``@`` (``To: root``) gets an empty
    host, not NIL, so that it is not read as a group.
    """
    if not value:
        return None
    tokens = _address_tokens(value.decode("utf-8", "surrogateescape"))
    out: list[list] = []
    i, in_group = 0, False
    while i < len(tokens):
        kind, text = tokens[i]
        if kind == "special" and text in ",;>":
            if text == ";" and in_group:
                out.append([None, None, None, None])
                in_group = False
            i += 1
            continue
        words, comments = [], []
        while i < len(tokens) and not (tokens[i][0] == "special" and tokens[i][1] in "<>:;@,"):
            (comments if tokens[i][0] == "comment" else words).append(tokens[i])
            i += 1
        stop = tokens[i][1] if i < len(tokens) else ""
        comment = comments[-1][1].strip() if comments else ""  # "jdoe@host (John Doe)": an old way to give a name
        if stop == ":" and not in_group:
            out.append([None, None, _bytes(_phrase(words)), None])
            in_group = True
            i += 1
        elif stop == "<":
            route, local, domain, i = _angle_address(tokens, i + 1)
            out.append([_bytes(_phrase(words) or comment or None), _bytes(route or None), _bytes(local), _bytes(domain)])
        elif stop == "@":
            domain_words: list[tuple[str, str]] = []
            i += 1
            while i < len(tokens) and not (tokens[i][0] == "special" and tokens[i][1] in ",;<>"):
                if tokens[i][0] == "comment":
                    comment = tokens[i][1].strip()
                else:
                    domain_words.append(tokens[i])
                i += 1
            out.append([_bytes(comment or None), None, _bytes(_dotted(words)), _bytes(_dotted(domain_words))])
        else:
            if words:  # a bare word: a mailbox without a domain
                out.append([_bytes(comment or None), None, _bytes(_dotted(words)), b""])
            if stop == ":":
                i += 1  # a ":" inside a group is out of place: skip it
    if in_group:
        out.append([None, None, None, None])  # a group that never closed
    return out or None


def _angle_address(tokens: list[tuple[str, str]], i: int) -> tuple[str, str, str, int]:
    """``<@route,@route:local@domain>`` from just after ``<``: the route (IMAP's adl), local part, domain."""
    route = ""
    if i < len(tokens) and tokens[i] == ("special", "@"):  # obs-route, RFC 5322 section 4.4
        j = i
        while j < len(tokens) and tokens[j] != ("special", ":") and tokens[j] != ("special", ">"):
            j += 1
        if j < len(tokens) and tokens[j] == ("special", ":"):
            route = "".join(t for k, t in tokens[i:j] if k != "comment")
            i = j + 1
    local: list[tuple[str, str]] = []
    while i < len(tokens) and tokens[i] not in (("special", "@"), ("special", ">")):
        if tokens[i][0] != "comment":
            local.append(tokens[i])
        i += 1
    domain: list[tuple[str, str]] = []
    if i < len(tokens) and tokens[i] == ("special", "@"):
        i += 1
        while i < len(tokens) and tokens[i] != ("special", ">"):
            if tokens[i][0] != "comment":
                domain.append(tokens[i])
            i += 1
    return route, _dotted(local), _dotted(domain), i + 1


def _address_tokens(text: str) -> list[tuple[str, str]]:
    """RFC 5322 section 3.2 lexical tokens: ("word", ...), ("special", c) and ("comment", ...); white space dropped."""
    tokens: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in " \t\r\n":
            i += 1
        elif c == '"':
            j, chars = i + 1, []
            while j < n and text[j] != '"':
                if text[j] == "\\" and j + 1 < n:
                    j += 1
                if text[j] not in "\r\n":
                    chars.append(text[j])
                j += 1
            tokens.append(("word", "".join(chars)))
            i = j + 1
        elif c == "(":
            depth, j, chars = 1, i + 1, []
            while j < n and depth:
                if text[j] == "\\" and j + 1 < n:
                    j += 1
                elif text[j] == "(":
                    depth += 1
                elif text[j] == ")":
                    depth -= 1
                if depth:
                    chars.append(text[j])
                j += 1
            tokens.append(("comment", "".join(chars)))
            i = j
        elif c == "[":  # a domain literal such as [127.0.0.1]
            j = text.find("]", i)
            j = n if j < 0 else j + 1
            tokens.append(("word", text[i:j]))
            i = j
        elif c in _SPECIALS:
            tokens.append(("special", c))
            i += 1
        else:
            j = i
            while j < n and text[j] not in ' \t\r\n"()[' and text[j] not in _SPECIALS:
                j += 1
            tokens.append(("word", text[i:j]))
            i = j
    return tokens


def _phrase(words: list[tuple[str, str]]) -> str:
    """A display name: words with single spaces, a "." kept next to the word before it ("John Q. Public")."""
    out = ""
    for kind, text in words:
        out += text if kind == "special" or not out else " " + text
    return out


def _dotted(words: list[tuple[str, str]]) -> str:
    """A local part or a domain: words and dots with nothing between them."""
    return "".join(text for _, text in words)


def _bytes(text: str | None) -> bytes | None:
    return None if text is None else text.encode("utf-8", "surrogateescape")


# -- BODYSTRUCTURE and BODY (RFC 3501 section 7.4.2) -----------------------------------------

def bodystructure(raw: bytes, extensible: bool = True) -> list:
    """BODYSTRUCTURE (``extensible=True``) or BODY (without extension data) as a list for `render`."""
    return _structure(parse_message(raw), extensible)


def _structure(entity: Entity, extensible: bool) -> list:
    """One entity's structure, following RFC 3501 section 9's ``body`` grammar.

    body-type-mpart = 1*body SP media-subtype [SP body-ext-mpart]
    body-type-1part = (body-type-basic / body-type-msg / body-type-text) [SP body-ext-1part]
    body-fields     = body-fld-param SP body-fld-id SP body-fld-desc SP body-fld-enc SP body-fld-octets
    """
    maintype, _, subtype = entity.content_type.upper().partition("/")
    if entity.parts:
        out: list = [_structure(p, extensible) for p in entity.parts] + [subtype.encode()]
        if extensible:  # body-ext-mpart = body-fld-param [SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc]]]
            out += [_param_list(entity.params)] + _extension_tail(entity)
        return out
    params = entity.params
    if maintype == "TEXT" and entity.param("charset") is None:
        params = [("charset", "US-ASCII")] + params  # RFC 2045 section 5.2: the default charset
    body = entity.body
    out = [maintype.encode(), subtype.encode(), _param_list(params), entity.value("Content-ID"),
           entity.value("Content-Description"), entity.encoding.encode("utf-8", "surrogateescape"), len(body)]
    if maintype == "TEXT":
        out.append(_lines(body))  # body-type-text adds body-fld-lines
    elif entity.message is not None:  # body-type-msg: envelope SP body SP body-fld-lines
        out += [_envelope(entity.message), _structure(entity.message, extensible), _lines(body)]
    if extensible:  # body-ext-1part = body-fld-md5 [SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc]]]
        out += [entity.value("Content-MD5")] + _extension_tail(entity)
    return out


def _extension_tail(entity: Entity) -> list:
    """body-fld-dsp, body-fld-lang, body-fld-loc: Content-Disposition (RFC 2183), -Language (RFC 3282), -Location (RFC 2557)."""
    disposition = None
    value = entity.text_value("Content-Disposition")
    if value:
        params = _params(value, "content-disposition")
        if params and params[0][0]:
            disposition = [params[0][0].upper().encode("utf-8", "surrogateescape"), _param_list(params[1:])]
    languages = [w.strip() for w in (entity.text_value("Content-Language") or "").split(",") if w.strip()]
    language: object = None
    if len(languages) == 1:
        language = _bytes(languages[0])
    elif languages:
        language = [_bytes(w) for w in languages]
    return [disposition, language, entity.value("Content-Location")]


def _param_list(params: list[tuple[str, str]]) -> list | None:
    """body-fld-param: ``("CHARSET" "US-ASCII" "NAME" "x")`` or NIL. Names in upper case, values as written."""
    out: list = []
    for name, value in params:
        out += [name.upper().encode("utf-8", "surrogateescape"), value.encode("utf-8", "surrogateescape")]
    return out or None


def _lines(body: bytes) -> int:
    """body-fld-lines: the number of lines, counting a last line without a line end."""
    return body.count(b"\n") + (1 if body and not body.endswith(b"\n") else 0)
