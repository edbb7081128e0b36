"""mailcourse.eightbit: what a message needs (8BITMIME, SMTPUTF8) and its conversion to 7 bit.

Every conversion is checked the way a receiving mail program would see it:
the result is parsed with the standard library's email package, and each
leaf part's decoded bytes must be exactly the original part's (RFC 6152
section 3: a conversion changes the encoding, never the content). Parts
that needed no conversion must come out byte for byte.
"""
from __future__ import annotations

import binascii
import email
import email.policy
import re
from email.message import EmailMessage

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailcourse import corpus
from mailcourse.eightbit import CannotConvert, has_utf8_header, is_8bit, needs_smtputf8, to_7bit
from mailcourse.message import split_header


def parse(raw: bytes) -> EmailMessage:
    # Straight from the CRLF bytes: quoted-printable and base64 then decode to the exact
    # bytes that were encoded, line ends included.
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def leaves(raw: bytes) -> list[tuple[str, bytes]]:
    """(content type, decoded bytes) of every leaf part, message/rfc822 parts opened too."""
    return [(p.get_content_type(), p.get_payload(decode=True)) for p in parse(raw).walk()
            if not p.is_multipart() and p.get_content_type() != "message/rfc822"]


def assert_7bit_and_same_content(original: bytes, converted: bytes) -> None:
    assert not is_8bit(converted)
    assert all(len(line) <= 998 for line in converted.split(b"\r\n"))  # RFC 5321 section 4.5.3.1.6
    assert leaves(converted) == leaves(original)


def split_message(raw: bytes) -> tuple[bytes, bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return head, body


def eight_bit(body: bytes, ctype: bytes = b"text/plain; charset=utf-8", extra: bytes = b"") -> bytes:
    return (b"From: joe@someplace.org\r\nTo: jane@somewhereelse.com\r\nSubject: test\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: " + ctype + b"\r\n" + extra
            + b"Content-Transfer-Encoding: 8bit\r\n\r\n" + body)


def ascii_header(raw: bytes) -> bytes:
    """The sample with its UTF-8 header fields dropped: an 8-bit body under a 7-bit header."""
    header, body = split_header(raw)
    kept = [line for line in header.split(b"\r\n") if line.isascii()]
    return b"\r\n".join(kept) + body


GERMAN = "Grüße aus Zürich!\r\nDas Wetter ist schön, the lake is calm.\r\n".encode()
GREEK = "Καλημέρα κόσμε, αυτό είναι ελληνικό κείμενο.\r\n日本語のテキストです。\r\n".encode()


# -- what a message needs ---------------------------------------------------------------------

def test_is_8bit_looks_at_every_byte():
    assert not is_8bit(b"plain ASCII\r\n")
    assert is_8bit(b"caf\xc3\xa9")
    assert is_8bit(b"\xff")
    assert not is_8bit(b"\x7f")


def test_every_sample_but_two_is_7bit():
    assert sorted(n for n in corpus.names() if is_8bit(corpus.load(n))) == ["malformed", "utf8-headers"]


def test_smtputf8_is_needed_for_utf8_addresses_or_header_fields_not_for_an_8bit_body():
    sample = corpus.load("utf8-headers")  # RFC 6532: raw UTF-8 in From: and Subject:
    assert has_utf8_header(sample)
    assert needs_smtputf8("joe@someplace.org", ["jane@somewhereelse.com"], sample)
    plain = eight_bit(GERMAN)
    assert not has_utf8_header(plain)  # 8BITMIME is enough for this one
    assert not needs_smtputf8("joe@someplace.org", ["jane@somewhereelse.com"], plain)
    assert needs_smtputf8("zoë@someplace.org", ["jane@somewhereelse.com"], plain)
    assert needs_smtputf8("joe@someplace.org", ["jane@somewhereelse.com", "zoë@someplace.org"], plain)


def test_latin1_bytes_in_a_header_are_not_utf8():
    raw = b"Subject: caf\xe9\r\n\r\nhello\r\n"
    assert not has_utf8_header(raw)
    with pytest.raises(CannotConvert, match="header field"):
        to_7bit(raw.replace(b"\r\n\r\n", b"\r\nMIME-Version: 1.0\r\n\r\n"))


def test_utf8_in_a_part_header_is_body_data_for_smtp():
    raw = (b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
           b"Content-Type: text/plain; name=\"r\xc3\xa9sum\xc3\xa9.txt\"\r\n\r\nhi\r\n--b--\r\n")
    assert not has_utf8_header(raw)
    with pytest.raises(CannotConvert, match="header field"):
        to_7bit(raw)


# -- converting: what stays, what changes -----------------------------------------------------

@pytest.mark.parametrize("name", [n for n in corpus.names() if not is_8bit(corpus.load(n))])
def test_a_7bit_sample_comes_back_byte_for_byte(name):
    raw = corpus.load(name)
    assert to_7bit(raw) is raw


def test_8bit_text_becomes_quoted_printable():
    raw = ascii_header(corpus.load("utf8-headers"))
    out = to_7bit(raw)
    assert_7bit_and_same_content(raw, out)
    header, _ = split_message(out)
    assert b"Content-Transfer-Encoding: quoted-printable" in header
    assert b"Content-Transfer-Encoding: 8bit" not in header
    assert b"zo=C3=AB" in out  # readable ASCII around the escapes (RFC 2045 section 6.7)
    assert parse(out).get_content() == parse(raw).get_content()
    # Every header field but the one is untouched, in its place.
    assert [f for f in header.split(b"\r\n") if not f.startswith(b"Content-Transfer")] == \
        [f for f in split_message(raw)[0].split(b"\r\n") if not f.startswith(b"Content-Transfer")]


def test_quoted_printable_lines_stay_within_76_characters():
    long_line = ("Zürich " * 40).encode() + b"\r\n"
    out = to_7bit(eight_bit(long_line))
    _, body = split_message(out)
    assert all(len(line) <= 76 for line in body.split(b"\r\n"))  # RFC 2045 section 6.7 rule 5
    assert_7bit_and_same_content(eight_bit(long_line), out)


def test_mostly_non_ascii_text_becomes_base64():
    raw = eight_bit(GREEK)
    out = to_7bit(raw)
    assert b"Content-Transfer-Encoding: base64" in out
    assert_7bit_and_same_content(raw, out)
    assert parse(out).get_content() == GREEK.decode()
    _, body = split_message(out)
    assert all(len(line) <= 76 for line in body.split(b"\r\n"))  # RFC 2045 section 6.8


def test_text_with_bare_line_feeds_goes_in_base64_to_keep_every_byte():
    raw = eight_bit("naïve\nline\r\nend\r".encode())
    out = to_7bit(raw)
    assert b"Content-Transfer-Encoding: base64" in out
    assert_7bit_and_same_content(raw, out)


def test_binary_data_becomes_base64():
    data = bytes(range(256)) * 3
    raw = eight_bit(data, b"application/octet-stream").replace(b"8bit", b"binary")
    out = to_7bit(raw)
    assert b"Content-Transfer-Encoding: base64" in out
    assert parse(out).get_payload(decode=True) == data


def test_a_missing_content_transfer_encoding_is_added():
    raw = eight_bit(GERMAN).replace(b"Content-Transfer-Encoding: 8bit\r\n", b"")
    out = to_7bit(raw)
    assert out.count(b"Content-Transfer-Encoding:") == 1
    assert_7bit_and_same_content(raw, out)


def test_the_malformed_sample_converts_and_decodes_the_same():
    raw = corpus.load("malformed")  # 8-bit bytes under "7bit", a bare LF, no closing boundary
    out = to_7bit(raw)
    assert_7bit_and_same_content(raw, out)
    # Its second part is 7-bit: the same bytes, down to the end of the message.
    tail = b"--=_broken\r\nContent-Type: text/plain; charset=us-ascii\r\n"
    assert out[out.index(tail):] == raw[raw.index(tail):]


def multipart(*parts: bytes, boundary: bytes = b"=_b", preamble: bytes = b"A MIME message.\r\n",
              epilogue: bytes = b"") -> bytes:
    body = preamble + b"".join(b"--" + boundary + b"\r\n" + p + b"\r\n" for p in parts) \
        + b"--" + boundary + b"--\r\n" + epilogue
    return (b"From: joe@someplace.org\r\nSubject: parts\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: multipart/mixed; boundary=\"" + boundary + b"\"\r\n\r\n" + body)


TEXT_8BIT = b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + GERMAN


def test_in_a_multipart_only_the_8bit_part_changes():
    seven = b"Content-Type: text/plain\r\n\r\nJust ASCII.\r\n  with  spacing  kept\t\r\n"
    raw = multipart(seven, TEXT_8BIT, seven)
    out = to_7bit(raw)
    assert_7bit_and_same_content(raw, out)
    before, after = raw.split(b"--=_b"), out.split(b"--=_b")
    assert [after[i] for i in (0, 1, 3, 4)] == [before[i] for i in (0, 1, 3, 4)]  # byte for byte
    assert after[1] == b"\r\n" + seven + b"\r\n"  # trailing tab and all
    assert after[2] != before[2]
    assert out.startswith(raw[:raw.index(b"--=_b")])  # the header and preamble too
    assert out.endswith(b"--=_b--\r\n")


def test_nested_multiparts_are_walked():
    inner = (b"Content-Type: multipart/alternative; boundary=inner\r\n\r\n"
             b"--inner\r\n" + TEXT_8BIT + b"\r\n--inner\r\n"
             b"Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
             + "<p>Grüße aus Zürich!</p>\r\n<p>The weather is fine.</p>\r\n".encode()
             + b"\r\n--inner--\r\n")
    raw = multipart(inner, b"Content-Type: text/plain\r\n\r\nascii\r\n")
    out = to_7bit(raw)
    assert_7bit_and_same_content(raw, out)
    assert out.count(b"quoted-printable") == 2


def test_a_multipart_that_says_8bit_says_7bit_after():
    raw = multipart(TEXT_8BIT).replace(b"MIME-Version: 1.0\r\n",
                                       b"MIME-Version: 1.0\r\nContent-Transfer-Encoding: 8bit\r\n")
    out = to_7bit(raw)
    assert split_message(out)[0].count(b"Content-Transfer-Encoding: 7bit") == 1  # RFC 2045 section 6.4
    assert_7bit_and_same_content(raw, out)


def test_empty_parts_and_lf_line_ends_survive():
    raw = multipart(b"", TEXT_8BIT, b"").replace(b"\r\n", b"\n")
    out = to_7bit(raw)
    assert not is_8bit(out)
    assert out.count(b"--=_b") == raw.count(b"--=_b")
    assert [p for _, p in leaves(out)] == [p for _, p in leaves(raw)]


def test_a_forwarded_8bit_message_is_converted_inside_its_message_rfc822_part():
    # RFC 2046 section 5.2.1: a message/rfc822 body may not be base64 or QP: the message
    # inside is converted, and the part says 7bit.
    forwarded = ascii_header(corpus.load("utf8-headers"))
    raw = multipart(b"Content-Type: text/plain\r\n\r\nSee below.\r\n",
                    b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + forwarded)
    out = to_7bit(raw)
    assert_7bit_and_same_content(raw, out)
    assert b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: 7bit\r\n" in out
    [attached] = [p for p in parse(out).walk() if p.get_content_type() == "message/rfc822"]
    assert attached.get_payload(0).get_content() == parse(forwarded).get_content()


def test_a_forwarded_message_with_an_8bit_header_cannot_be_converted():
    raw = multipart(b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
                    + corpus.load("utf8-headers"))
    with pytest.raises(CannotConvert, match="header field"):
        to_7bit(raw)


def test_multipart_digest_parts_are_messages_by_default():
    forwarded = ascii_header(corpus.load("utf8-headers"))
    raw = multipart(b"\r\n" + forwarded).replace(b"multipart/mixed", b"multipart/digest")
    out = to_7bit(raw)
    assert_7bit_and_same_content(raw, out)
    assert b"zo=C3=AB" in out  # the message inside was converted, not base64'd whole


def test_message_global_may_be_encoded():
    # RFC 6532 section 3.7: unlike message/rfc822, message/global may be base64 or QP.
    sample = corpus.load("utf8-headers")
    raw = multipart(b"Content-Type: message/global\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + sample)
    out = to_7bit(raw)
    assert not is_8bit(out)
    # The standard library parses any message/* body as a message, encoded or not, so
    # the part is decoded by hand here.
    part = out.split(b"--=_b\r\n")[1].rpartition(b"\r\n--=_b--")[0]
    header, _, body = part.partition(b"\r\n\r\n")
    assert header == b"Content-Type: message/global\r\nContent-Transfer-Encoding: quoted-printable"
    assert binascii.a2b_qp(body) == sample


@pytest.mark.parametrize("why, raw", [
    ("not MIME", b"Subject: no MIME\r\n\r\nGr\xc3\xbc\xc3\x9fe\r\n"),
    ("Content-Transfer-Encoding: base64", eight_bit(GERMAN).replace(b": 8bit", b": base64")),
    ("Content-Transfer-Encoding: x-uuencode", eight_bit(GERMAN).replace(b": 8bit", b": x-uuencode")),
    ("message/delivery-status", eight_bit(GERMAN, b"message/delivery-status")),
    ("message/partial", eight_bit(GERMAN, b"message/partial; id=x; number=1")),
    ("preamble", multipart(TEXT_8BIT, preamble="Grüße\r\n".encode())),
    ("epilogue", multipart(TEXT_8BIT, epilogue="Grüße\r\n".encode())),
    ("boundary", eight_bit(GERMAN, b"multipart/mixed")),
    ("boundary line", eight_bit(GERMAN, b"multipart/mixed; boundary=nowhere")),
])
def test_what_cannot_be_converted_says_why(why, raw):
    with pytest.raises(CannotConvert) as caught:
        to_7bit(raw)
    assert why in str(caught.value)
    assert re.search(r"RFC \d{4}", str(caught.value))  # and where the rule is


def test_conversion_is_idempotent():
    for raw in (eight_bit(GERMAN), eight_bit(GREEK), corpus.load("malformed"), multipart(TEXT_8BIT)):
        once = to_7bit(raw)
        assert to_7bit(once) is once


@settings(max_examples=60, deadline=None)
@given(texts=st.lists(st.text(st.characters(blacklist_categories=["Cs"]), max_size=300), min_size=1,
                      max_size=4),
       crlf=st.booleans())
def test_any_utf8_text_converts_to_7bit_and_decodes_to_the_same_bytes(texts, crlf):
    parts = []
    for text in texts:
        body = text.encode()
        if crlf:  # canonical text, as RFC 2046 section 4.1.1 wants it: QP where it suits
            body = re.sub(rb"\r\n|\r|\n", b"\r\n", body)
        body = body.replace(b"--=_b", b"- -=_b")  # a boundary must not occur in a part
        parts.append(b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + body)
    raw = multipart(*parts)
    out = to_7bit(raw)
    assert not is_8bit(out)
    assert [p for _, p in leaves(out)] == [p for _, p in leaves(raw)]
