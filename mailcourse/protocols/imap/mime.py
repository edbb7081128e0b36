"""The byte-level MIME splitter: a message as a tree of entities, and IMAP's body sections (RFC 2045, RFC 2046).

Theory of operation
-------------------
A message is a tree of MIME entities (RFC 2045, RFC 2046). `parse_message`
builds that tree as `Entity` objects, each a set of offsets into the raw
message; FETCH (`mailcourse.protocols.imap.fetch`) cuts body sections out of
it and SEARCH (`mailcourse.protocols.imap.search`) reads the text in it.

IMAP numbers the parts of that tree (RFC 3501 section 6.4.5): the parts
of a multipart are 1, 2, 3...; a message/rfc822 part holds a whole message
whose own parts continue the number (3.1, 3.2); a message that is not
multipart has just part 1, its body. After the number may come
``HEADER``, ``HEADER.FIELDS (...)``, ``HEADER.FIELDS.NOT (...)`` and
``TEXT`` (the header or body of a message, so only on a message/rfc822
part) or ``MIME`` (the MIME header of the part itself). `section_bytes`
follows the number and returns the octets.

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
"""
from __future__ import annotations

import email.message
import email.utils
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.policy import compat32

MAX_DEPTH = 64  # deeper MIME nesting than this is shown as text/plain, not followed


# -- the MIME tree (RFC 2045, RFC 2046) -----------------------------------------------------

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
    params = header_params(value)
    if params is None:
        return "text/plain", []
    ctype = params[0][0].lower()
    if ctype.count("/") != 1 or not all(ctype.split("/")) or any(c in ctype for c in " \t\"()<>@,;:\\[]?="):
        return "text/plain", []  # RFC 2045 section 5.2: a syntactically invalid type means text/plain
    return ctype, params[1:]


def header_params(value: str, header: str = "content-type") -> list[tuple[str, str]] | None:
    """``type; a=1; b*=utf-8''x`` as [("type", ""), ("a", "1"), ("b", "x")] (RFC 2045, RFC 2231), or None."""
    try:
        holder = email.message.Message(policy=compat32)
        holder[header] = value
        params = holder.get_params(header=header) or []
        return [(str(k).lower() if i else str(k), email.utils.collapse_rfc2231_value(v))
                for i, (k, v) in enumerate(params)] or None
    except Exception:  # noqa: BLE001 - a header the stdlib cannot read is just a bad header
        return None


# -- body sections (RFC 3501 section 6.4.5) -------------------------------------------------

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
