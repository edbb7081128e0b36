"""A message's MIME tree as a figure: one box per part, numbered as IMAP numbers them.

    >>> from mailcourse.viz.mime import mime_tree
    >>> mime_tree(msg)            # an EmailMessage, or the raw bytes of a message
    >>> print(mime_tree(msg))     # the same tree in words: an indented list of content types

A MIME message is a tree (RFC 2046 section 5.1): a multipart entity holds
parts, each of which may be a multipart again, and a message/rfc822 part
holds a whole message. The leaves carry the content (text, an image, a
PDF), each in its own transfer encoding (RFC 2045 section 6).

The tree is read from the message's bytes by the same splitter that the
lab's IMAP server uses for BODYSTRUCTURE and BODY[1.2]
(`mailcourse.protocols.imap.mime.parse_message`), so the part numbers and
the sizes in the figure are the ones IMAP reports: the parts of a multipart
are 1, 2, 3...; the parts of part 1 are 1.1, 1.2...; a message/rfc822 part
3 holds a message whose parts are 3.1, 3.2; a message that is not
multipart is all part 1 (RFC 3501 section 6.4.5). A size is that of the
part's body as it travels, encoded, in bytes (BODYSTRUCTURE's body size).

An `EmailMessage` is written out first as it would cross the wire
(``policy.SMTP``: CRLF line ends), so a message built in a cell and the
same message in jane's mailbox draw the same tree, boundaries aside.

The figure is a `Diagram` (kind "tree"): drawn on the SVG canvas of
`mailcourse.viz.svg`, and described in words by ``.alt``, which is what a
screen reader says and what nbval compares. ``.parts`` keeps the tree as
data: (number, depth, content type, summary) for each part, in order.
"""
from __future__ import annotations

import email.policy
from dataclasses import dataclass
from email.message import Message

from ..protocols.imap.mime import Entity, parse_message
from .diagram import Diagram
from .style import BLUE, GRAY, ORANGE
from .svg import Canvas, text_width

__all__ = ["Part", "mime_tree", "tree_parts"]

# Layout, in inches; sizes of text in points.
MARGIN, INDENT, ROW, BOX_H = 0.2, 0.45, 0.62, 0.48
TYPE_SIZE, NOTE_SIZE = 10.5, 8.5
PAD = 0.12

# What a box looks like: a multipart is a container (dashed, grey); a leaf is content (solid,
# blue); an attachment is content meant to be saved rather than shown (thick, orange). The line
# style and width tell them apart without colour, and the words in the box say it too.
STYLE = {
    "multipart": {"stroke": GRAY, "fill": "#f2f2f2", "width": 1.2, "dash": (4, 3)},
    "leaf": {"stroke": BLUE, "fill": "#ffffff", "width": 1.2, "dash": None},
    "attachment": {"stroke": ORANGE, "fill": "#fff4e8", "width": 2.4, "dash": None},
}


@dataclass(frozen=True)
class Part:
    """One entity of the tree: its IMAP part number ("" for the top of a multipart), depth and words."""

    number: str
    depth: int
    content_type: str
    note: str  # "7bit, 61 bytes", "base64, 818 bytes, attachment menu.pdf"; "" for a multipart
    kind: str  # "multipart", "leaf" or "attachment"

    @property
    def label(self) -> str:
        return f"{self.number}  {self.content_type}" if self.number else self.content_type

    @property
    def line(self) -> str:
        """The part as a line of the alt text: indented, numbered, described."""
        return "  " * self.depth + self.label + (f" ({self.note})" if self.note else "")


def _raw(msg: Message | bytes) -> bytes:
    if isinstance(msg, (bytes, bytearray)):
        return bytes(msg)
    return msg.as_bytes(policy=email.policy.SMTP)


def _note(entity: Entity) -> tuple[str, str]:
    """The words under a leaf's type, and whether it is an attachment."""
    words = [entity.encoding.lower(), f"{len(entity.body)} bytes"]
    disposition = (entity.text_value("Content-Disposition") or "").split(";", 1)[0].strip().lower()
    name = _filename(entity)
    if disposition == "attachment":
        words.append(f"attachment {name}" if name else "attachment")
        return ", ".join(words), "attachment"
    if name:
        words.append(name)
    return ", ".join(words), "leaf"


def _filename(entity: Entity) -> str:
    disposition = entity.text_value("Content-Disposition")
    if disposition:
        header = Message()
        header["Content-Disposition"] = disposition
        name = header.get_param("filename", header="Content-Disposition")
        if isinstance(name, str):
            return name
    return entity.param("name") or ""


def tree_parts(msg: Message | bytes) -> list[Part]:
    """The message's entities in order, depth first, with IMAP's part numbers (RFC 3501 section 6.4.5)."""
    found: list[Part] = []

    def visit(entity: Entity, number: str, depth: int) -> None:
        if entity.parts:  # a multipart: a container, numbered by its place; its parts go on from it
            found.append(Part(number, depth, entity.content_type, "", "multipart"))
            for i, part in enumerate(entity.parts, start=1):
                visit(part, f"{number}.{i}" if number else str(i), depth + 1)
            return
        note, kind = _note(entity)
        found.append(Part(number or "1", depth, entity.content_type, note, kind))
        inner = entity.message
        if inner is not None:  # message/rfc822: a whole message inside, its parts numbered on from this one
            if inner.parts:
                for i, part in enumerate(inner.parts, start=1):
                    visit(part, f"{number}.{i}", depth + 1)
            else:
                inner_note, inner_kind = _note(inner)
                found.append(Part(f"{number}.1", depth + 1, inner.content_type, inner_note, inner_kind))

    visit(parse_message(_raw(msg)), "", 0)
    return found


def _alt(parts: list[Part], subject: str) -> str:
    leaves = sum(p.kind != "multipart" for p in parts)
    what = f"MIME tree of {subject}" if subject else "MIME tree"
    head = f"{what}: {len(parts)} part{'s' * (len(parts) != 1)}, {leaves} with content."
    return "\n".join([head, *(p.line for p in parts)])


def _draw(parts: list[Part]) -> Canvas:
    widths = [p.depth * INDENT + PAD * 2 + max(text_width(p.label, TYPE_SIZE, bold=True),
                                                 text_width(p.note, NOTE_SIZE)) for p in parts]
    width = MARGIN * 2 + max(widths)
    height = MARGIN * 2 + ROW * (len(parts) - 1) + BOX_H
    canvas = Canvas(width, height)
    # Connectors first, so that boxes cover their ends: from below a parent's left edge down to
    # each child's row, then right to the child's box.
    for i, part in enumerate(parts):
        parent = next((j for j in range(i - 1, -1, -1) if parts[j].depth == part.depth - 1), None)
        if parent is None:
            continue
        x = MARGIN + parts[parent].depth * INDENT + INDENT / 2
        y_child = MARGIN + ROW * i + BOX_H / 2
        canvas.line(x, MARGIN + ROW * parent + BOX_H, x, y_child, colour=GRAY, width=1.0)
        canvas.line(x, y_child, MARGIN + part.depth * INDENT, y_child, colour=GRAY, width=1.0)
    for i, (part, wide) in enumerate(zip(parts, widths)):
        style = STYLE[part.kind]
        x, y = MARGIN + part.depth * INDENT, MARGIN + ROW * i
        w = max(wide - part.depth * INDENT, 1.2)
        if style["dash"]:  # a container: filled, with a dashed outline drawn side by side
            canvas.rect(x, y, w, BOX_H, fill=style["fill"])
            for x1, y1, x2, y2 in ((x, y, x + w, y), (x + w, y, x + w, y + BOX_H), (x + w, y + BOX_H, x, y + BOX_H),
                                   (x, y + BOX_H, x, y)):
                canvas.line(x1, y1, x2, y2, colour=style["stroke"], width=style["width"], dash=style["dash"])
        else:
            canvas.rect(x, y, w, BOX_H, fill=style["fill"], stroke=style["stroke"], width=style["width"],
                        radius=0.05)
        if part.note:
            canvas.text(x + PAD, y + 0.07, part.label, size=TYPE_SIZE, colour="#1a1a1a", baseline="top", bold=True)
            canvas.text(x + PAD, y + BOX_H - 0.07, part.note, size=NOTE_SIZE, colour="#333333", baseline="bottom")
        else:
            canvas.text(x + PAD, y + BOX_H / 2, part.label, size=TYPE_SIZE, colour="#1a1a1a", baseline="middle",
                        bold=True)
    return canvas


def mime_tree(msg: Message | bytes) -> Diagram:
    """The MIME tree of a message (an `email.message.Message` or its bytes) as a figure with its words."""
    raw = _raw(msg)
    parts = tree_parts(raw)
    subject = parse_message(raw).text_value("Subject")
    diagram = Diagram(draw=lambda: _draw(parts), alt=_alt(parts, f'"{subject.strip()}"' if subject else ""),
                      kind="tree")
    diagram.parts = parts  # type: ignore[attr-defined]
    return diagram
