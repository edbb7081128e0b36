"""IMAP FETCH and the writing of IMAP data, without a network (RFC 3501 sections 4, 6.4.5 and 7.4.2).

The messages here are built from named pieces (a header, a body, a part), so
that what each section must return is one of those pieces, not something
worked out by the code under test. RFC 3501's own examples appear as they
are printed in the RFC: the part numbers of section 6.4.5 and the ENVELOPE
and BODY of section 8.

`read_imap` at the end of the helpers reads IMAP data back (atoms, quoted
strings, literals by their octet count, lists): the tests compare shapes
with it, and the hypothesis test checks that whatever FETCH writes can be read.
"""
from __future__ import annotations

import doctest
import imaplib
import re
import time

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

import mailcourse.protocols.imap.fetch
import mailcourse.protocols.imap.mime
import mailcourse.protocols.imap.response
import mailcourse.protocols.imap.structure
from mailcourse.protocols.imap.fetch import (
    FetchData,
    FetchItem,
    needs_message,
    parse_fetch_items,
    render_fetch,
    sets_seen,
)
from mailcourse.protocols.imap.mime import parse_message
from mailcourse.protocols.imap.response import (
    astring,
    date_time,
    flag_list,
    literal,
    nstring,
    quoted,
    render,
    string,
)
from mailcourse.protocols.imap.structure import bodystructure, envelope
from mailcourse.protocols.imap.types import Atom

# -- helpers ---------------------------------------------------------------------------------


def entity(header: bytes, body: bytes) -> bytes:
    """A header (its fields, each ending in CRLF), the empty line, the body."""
    return header + b"\r\n" + body


def multipart(boundary: bytes, parts: list[bytes], preamble: bytes = b"", epilogue: bytes = b"") -> bytes:
    """A multipart body (RFC 2046 section 5.1.1): the CRLF before each ``--boundary`` belongs to the delimiter."""
    out = preamble
    for part in parts:
        out += b"--" + boundary + b"\r\n" + part + b"\r\n"
    return out + b"--" + boundary + b"--\r\n" + epilogue


def fetch(raw: bytes, *atoms: str, uid: bool = False, **data: object) -> bytes:
    items = parse_fetch_items([Atom(a) for a in atoms])
    return render_fetch(items, FetchData(uid=data.pop("uid_value", 1), flags=data.pop("flags", ()),  # type: ignore[arg-type]
                                         internaldate=0, size=len(raw), raw=raw, **data), uid=uid)  # type: ignore[arg-type]


def section(raw: bytes, spec: str) -> bytes:
    """What ``BODY.PEEK[spec]`` returns, the literal taken apart again."""
    out = fetch(raw, f"BODY.PEEK[{spec}]")
    name = f"BODY[{spec}] ".encode()
    assert out.startswith(name)
    value = out[len(name):]
    size, _, content = value.partition(b"\r\n")
    assert size == b"{%d}" % len(content), out
    return content


def read_imap(data: bytes) -> list:
    """IMAP data as Python: NIL -> None, numbers -> int, atoms -> str, strings -> bytes, lists -> list.

    An atom such as ``BODY[HEADER.FIELDS (TO)]<0>`` is one atom up to its
    closing bracket. Raises AssertionError for anything malformed.
    """
    pos = 0

    def value() -> object:
        nonlocal pos
        c = data[pos:pos + 1]
        if c == b"(":
            pos += 1
            items = []
            while data[pos:pos + 1] != b")":
                assert pos < len(data), "unclosed list"
                if data[pos:pos + 1] == b" ":
                    pos += 1
                items.append(value())
            pos += 1
            return items
        if c == b'"':
            out = bytearray()
            pos += 1
            while data[pos:pos + 1] != b'"':
                assert pos < len(data), "unclosed quoted string"
                if data[pos:pos + 1] == b"\\":
                    pos += 1
                    assert data[pos:pos + 1] in (b"\\", b'"'), "bad escape"
                assert data[pos] not in b"\r\n\0" and data[pos] < 0x80, "CR, LF, NUL or 8-bit in a quoted string"
                out.append(data[pos])
                pos += 1
            pos += 1
            return bytes(out)
        if c == b"{":
            match = re.compile(rb"\{([0-9]+)\}\r\n").match(data, pos)
            assert match, "bad literal"
            pos = match.end() + int(match[1])
            assert pos <= len(data), "literal runs past the end"
            return data[match.end():pos]
        match = re.compile(rb"[^ ()\[\]{\"\r\n]+(\[[^\]]*\](<[0-9]+>)?)?").match(data, pos)
        assert match, f"unexpected {data[pos:pos + 10]!r}"
        pos = match.end()
        word = match[0].decode()
        return None if word == "NIL" else int(word) if word.isdigit() else word

    items = []
    while pos < len(data):
        if data[pos:pos + 1] == b" " and items:
            pos += 1
        items.append(value())
    return items


def fetch_dict(raw: bytes, *atoms: str, **kw: object) -> dict[str, object]:
    """A FETCH answer as {name: value}, read back with `read_imap`."""
    values = read_imap(fetch(raw, *atoms, **kw))
    assert len(values) % 2 == 0
    return dict(zip(values[::2], values[1::2]))


# -- response.py: atoms, strings, lists ------------------------------------------------------

def test_quoted_escapes_backslash_and_quote():
    assert quoted('say "hi" \\o/') == b'"say \\"hi\\" \\\\o/"'


@pytest.mark.parametrize("bad", [b"a\r\nb", b"nul\0", "caf\u00e9".encode()])
def test_quoted_refuses_what_only_a_literal_can_carry(bad):
    with pytest.raises(ValueError):
        quoted(bad)


@pytest.mark.parametrize(("value", "expected"), [
    (b"hello", b'"hello"'),
    (b"", b'""'),
    ("caf\u00e9", b"{5}\r\ncaf\xc3\xa9"),  # 8-bit: a literal
    (b"two\r\nlines", b"{10}\r\ntwo\r\nlines"),  # CRLF: a literal
    (b"x" * 2000, b"{2000}\r\n" + b"x" * 2000),  # long: a literal
])
def test_string_is_quoted_when_safe_else_a_literal(value, expected):
    assert string(value) == expected


def test_literal_always_counts_octets():
    assert literal(b"") == b"{0}\r\n"
    assert literal("\u00e9") == b"{2}\r\n\xc3\xa9"


def test_nstring_and_astring():
    assert nstring(None) == b"NIL"
    assert nstring(b"NIL") == b'"NIL"'
    assert astring("INBOX") == b"INBOX"
    assert astring("Sent]") == b"Sent]"  # ASTRING-CHAR allows "]" (RFC 3501 section 9)
    assert astring("My Folder") == b'"My Folder"'
    assert astring("") == b'""'
    assert astring("NIL") == b'"NIL"'  # else a client would read "no value"
    assert astring("a*b") == b'"a*b"'


def test_flag_list_is_stable_and_readable_by_imaplib():
    flags = flag_list(["$Junk", "\\Seen", "\\Answered", "Work", "\\Seen"])
    assert flags == b"(\\Answered \\Seen $Junk Work)"
    assert imaplib.ParseFlags(b"1 (FLAGS " + flags + b")") == (b"\\Answered", b"\\Seen", b"$Junk", b"Work")
    assert flag_list([]) == b"()"


def test_date_time_is_utc_with_a_space_padded_day_and_imaplib_reads_it():
    assert date_time(837571465) == b'"17-Jul-1996 02:44:25 +0000"'
    assert date_time(0) == b'" 1-Jan-1970 00:00:00 +0000"'  # date-day-fixed
    # imaplib gives local time; back to a timestamp, it is the one we started from
    assert time.mktime(imaplib.Internaldate2tuple(b"1 (INTERNALDATE " + date_time(837571465) + b")")) == 837571465


def test_render_values():
    assert render(None) == b"NIL"
    assert render(42) == b"42"
    assert render(Atom("\\Seen")) == b"\\Seen"
    assert render("INBOX") == b"INBOX"
    assert render(b"a b") == b'"a b"'
    assert render([Atom("FLAGS"), [Atom("\\Seen")], None, 3]) == b"(FLAGS (\\Seen) NIL 3)"
    assert render(()) == b"()"
    with pytest.raises(TypeError):
        render(1.5)
    with pytest.raises(TypeError):
        render(True)


def test_render_writes_a_leading_run_of_lists_back_to_back():
    # "(" 1*address ")" and body-type-mpart = 1*body SP media-subtype: no SP between the lists
    assert render([[b"a"], [b"b"], b"MIXED"]) == b'(("a")("b") "MIXED")'
    # but a list after a string keeps its space (body-type-msg: ... envelope SP body SP lines)
    assert render([b"x", [b"a"], [b"b"]]) == b'("x" ("a") ("b"))'


# -- parse_fetch_items -----------------------------------------------------------------------

def test_macros_expand_as_rfc_3501_says():
    names = {m: [i.name for i in parse_fetch_items(Atom(m))] for m in ("ALL", "FAST", "FULL", "all")}
    assert names["ALL"] == ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"]
    assert names["FAST"] == ["FLAGS", "INTERNALDATE", "RFC822.SIZE"]
    assert names["FULL"] == ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"]
    assert names["all"] == names["ALL"]


def test_a_section_is_taken_apart():
    item, = parse_fetch_items(Atom("body.peek[1.2.header.fields (From \"X-Odd Name\")]<0.100>"))
    assert item == FetchItem("BODY", peek=True, section='1.2.HEADER.FIELDS (From "X-Odd Name")', part=(1, 2),
                             specifier="HEADER.FIELDS", fields=("From", "X-Odd Name"), partial=(0, 100))
    assert item.response_name == 'BODY[1.2.HEADER.FIELDS (From "X-Odd Name")]<0>'
    assert parse_fetch_items(Atom("BODY[]"))[0].section == ""
    assert parse_fetch_items(Atom("BODY"))[0].section is None
    assert parse_fetch_items(Atom("BODY[3.MIME]"))[0].specifier == "MIME"


@pytest.mark.parametrize("bad", [
    "FOO", "BODY[", "BODY[HEADER.FIELDS]", "BODY[HEADER.FIELDS ()]", "BODY[HEADER.FIELDS FROM]", "BODY[MIME]",
    "BODY[0]", "BODY[01]", "BODY[1.]", "BODY[1..2]", "BODY[HEADERS]", "BODY[TEXT (X)]", "BODY[]<0.0>",
    "BODY[]<x.1>", "BODY[]<1>", "BODY[]junk", "RFC822.PEEK", "BODY.PEEK", "FLAGS[]", "BODY[99999999999]",
    "BODY[\u00b2]", "BODY[]<\u00b2.1>", 'BODY[HEADER.FIELDS ("a\x01")]', 'BODY[HEADER.FIELDS ("open)]',
    "BODY[HEADER.FIELDS (" + "X" * 999 + ")]", "BODY[]<" + "9" * 5000 + ".1>",
])
def test_bad_attributes_are_value_errors(bad):
    with pytest.raises(ValueError):
        parse_fetch_items(Atom(bad))


@pytest.mark.parametrize("bad", [[], [Atom("FLAGS"), Atom("ALL")], [b"FLAGS"], [[Atom("FLAGS")]], b"FLAGS"])
def test_bad_attribute_lists_are_value_errors(bad):
    with pytest.raises(ValueError):
        parse_fetch_items(bad)


@pytest.mark.parametrize(("atoms", "seen", "needs"), [
    (["FLAGS", "UID", "INTERNALDATE", "RFC822.SIZE", "MODSEQ"], False, False),
    (["ENVELOPE"], False, True),
    (["BODYSTRUCTURE"], False, True),
    (["BODY"], False, True),
    (["BODY.PEEK[]"], False, True),
    (["BODY[]"], True, True),
    (["BODY[1.MIME]"], True, True),
    (["RFC822"], True, True),
    (["RFC822.TEXT"], True, True),
    (["RFC822.HEADER"], False, True),  # "equivalent to BODY.PEEK[HEADER]"
])
def test_which_items_set_seen_and_which_need_the_message(atoms, seen, needs):
    items = parse_fetch_items([Atom(a) for a in atoms])
    assert sets_seen(items) is seen
    assert needs_message(items) is needs


# -- simple items ----------------------------------------------------------------------------

SIMPLE = entity(b"From: joe@someplace.org\r\nSubject: hi\r\n", b"Hello, Jane.\r\n")


def test_index_items_need_no_message():
    items = parse_fetch_items([Atom("UID"), Atom("FLAGS"), Atom("INTERNALDATE"), Atom("RFC822.SIZE")])
    out = render_fetch(items, FetchData(uid=4, flags={"\\Seen"}, internaldate=837571465, size=4286))
    assert out == b'UID 4 FLAGS (\\Seen) INTERNALDATE "17-Jul-1996 02:44:25 +0000" RFC822.SIZE 4286'


def test_uid_fetch_puts_uid_first_and_only_once():
    data = FetchData(uid=9, flags=(), internaldate=0, size=1)
    assert render_fetch(parse_fetch_items(Atom("FLAGS")), data, uid=True) == b"UID 9 FLAGS ()"
    assert render_fetch(parse_fetch_items([Atom("FLAGS"), Atom("UID")]), data, uid=True) == b"UID 9 FLAGS ()"


def test_repeated_items_are_answered_once():
    assert fetch(SIMPLE, "FLAGS", "FLAGS", "BODY[TEXT]", "BODY.PEEK[TEXT]") == b"FLAGS () BODY[TEXT] {14}\r\nHello, Jane.\r\n"


def test_modseq_only_when_the_session_has_one():
    assert fetch(SIMPLE, "MODSEQ", "UID") == b"UID 1"
    assert fetch(SIMPLE, "MODSEQ", modseq=624140003) == b"MODSEQ (624140003)"  # RFC 7162 section 3.1.4.1


def test_rfc822_items():
    assert fetch(SIMPLE, "RFC822") == b"RFC822 {%d}\r\n" % len(SIMPLE) + SIMPLE
    assert fetch(SIMPLE, "RFC822.HEADER") == b"RFC822.HEADER {40}\r\nFrom: joe@someplace.org\r\nSubject: hi\r\n\r\n"
    assert fetch(SIMPLE, "RFC822.TEXT") == b"RFC822.TEXT {14}\r\nHello, Jane.\r\n"
    assert fetch(SIMPLE, "RFC822.SIZE") == b"RFC822.SIZE %d" % len(SIMPLE)


def test_fetch_without_the_message_is_a_callers_mistake():
    with pytest.raises(ValueError):
        render_fetch(parse_fetch_items(Atom("BODY[]")), FetchData(uid=1, flags=(), internaldate=0, size=0))


# -- RFC 3501 section 8's example: ENVELOPE and BODY ------------------------------------------

RFC_HEADER = (b"Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\r\n"
              b"From: Terry Gray <gray@cac.washington.edu>\r\n"
              b"Subject: IMAP4rev1 WG mtg summary and minutes\r\n"
              b"To: imap@cac.washington.edu\r\n"
              b"cc: minutes@CNRI.Reston.VA.US,\r\n John Klensin <KLENSIN@MIT.EDU>\r\n"
              b"Message-Id: <B27397-0100000@cac.washington.edu>\r\n"
              b"MIME-Version: 1.0\r\n"
              b"Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n")
# 92 lines, 3028 octets, as in the RFC
RFC_BODY = b"".join(b"%-30d\r\n" % i for i in range(91)) + b"x" * (3028 - 91 * 32 - 2) + b"\r\n"
RFC_MESSAGE = entity(RFC_HEADER, RFC_BODY)


def test_the_rfc_3501_example_fetch_full():
    out = render_fetch(parse_fetch_items(Atom("FULL")),
                       FetchData(uid=12, flags={"\\Seen"}, internaldate=837596665, size=4286, raw=RFC_MESSAGE))
    assert out == (
        b'FLAGS (\\Seen) INTERNALDATE "17-Jul-1996 09:44:25 +0000" RFC822.SIZE 4286 '
        b'ENVELOPE ("Wed, 17 Jul 1996 02:23:25 -0700 (PDT)" "IMAP4rev1 WG mtg summary and minutes" '
        b'(("Terry Gray" NIL "gray" "cac.washington.edu")) (("Terry Gray" NIL "gray" "cac.washington.edu")) '
        b'(("Terry Gray" NIL "gray" "cac.washington.edu")) ((NIL NIL "imap" "cac.washington.edu")) '
        b'((NIL NIL "minutes" "CNRI.Reston.VA.US")("John Klensin" NIL "KLENSIN" "MIT.EDU")) NIL NIL '
        b'"<B27397-0100000@cac.washington.edu>") '
        b'BODY ("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 3028 92)')


def test_the_rfc_3501_example_multipart_body():
    # RFC 3501 section 7.4.2: BODYSTRUCTURE's example, in its non-extensible form (BODY)
    text = b"".join(b"%-50d\r\n" % i for i in range(22)) + b"theend\r\n"  # 1152 octets, 23 lines
    diff = b"".join(b"A" * 60 + b"\r\n" for _ in range(72)) + b"B" * 88 + b"\r\n"  # 4554 octets, 73 lines
    raw = entity(b"Content-Type: MULTIPART/MIXED; BOUNDARY=xyz\r\n", multipart(b"xyz", [
        entity(b"Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n", text),
        entity(b"Content-Type: TEXT/PLAIN; CHARSET=US-ASCII; NAME=cc.diff\r\n"
               b"Content-ID: <960723163407.20117h@cac.washington.edu>\r\n"
               b"Content-Description: Compiler diff\r\nContent-Transfer-Encoding: BASE64\r\n", diff)]))
    assert fetch(raw, "BODY") == (
        b'BODY (("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 1152 23)("TEXT" "PLAIN" '
        b'("CHARSET" "US-ASCII" "NAME" "cc.diff") "<960723163407.20117h@cac.washington.edu>" "Compiler diff" '
        b'"BASE64" 4554 73) "MIXED")')


# -- RFC 3501 section 6.4.5's example of part numbers ----------------------------------------

P1 = entity(b"Content-Type: text/plain; charset=us-ascii\r\n", b"Part 1: plain text.\r\n")
P2 = entity(b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n", b"AAECAwQF\r\n")
P3_1 = entity(b"Content-Type: text/plain\r\n", b"Part 3.1: text in the forwarded message.\r\n")
P3_2 = entity(b"Content-Type: application/octet-stream\r\n", b"binary-ish 3.2\r\n")
M3_HEADER = b"From: jane@somewhereelse.com\r\nSubject: forwarded\r\nContent-Type: multipart/mixed; boundary=three\r\n"
M3_TEXT = multipart(b"three", [P3_1, P3_2])
M3 = entity(M3_HEADER, M3_TEXT)
P3 = entity(b"Content-Type: message/rfc822\r\nContent-Description: a forwarded message\r\n", M3)
P4_1 = entity(b"Content-Type: image/gif\r\nContent-Transfer-Encoding: base64\r\n"
              b"Content-Disposition: inline; filename=dot.gif\r\n", b"R0lGODlhAQABAAAAACw=\r\n")
P4_2_1 = entity(b"Content-Type: text/plain\r\n", b"Part 4.2.1.\r\n")
P4_2_2_1 = entity(b"Content-Type: text/plain\r\n", b"Part 4.2.2.1, the plain alternative.\r\n")
P4_2_2_2 = entity(b"Content-Type: text/richtext\r\n", b"<bold>Part 4.2.2.2</bold>\r\n")
P4_2_2 = entity(b"Content-Type: multipart/alternative; boundary=\"alt:ernative\"\r\n",
                multipart(b"alt:ernative", [P4_2_2_1, P4_2_2_2]))
M4_2_HEADER = b"From: joe@someplace.org\r\nSubject: deeper\r\nContent-Type: multipart/mixed;\r\n\tboundary=fourtwo\r\n"
M4_2_TEXT = multipart(b"fourtwo", [P4_2_1, P4_2_2], preamble=b"preamble of 4.2\r\n")
M4_2 = entity(M4_2_HEADER, M4_2_TEXT)
P4_2 = entity(b"Content-Type: message/rfc822\r\n", M4_2)
P4 = entity(b"Content-Type: multipart/mixed; boundary=four\r\n", multipart(b"four", [P4_1, P4_2]))
TOP_HEADER = (b"From: Joe <joe@someplace.org>\r\nTo: jane@somewhereelse.com\r\nSubject: the RFC's example\r\n"
              b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"top level\"\r\n")
TOP_TEXT = multipart(b"top level", [P1, P2, P3, P4], preamble=b"This is a MIME message.\r\n",
                     epilogue=b"the epilogue\r\n")
RFC_PARTS = entity(TOP_HEADER, TOP_TEXT)


def body(part: bytes) -> bytes:
    return part.partition(b"\r\n\r\n")[2]


def mime(part: bytes) -> bytes:
    return part.partition(b"\r\n\r\n")[0] + b"\r\n\r\n"


@pytest.mark.parametrize(("spec", "expected"), [
    ("", RFC_PARTS),
    ("HEADER", TOP_HEADER + b"\r\n"),
    ("TEXT", TOP_TEXT),
    ("1", body(P1)),
    ("1.MIME", mime(P1)),
    ("2", body(P2)),
    ("3", M3),
    ("3.MIME", mime(P3)),
    ("3.HEADER", M3_HEADER + b"\r\n"),
    ("3.TEXT", M3_TEXT),
    ("3.1", body(P3_1)),
    ("3.2", body(P3_2)),
    ("3.2.MIME", mime(P3_2)),
    ("4", multipart(b"four", [P4_1, P4_2])),
    ("4.1", body(P4_1)),
    ("4.1.MIME", mime(P4_1)),
    ("4.2", M4_2),
    ("4.2.HEADER", M4_2_HEADER + b"\r\n"),
    ("4.2.TEXT", M4_2_TEXT),
    ("4.2.1", body(P4_2_1)),
    ("4.2.2", multipart(b"alt:ernative", [P4_2_2_1, P4_2_2_2])),
    ("4.2.2.MIME", mime(P4_2_2)),
    ("4.2.2.1", body(P4_2_2_1)),
    ("4.2.2.2", body(P4_2_2_2)),
    # sections that do not exist: an empty string
    ("5", b""), ("1.1", b""), ("4.3", b""), ("4.2.2.3", b""), ("4.2.2.1.1", b""),
    ("2.HEADER", b""), ("1.TEXT", b""), ("4.HEADER.FIELDS (FROM)", b""),
])
def test_rfc_3501_part_numbers(spec, expected):
    assert section(RFC_PARTS, spec) == expected


def test_header_and_text_put_together_are_the_message():
    assert section(RFC_PARTS, "HEADER") + section(RFC_PARTS, "TEXT") == section(RFC_PARTS, "")
    assert section(RFC_PARTS, "3.HEADER") + section(RFC_PARTS, "3.TEXT") == section(RFC_PARTS, "3")
    assert section(RFC_PARTS, "4.2.2.MIME") + section(RFC_PARTS, "4.2.2") == P4_2_2


def test_header_fields_are_the_stored_lines_and_the_empty_line():
    # the folded Content-Type of 4.2 comes back with its continuation line, byte for byte
    assert section(RFC_PARTS, "4.2.HEADER.FIELDS (content-type SUBJECT)") == (
        b"Subject: deeper\r\nContent-Type: multipart/mixed;\r\n\tboundary=fourtwo\r\n\r\n")
    assert section(RFC_PARTS, "HEADER.FIELDS.NOT (From To MIME-Version Content-Type)") == (
        b"Subject: the RFC's example\r\n\r\n")
    assert section(RFC_PARTS, "HEADER.FIELDS (X-Nothing)") == b"\r\n"


def test_header_fields_name_in_the_answer_keeps_the_clients_words():
    out = fetch(SIMPLE, 'BODY.PEEK[header.fields (Subject "X Y")]')
    assert out == b'BODY[HEADER.FIELDS (Subject "X Y")] {15}\r\nSubject: hi\r\n\r\n'


def test_a_single_part_message_has_part_1():
    assert section(SIMPLE, "1") == b"Hello, Jane.\r\n"
    assert section(SIMPLE, "1.MIME") == b"From: joe@someplace.org\r\nSubject: hi\r\n\r\n"
    assert section(SIMPLE, "2") == b""
    assert section(SIMPLE, "1.1") == b""


def test_a_message_rfc822_message_has_part_1_1():
    inner = entity(b"Subject: inner\r\n", b"inner body\r\n")
    raw = entity(b"Content-Type: message/rfc822\r\n", inner)
    assert section(raw, "1") == inner
    assert section(raw, "1.HEADER") == b"Subject: inner\r\n\r\n"
    assert section(raw, "1.1") == b"inner body\r\n"


def test_bodystructure_of_the_rfc_example_has_the_right_shape():
    (name, structure), = fetch_dict(RFC_PARTS, "BODYSTRUCTURE").items()
    assert name == "BODYSTRUCTURE"
    p1, p2, p3, p4, subtype, params, disposition, language, location = structure
    assert subtype == b"MIXED" and params == [b"BOUNDARY", b"top level"] and disposition is None
    assert language is None and location is None
    # body-type-text: type subtype params id desc enc octets lines, then md5 dsp lang loc
    assert p1 == [b"TEXT", b"PLAIN", [b"CHARSET", b"us-ascii"], None, None, b"7BIT", 21, 1, None, None, None, None]
    assert p2 == [b"APPLICATION", b"OCTET-STREAM", None, None, None, b"BASE64", 10, None, None, None, None]
    # body-type-msg: ... octets envelope body lines
    assert p3[:7] == [b"MESSAGE", b"RFC822", None, None, b"a forwarded message", b"7BIT", len(M3)]
    assert p3[7][1] == b"forwarded" and p3[7][2] == [[None, None, b"jane", b"somewhereelse.com"]]
    assert [p[:2] for p in p3[8][:2]] == [[b"TEXT", b"PLAIN"], [b"APPLICATION", b"OCTET-STREAM"]]
    assert p3[8][2] == b"MIXED"
    assert p3[9] == M3.count(b"\n")
    gif, message = p4[:2]
    assert gif[8] == [b"INLINE", [b"FILENAME", b"dot.gif"]]
    alternative = message[8][1]
    assert [p[:2] for p in alternative[:2]] == [[b"TEXT", b"PLAIN"], [b"TEXT", b"RICHTEXT"]]
    assert alternative[2:4] == [b"ALTERNATIVE", [b"BOUNDARY", b"alt:ernative"]]


def test_body_is_bodystructure_without_extension_data():
    structure = fetch_dict(RFC_PARTS, "BODY")["BODY"]
    assert structure[4:] == [b"MIXED"]
    assert structure[0] == [b"TEXT", b"PLAIN", [b"CHARSET", b"us-ascii"], None, None, b"7BIT", 21, 1]
    assert structure[2][8][2:] == [b"MIXED"]  # the encapsulated message's structure is not extensible either


def test_bodystructure_extension_data():
    raw = entity(b"Content-Type: text/html; charset=utf-8\r\nContent-Language: en, de\r\n"
                 b"Content-Location: http://example.org/x.html\r\nContent-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\r\n"
                 b"Content-Disposition: attachment; filename*=utf-8''%C3%A9t%C3%A9.html\r\n", b"<p>hi</p>")
    assert bodystructure(raw) == [b"TEXT", b"HTML", [b"CHARSET", b"utf-8"], None, None, b"7BIT", 9, 1,
                                  b"Q2hlY2sgSW50ZWdyaXR5IQ==", [b"ATTACHMENT", [b"FILENAME", "\u00e9t\u00e9.html".encode()]],
                                  [b"en", b"de"], b"http://example.org/x.html"]
    assert bodystructure(raw, extensible=False) == bodystructure(raw)[:8]
    out = fetch(raw, "BODYSTRUCTURE")
    assert b'("FILENAME" {10}\r\n\xc3\xa9t\xc3\xa9.html)' in out  # 8-bit goes as a literal


def test_a_message_without_content_type_is_us_ascii_text():
    assert bodystructure(SIMPLE, extensible=False) == [b"TEXT", b"PLAIN", [b"CHARSET", b"US-ASCII"], None, None,
                                                       b"7BIT", 14, 1]


def test_multipart_digest_parts_are_messages_by_default():
    raw = entity(b"Content-Type: multipart/digest; boundary=d\r\n",
                 multipart(b"d", [entity(b"", entity(b"Subject: one\r\n", b"1\r\n"))]))
    part = bodystructure(raw, extensible=False)[0]
    assert part[:2] == [b"MESSAGE", b"RFC822"] and part[7][1] == b"one"
    assert section(raw, "1.1") == b"1\r\n"


# -- ENVELOPE --------------------------------------------------------------------------------

def env(header: bytes) -> list:
    return envelope(entity(header, b"body\r\n"))


def test_envelope_of_an_empty_header_is_all_nil():
    assert env(b"") == [None] * 10


def test_envelope_keeps_encoded_words_and_unfolds():
    e = env(b"Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\r\n from\r\n\tfar\r\nFrom: =?UTF-8?B?SsO2cmc=?= <j@example.org>\r\n")
    assert e[1] == b"=?UTF-8?Q?Gr=C3=BC=C3=9Fe?= from\tfar"
    assert e[2] == [[b"=?UTF-8?B?SsO2cmc=?=", None, b"j", b"example.org"]]


def test_sender_and_reply_to_default_to_from():
    e = env(b"From: a@example.org\r\nSender:\r\nReply-To: r@example.org\r\n")
    assert e[3] == e[2] == [[None, None, b"a", b"example.org"]]
    assert e[4] == [[None, None, b"r", b"example.org"]]


@pytest.mark.parametrize(("value", "expected"), [
    (b'"Doe, John \\"JD\\"" <john@example.org>', [[b'Doe, John "JD"', None, b"john", b"example.org"]]),
    (b"john@example.org (John Doe)", [[b"John Doe", None, b"john", b"example.org"]]),
    (b"John Q. Public <john.q.public@example.org>", [[b"John Q. Public", None, b"john.q.public", b"example.org"]]),
    (b"<@relay.example,@hub.example:joe@example.org>", [[None, b"@relay.example,@hub.example", b"joe", b"example.org"]]),
    (b"root", [[None, None, b"root", b""]]),  # no domain: an empty host, not a group marker
    (b"undisclosed-recipients:;", [[None, None, b"undisclosed-recipients", None], [None, None, None, None]]),
    (b"Team: a@x.org, B <b@y.org>; c@z.org", [
        [None, None, b"Team", None], [None, None, b"a", b"x.org"], [b"B", None, b"b", b"y.org"],
        [None, None, None, None], [None, None, b"c", b"z.org"]]),
    (b"Unclosed: a@x.org", [[None, None, b"Unclosed", None], [None, None, b"a", b"x.org"], [None, None, None, None]]),
    (b"jane@[127.0.0.1]", [[None, None, b"jane", b"[127.0.0.1]"]]),
    (b"", None),
    (b" , ,", None),
])
def test_envelope_addresses(value, expected):
    assert env(b"To: " + value + b"\r\n")[5] == expected


def test_envelope_renders_8bit_as_a_literal_and_escapes_quotes():
    out = fetch(entity("Subject: caf\u00e9 \"bar\"\r\nIn-Reply-To: <a@b>\r\n".encode(), b""), "ENVELOPE")
    assert out == b'ENVELOPE (NIL {11}\r\ncaf\xc3\xa9 "bar" NIL NIL NIL NIL NIL NIL "<a@b>" NIL)'
    out = fetch(entity(b'Subject: say "hi" \\o/\r\n', b""), "ENVELOPE")
    assert out.startswith(b'ENVELOPE (NIL "say \\"hi\\" \\\\o/" NIL')


# -- partial fetches -------------------------------------------------------------------------

@pytest.mark.parametrize(("partial", "name", "expected"), [
    ("<0.5>", "BODY[]<0>", SIMPLE[:5]),
    ("<5.10>", "BODY[]<5>", SIMPLE[5:15]),
    (f"<{len(SIMPLE) - 3}.10>", f"BODY[]<{len(SIMPLE) - 3}>", SIMPLE[-3:]),  # runs past the end: cut short
    (f"<{len(SIMPLE)}.10>", f"BODY[]<{len(SIMPLE)}>", b""),  # at the end
    ("<100000.10>", "BODY[]<100000>", b""),  # beyond it
])
def test_partial_fetch(partial, name, expected):
    assert fetch(SIMPLE, f"BODY.PEEK[]{partial}") == name.encode() + b" {%d}\r\n" % len(expected) + expected


def test_partial_of_a_section():
    assert fetch(RFC_PARTS, "BODY[4.2.HEADER]<6.3>") == b"BODY[4.2.HEADER]<6> {3}\r\njoe"


def test_8bit_and_crlf_content_always_goes_as_a_literal():
    raw = entity("Subject: \u00fcber\r\n".encode(), "Gr\u00fc\u00dfe\r\n".encode())
    assert fetch(raw, "BODY.PEEK[TEXT]") == b"BODY[TEXT] {9}\r\nGr\xc3\xbc\xc3\x9fe\r\n"
    assert fetch(raw, "BODY.PEEK[1]<0.2>") == b"BODY[1]<0> {2}\r\nGr"  # even a short, plain slice


# -- malformed messages degrade, never raise -------------------------------------------------

ALL_ITEMS = ["FLAGS", "UID", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODYSTRUCTURE", "BODY", "RFC822",
             "RFC822.HEADER", "RFC822.TEXT", "MODSEQ", "BODY[]", "BODY[HEADER]", "BODY[TEXT]", "BODY[1]",
             "BODY[1.MIME]", "BODY[2]", "BODY[1.1]", "BODY[2.HEADER]", "BODY[2.TEXT]", "BODY[1.2.3]",
             "BODY[HEADER.FIELDS (FROM TO)]", "BODY[HEADER.FIELDS.NOT (SUBJECT)]", "BODY[2.HEADER.FIELDS (X)]",
             "BODY.PEEK[]<3.7>"]


@pytest.mark.parametrize("raw", [
    b"",
    b"no header, no separator, no line end",
    b"Subject: header only\r\n",
    b"\r\nbody only\r\n",
    b"From: bare-lf@example.org\nSubject: lf\n\nbody\n",
    b"Content-Type: multipart/mixed\r\n\r\nno boundary parameter\r\n",
    b"Content-Type: multipart/mixed; boundary=x\r\n\r\nthe boundary never comes\r\n",
    b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nnot closed",
    b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x--\r\n",
    b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n--x\r\n\r\n--x--",
    b"Content-Type: ;;;===\r\n\r\n?",
    b"Content-Type: \xff\xfe/\x00; charset=\"\r\n\r\n\xff",
    b"Content-Type: message/rfc822\r\n\r\n",
    b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\nU3ViamVjdDogeA0KDQp4\r\n",
    b"From: <<<@@@>>>, \"unclosed, (comment\r\nTo: ;;;:::,,,\r\n\r\n",
    b"Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\nContent-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n",
    b" continuation first\r\n\r\n",
])
def test_malformed_messages_render_every_item(raw):
    out = fetch(raw, *ALL_ITEMS)
    read_imap(out)
    assert section(raw, "HEADER") + section(raw, "TEXT") == raw


def test_a_multipart_without_a_boundary_is_shown_as_text():
    raw = b"Content-Type: multipart/mixed\r\n\r\nno boundary parameter\r\n"
    assert bodystructure(raw, extensible=False)[:2] == [b"TEXT", b"PLAIN"]
    assert section(raw, "1") == b"no boundary parameter\r\n"


def test_garbage_content_type_reads_as_text_plain():
    assert bodystructure(b"Content-Type: garbage\r\n\r\nx")[:3] == [b"TEXT", b"PLAIN", [b"CHARSET", b"US-ASCII"]]


def test_an_unclosed_multipart_runs_to_the_end():
    raw = b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\none\r\n--x\r\n\r\ntwo, never closed\r\n"
    assert section(raw, "1") == b"one"
    assert section(raw, "2") == b"two, never closed\r\n"


def test_a_longer_word_is_not_the_boundary():
    raw = b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\none\r\n--xy\r\n--x  \r\n\r\ntwo\r\n--x--\r\n"
    assert section(raw, "1") == b"one\r\n--xy"
    assert section(raw, "2") == b"two"


def test_deep_nesting_stops_without_recursion_errors():
    raw = b""
    for _ in range(2000):
        raw = entity(b"Content-Type: message/rfc822\r\n", raw)
    structure = bodystructure(raw)
    assert structure[0] == b"MESSAGE"
    fetch(raw, *ALL_ITEMS)


# -- hypothesis: FETCH never raises, and what it writes can be read back ---------------------

FRAGMENTS = [b"Content-Type: multipart/mixed; boundary=b\r\n", b"Content-Type: message/rfc822\r\n",
             b"Content-Type: multipart/alternative; boundary=\"b\"\r\n", b"Content-Type: text/plain; charset=x\r\n",
             b"Content-Transfer-Encoding: base64\r\n", b"Content-Disposition: attachment; filename=\"a\r\n",
             b"From: A <a@b>, g: c@d;\r\n", b"To: \"q\\\"\" <@r:x@[y]>\r\n", b"Subject: =?x?q?=FF?=\r\n",
             b"\r\n", b"\n", b"--b\r\n", b"--b--\r\n", b"--b", b"\r\n\r\n", b" folded\r\n", b"\xff\x00", b"text"]
TOPS = [b"Content-Type: multipart/mixed; boundary=b\r\n", b"Content-Type: multipart/digest; boundary=\"b\"\r\n",
        b"Content-Type: message/rfc822\r\n"]
INSIDE = FRAGMENTS + [b"Content-Type: multipart/related; boundary=c\r\n", b"--c\r\n", b"--c--\r\n",
                      b"Subject: x\r\n", b"--b  \r\n"]
messages = st.one_of(
    st.binary(max_size=300),  # anything at all
    st.lists(st.sampled_from(FRAGMENTS), max_size=25).map(b"".join),  # pieces of headers and MIME
    st.builds(lambda top, rest: top + b"\r\n" + b"".join(rest),  # a MIME message, more or less
              st.sampled_from(TOPS), st.lists(st.sampled_from(INSIDE), max_size=30)),
)
ITEM_LIST = [Atom(a) for a in ALL_ITEMS]


@settings(max_examples=300, deadline=None, database=None)
@given(raw=messages)
def test_render_fetch_never_raises_and_sections_are_slices(raw):
    items = parse_fetch_items(ITEM_LIST)
    out = render_fetch(items, FetchData(uid=3, flags={"\\Seen"}, internaldate=0, size=len(raw), raw=raw, modseq=2),
                       uid=True)
    values = read_imap(out)
    answer = dict(zip(values[::2], values[1::2]))
    assert answer["BODY[]"] == raw
    assert answer["BODY[HEADER]"] + answer["BODY[TEXT]"] == raw
    for name in ("BODY[1]", "BODY[1.MIME]", "BODY[2]", "BODY[1.1]", "BODY[2.TEXT]", "BODY[1.2.3]"):
        assert answer[name] in raw  # every section is a slice of the stored bytes
    top = parse_message(raw)
    assert top.header + top.body == raw
    event("multipart" if top.parts else "message/rfc822" if top.message else "single part")


@settings(max_examples=300, deadline=None, database=None)
@given(text=st.text(alphabet=st.sampled_from('BODY.PEEK[]<>0123456789 ()"\\HEADER.FIELDS.NOT MIME TEXT\u00b2\x00'),
                    max_size=40))
def test_parse_fetch_items_raises_only_value_error(text):
    try:
        items = parse_fetch_items(Atom(text))
    except ValueError:
        return
    # what was accepted renders, and its response name reads back as one atom
    out = render_fetch(items, FetchData(uid=1, flags=(), internaldate=0, size=len(SIMPLE), raw=SIMPLE))
    assert read_imap(out)[0] == items[0].response_name


@pytest.mark.parametrize("module", [mailcourse.protocols.imap.fetch, mailcourse.protocols.imap.mime,
                                    mailcourse.protocols.imap.structure, mailcourse.protocols.imap.response])
def test_docstring_examples(module):
    assert doctest.testmod(module).failed == 0


def test_fetch_still_offers_the_mime_and_structure_names():
    """fetch.py was split into mime.py and structure.py; code that imports these names from fetch keeps working."""
    fetch, mime, structure = (mailcourse.protocols.imap.fetch, mailcourse.protocols.imap.mime,
                              mailcourse.protocols.imap.structure)
    for name in ("Entity", "HeaderField", "parse_message", "section_bytes", "MAX_DEPTH"):
        assert getattr(fetch, name) is getattr(mime, name)
    for name in ("envelope", "bodystructure"):
        assert getattr(fetch, name) is getattr(structure, name)
    assert set(fetch.__all__) <= set(dir(fetch))
