"""The MIME tree figure (mailcourse.viz.mime): IMAP's part numbers, words a reader can follow, the same bytes each time.

The numbers are checked against the lab's own IMAP server: what a client
gets for BODY[n] of each numbered leaf must be that leaf's content, and the
leaves' sizes must be the body sizes BODYSTRUCTURE reports.
"""
from __future__ import annotations

import email.policy
import re
from email.message import EmailMessage

import pytest

from mailcourse import corpus
from mailcourse.protocols.imap.mime import parse_message, section_bytes
from mailcourse.protocols.imap.response import render
from mailcourse.protocols.imap.structure import bodystructure
from mailcourse.viz.mime import mime_tree, tree_parts


def _invite() -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "joe@someplace.org", "jane@somewhereelse.com", "Dinner on Friday"
    msg.set_content("Dinner on Friday?\nJoe")
    msg.add_alternative("<p>Dinner on <b>Friday</b>?</p>", subtype="html")
    msg.add_attachment(b"%PDF-1.4 not really", maintype="application", subtype="pdf", filename="menu.pdf")
    msg.set_boundary("=_outer")
    msg.get_payload(0).set_boundary("=_inner")
    return msg


def test_the_words_are_an_indented_tree_of_types_with_imap_numbers() -> None:
    assert mime_tree(_invite()).alt.splitlines() == [
        'MIME tree of "Dinner on Friday": 5 parts, 3 with content.',
        "multipart/mixed",
        "  1  multipart/alternative",
        "    1.1  text/plain (7bit, 24 bytes)",
        "    1.2  text/html (7bit, 33 bytes)",
        "  2  application/pdf (base64, 30 bytes, attachment menu.pdf)",
    ]
    assert repr(mime_tree(_invite())) == mime_tree(_invite()).alt


def test_a_message_that_is_not_multipart_is_all_part_1() -> None:
    [part] = tree_parts(corpus.load("lunch"))
    assert (part.number, part.depth, part.content_type, part.kind) == ("1", 0, "text/plain", "leaf")


def test_a_forwarded_message_numbers_its_parts_on_from_its_own() -> None:
    numbers = [(p.number, p.content_type) for p in tree_parts(corpus.load("forward"))]
    assert numbers == [("", "multipart/mixed"), ("1", "text/plain"), ("2", "message/rfc822"), ("2.1", "text/plain")]


@pytest.mark.parametrize("name", corpus.names())
def test_each_numbered_leaf_is_what_imap_sends_for_body_n(name: str) -> None:
    raw = corpus.load(name)
    entity = parse_message(raw)
    structure = render(bodystructure(raw)).decode("utf-8", "surrogateescape")
    for part in tree_parts(raw):
        if not part.number or part.kind == "multipart":
            continue
        size = int(re.search(r"(\d+) bytes", part.note)[1])
        assert len(section_bytes(entity, tuple(int(n) for n in part.number.split(".")))) == size, (name, part)
        assert f" {size}" in structure, (name, part, structure)


def test_attachments_are_told_apart_by_words_and_line_width_not_colour_only() -> None:
    diagram = mime_tree(_invite())
    kinds = {p.content_type: p.kind for p in diagram.parts}
    assert kinds == {"multipart/mixed": "multipart", "multipart/alternative": "multipart", "text/plain": "leaf",
                     "text/html": "leaf", "application/pdf": "attachment"}
    assert "attachment menu.pdf" in diagram.alt


def test_the_same_message_draws_the_same_svg_and_every_label_fits() -> None:
    first, second = mime_tree(_invite()), mime_tree(_invite().as_bytes(policy=email.policy.SMTP))
    assert first.svg() == second.svg() and first.svg().startswith("<svg")
    canvas = first.canvas
    for text, (left, top, right, bottom) in canvas.texts:
        assert 0 <= left and right <= canvas.width and 0 <= top and bottom <= canvas.height, text
