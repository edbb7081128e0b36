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

The message itself is read by two neighbours, whose public names can be
imported from here too: `mailcourse.protocols.imap.mime` splits it into its
MIME tree and cuts out body sections (part numbers, HEADER, TEXT, MIME:
`section_bytes`), and `mailcourse.protocols.imap.structure` writes ENVELOPE
and BODYSTRUCTURE.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .mime import MAX_DEPTH, Entity, HeaderField, parse_message, section_bytes
from .response import astring, date_time, flag_list, literal, render
from .structure import bodystructure, envelope, envelope_of, structure_of
from .types import Atom, Value

# What other modules import from here. The MIME and structure names live in
# mime.py and structure.py and are re-exported for them.
__all__ = [
    "INDEX_ITEMS", "MACROS", "MAX_DEPTH", "MAX_NUMBER", "SIMPLE_ITEMS",
    "Entity", "FetchData", "FetchItem", "HeaderField",
    "bodystructure", "envelope", "needs_message", "parse_fetch_items", "parse_message",
    "render_fetch", "section_bytes", "sets_seen",
]

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
        return render(envelope_of(top))
    if name == "BODYSTRUCTURE":
        return render(structure_of(top, extensible=True))
    if name == "BODY" and item.section is None:
        return render(structure_of(top, extensible=False))
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
