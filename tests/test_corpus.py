"""The sample messages of data/ (mailcourse.corpus), and their round trips through every server.

Each sample is sent once through joe's submission server to jane (smtplib, a
real SMTP session, then the relay to jane's MX), and then read back with the
standard library's clients: poplib (RETR, TOP), imaplib (BODYSTRUCTURE, body
sections, RFC822.SIZE) and the webmail over HTTP. What may change on the way
is said where it is checked: only trace fields on top (RFC 5321 section 4.4);
the samples carry Date: and Message-ID: and no Bcc:, so submission (RFC 6409
section 8) adds and removes nothing.

The expected MIME trees are computed from the standard library's parse of the
file, not from the server's own splitter, so the two can disagree and a test
fail.
"""
from __future__ import annotations

import email
import email.errors
import email.policy
import email.utils
import html
import imaplib
import re
from email.message import Message
from email.policy import compat32

import pytest
from helpers import JANE, JANE_PASSWORD, JOE, submit, split_message
from webmail_browser import Browser

from mailcourse import Lab, corpus
from mailcourse.errors import LabError
from mailcourse.message import remove_header

NAMES = corpus.names()


# -- the files themselves ------------------------------------------------------------------------

def test_the_corpus_has_a_described_file_for_every_sample_and_no_file_without_one():
    assert len(NAMES) >= 12
    files = sorted(p.stem for p in corpus.folder().glob("*.eml"))
    assert files == sorted(NAMES)
    assert all(corpus.describe(name) for name in NAMES)
    assert corpus.path("lunch").name == "lunch.eml"
    with pytest.raises(LabError, match="no sample called 'nope'"):
        corpus.path("nope")


@pytest.mark.parametrize("name", NAMES)
def test_each_sample_parses_and_ends_its_lines_as_the_wire_does(name):
    raw = corpus.load(name)
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["From"] and msg["To"] and msg["Subject"] and msg["Date"] and msg["Message-ID"]
    assert msg["Bcc"] is None  # submission would remove it: the round trip could not be exact
    assert raw.endswith(b"\r\n")
    bare_lf = len(re.findall(rb"(?<!\r)\n", raw))
    assert bare_lf == (1 if name == "malformed" else 0)
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998  # RFC 5322 section 2.1.1


def _leaves(msg: Message) -> list[Message]:
    return [p for p in msg.walk() if not p.is_multipart()]


def test_each_declared_feature_is_really_there():
    parsed = {n: email.message_from_bytes(corpus.load(n), policy=email.policy.default) for n in NAMES}
    types = {n: [p.get_content_type() for p in m.walk()] for n, m in parsed.items()}
    encodings = {n: [p.get("Content-Transfer-Encoding", "7bit").lower() for p in _leaves(m)]
                 for n, m in parsed.items()}
    assert parsed["lunch"]["From"] == "joe@someplace.org" and parsed["lunch"]["To"] == "jane@somewhereelse.com"
    assert parsed["lunch"]["Subject"] == "Lunch tomorrow"
    assert re.search(rb"(?m)^\.", corpus.load("plain"))  # dot-stuffing has something to do
    assert types["alternative"] == ["multipart/alternative", "text/plain", "text/html"]
    assert b"<script>" in corpus.load("alternative")
    assert types["html-only"] == ["text/html"]
    assert types["attachment-pdf"] == ["multipart/mixed", "text/plain", "application/pdf"]
    pdf = _leaves(parsed["attachment-pdf"])[1]
    assert pdf.get_filename() == "menu.pdf" and "base64" in encodings["attachment-pdf"]
    assert pdf.get_content().startswith(b"%PDF-1.4") and pdf.get_content().rstrip().endswith(b"%%EOF")
    assert types["related"] == ["multipart/related", "text/html", "image/png"]
    image = _leaves(parsed["related"])[1]
    assert image.get_content().startswith(b"\x89PNG\r\n\x1a\n") and image["Content-ID"] == "<logo.png@someplace.org>"
    assert "cid:logo.png@someplace.org" in _leaves(parsed["related"])[0].get_content()
    assert encodings["quoted-printable"] == ["quoted-printable"]
    assert "Café Müller" in parsed["quoted-printable"].get_content()
    assert encodings["base64-text"] == ["base64"]
    assert b"=?UTF-8?B?" in corpus.load("encoded-words") and corpus.load("encoded-words").isascii()
    assert parsed["encoded-words"]["From"].addresses[0].display_name == "Μαρια Παπαδοπούλου"
    assert "明日の会議" in parsed["encoded-words"]["Subject"]
    assert "zoë@someplace.org".encode() in split_message(corpus.load("utf8-headers"))[0]
    assert types["forward"] == ["multipart/mixed", "text/plain", "message/rfc822", "text/plain"]
    # (The standard library reads message/delivery-status as a list of blocks: look at the top level.)
    assert [p.get_content_type() for p in parsed["dsn"].iter_parts()] == [
        "text/plain", "message/delivery-status", "text/rfc822-headers"]
    assert parsed["dsn"].get_param("report-type") == "delivery-status"
    assert len(parsed["received-trail"].get_all("Received")) >= 5
    malformed = corpus.load("malformed")
    assert b"--=_broken--" not in malformed and not malformed.isascii()
    assert any(type(d).__name__ == "CloseBoundaryNotFoundDefect" for d in parsed["malformed"].defects)


# -- one lab, every sample sent through SMTP once ------------------------------------------------

@pytest.fixture(scope="module")
def delivered():
    """(lab, {name: (uid, bytes in jane's store)}) after each sample went joe -> jane by SMTP."""
    lab = Lab.classic(seed=13)
    try:
        jane = lab.server("somewhereelse.com")
        out = {}
        for name in NAMES:
            # Bytes, not str: smtplib rewrites bare LFs in a str (_fix_eols) but sends bytes
            # as they are, dot-stuffed. utf8-headers.eml is submitted without SMTPUTF8, which
            # the submission server lets pass; the relay sees its UTF-8 header fields and says
            # SMTPUTF8 to jane's server (RFC 6531, tests/servers/test_8bitmime.py).
            assert submit(lab, JOE, [JANE], corpus.load(name)) == {}
            assert lab.wait_for_delivery()
            (info,) = [i for i in jane.store.list("jane") if i.uid not in {u for u, _ in out.values()}]
            out[name] = (info.uid, jane.store.get("jane", info.uid))
        yield lab, out
    finally:
        lab.stop()


TRACE_FIELD = re.compile(rb"(Return-Path|Received):[^\r\n]*\r\n([ \t][^\r\n]*\r\n)*")


@pytest.mark.parametrize("name", NAMES)
def test_smtp_delivers_the_file_with_only_trace_fields_on_top(delivered, name):
    _, mail = delivered
    _, stored = mail[name]
    # Final delivery puts its own Return-Path on top and removes any it finds (RFC 5321
    # section 4.4: it is the last hop's record of the envelope): received-trail.eml has one.
    original = remove_header(corpus.load(name), "Return-Path")
    # Dot-stuffing (plain.eml) undone exactly; the bare LF and the 8-bit bytes of
    # malformed.eml kept: aiosmtpd splits DATA at CRLF only (RFC 5321 section 2.3.8).
    assert stored.endswith(original)
    top = stored[:len(stored) - len(original)]
    names = []
    while top:
        field = TRACE_FIELD.match(top)
        assert field, f"not a trace field: {top[:80]!r}"
        names.append(field[1])
        top = top[field.end():]
    assert names == [b"Return-Path", b"Received", b"Received"]  # final delivery, jane's MX, joe's submission


# -- POP3 ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pop3(delivered):
    lab, mail = delivered
    client = lab.pop3("jane-laptop", lab.server("somewhereelse.com").endpoints["pop3"])
    client.user(JANE)
    client.pass_(JANE_PASSWORD)
    uids = [info.uid for info in lab.server("somewhereelse.com").store.list("jane")]
    yield client, {name: uids.index(uid) + 1 for name, (uid, _) in mail.items()}
    client.rset()
    client.quit()


def _crlf_lines(raw: bytes) -> list[bytes]:
    # poplib reads lines up to LF and strips CRLF or LF: a bare LF reads as a line end too.
    return re.split(rb"\r?\n", raw[:-2] if raw.endswith(b"\r\n") else raw)


@pytest.mark.parametrize("name", NAMES)
def test_pop3_retr_gives_the_stored_bytes_and_top_the_header_and_first_lines(delivered, pop3, name):
    _, mail = delivered
    client, number = pop3
    _, stored = mail[name]
    response, lines, octets = client.retr(number[name])
    assert response.startswith(b"+OK")
    assert octets == len(stored)  # poplib counts the bytes of each line, its line end as it came
    if name == "malformed":
        assert lines == _crlf_lines(stored)  # what poplib can show: its lines, the bare LF among the ends
    else:
        assert b"\r\n".join(lines) + b"\r\n" == stored
    header, _ = split_message(stored)
    header_lines = header.split(b"\r\n") + [b""]
    body_lines = _crlf_lines(stored)[len(header_lines):]
    for n in (0, 2):
        _, lines, _ = client.top(number[name], n)
        assert lines == header_lines + body_lines[:n]


# -- IMAP ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def imap(delivered):
    lab, _ = delivered
    client = lab.imap("jane-laptop", lab.server("somewhereelse.com").endpoints["imap"])
    client.login(JANE, JANE_PASSWORD)
    client.select("INBOX", readonly=True)
    yield client
    client.logout()


def _wire(data: list) -> bytes:
    """imaplib's answer put together again: a literal comes as (line with {n}, its bytes)."""
    out = b""
    for item in data:
        out += item[0] + b"\r\n" + item[1] if isinstance(item, tuple) else item
    return out


def _parse(data: bytes) -> list:
    """An IMAP parenthesized answer as lists, bytes (strings and atoms), ints and None (NIL)."""
    pos = 0

    def value():
        nonlocal pos
        while data[pos:pos + 1] == b" ":
            pos += 1
        c = data[pos:pos + 1]
        if c == b"(":
            pos += 1
            out = []
            while True:
                while data[pos:pos + 1] == b" ":
                    pos += 1
                if data[pos:pos + 1] == b")":
                    pos += 1
                    return out
                out.append(value())
        if c == b'"':
            m = re.compile(rb'"((?:[^"\\]|\\.)*)"').match(data, pos)
            pos = m.end()
            return re.sub(rb"\\(.)", rb"\1", m[1])
        if c == b"{":
            m = re.compile(rb"\{(\d+)\}\r\n").match(data, pos)
            pos = m.end() + int(m[1])
            return data[m.end():pos]
        m = re.compile(rb"[^ ()\[\]]+(\[[^\]]*\](<\d+>)?)?").match(data, pos)
        pos = m.end()
        word = m[0]
        return None if word.upper() == b"NIL" else int(word) if word.isdigit() else word

    return value()


def fetch(client: imaplib.IMAP4, uid: int, items: str) -> dict[bytes, object]:
    typ, data = client.uid("FETCH", str(uid), f"({items})")
    assert typ == "OK", data
    answer = _wire(data)
    parsed = _parse(answer[answer.index(b"("):])
    return dict(zip(parsed[::2], parsed[1::2]))


def _b(text: str | None) -> bytes | None:
    return None if text is None else text.encode("utf-8", "surrogateescape")


def _raw_value(part: Message, name: str) -> bytes | None:
    # The value as stored (compat32's own list): str(part[name]) would replace raw UTF-8 (RFC 6532).
    value = next((v for k, v in part._headers if k.lower() == name.lower()), None)
    return None if value is None else _b(re.sub(r"\r?\n(?=[ \t])", "", value).strip())


def _addresses(part: Message, name: str) -> list | None:
    values = part.get_all(name)
    if not values:
        return None
    out = []
    raw = [v for k, v in part._headers if k.lower() == name.lower()]
    for display, address in email.utils.getaddresses(raw):
        local, _, domain = address.rpartition("@")
        out.append([_b(display or None), None, _b(local), _b(domain)])
    return out


def expected_envelope(msg: Message) -> list:
    sender = _addresses(msg, "From")
    return [_raw_value(msg, "Date"), _raw_value(msg, "Subject"), sender, _addresses(msg, "Sender") or sender,
            _addresses(msg, "Reply-To") or sender, _addresses(msg, "To"), _addresses(msg, "Cc"),
            _addresses(msg, "Bcc"), _raw_value(msg, "In-Reply-To"), _raw_value(msg, "Message-ID")]


def _params(pairs: list[tuple[str, str]]) -> list | None:
    out: list = []
    for key, value in pairs:
        out += [_b(key.upper()), _b(email.utils.collapse_rfc2231_value(value))]
    return out or None


def _tail(part: Message) -> list:
    disposition = None
    if part.get("Content-Disposition"):
        pairs = part.get_params(header="Content-Disposition")
        disposition = [_b(pairs[0][0].upper()), _params(pairs[1:])]
    return [disposition, _raw_value(part, "Content-Language"), _raw_value(part, "Content-Location")]


def _payload_bytes(part: Message, parent: Message | None = None) -> bytes:
    # compat32 keeps the body as the file has it: bytes read as ASCII with surrogateescape,
    # the line end before the next boundary left out (RFC 2046 section 5.1.1). _payload, not
    # get_payload(): that one decodes 8-bit bytes with the part's charset, as a reader wants.
    if isinstance(part._payload, list):  # message/delivery-status: the stdlib keeps only its parsed blocks
        body = "".join(b.as_string(policy=compat32.clone(linesep="\r\n")) for b in part._payload)[:-2]
    else:
        body = part._payload
    body = body.encode("ascii", "surrogateescape")
    if parent is not None and _runs_to_end(parent, part):
        # No closing delimiter: the last part runs to the end of the message, its last line end
        # included (there is no delimiter line it could belong to); the stdlib drops that line end.
        body += b"\r\n"
    return body


def _runs_to_end(parent: Message, part: Message) -> bool:
    return (any(isinstance(d, email.errors.CloseBoundaryNotFoundDefect) for d in parent.defects)
            and part is parent.get_payload()[-1])


def _lines(body: bytes) -> int:
    return body.count(b"\n") + (1 if body and not body.endswith(b"\n") else 0)


def expected_structure(part: Message, parent: Message | None = None) -> list:
    """RFC 3501 section 7.4.2's BODYSTRUCTURE, from the standard library's parse of the file."""
    if part.get_content_maintype() == "multipart":
        subtype = part.get_content_subtype().upper()
        return ([expected_structure(p, part) for p in part.get_payload()] + [_b(subtype)]
                + [_params((part.get_params() or [])[1:])] + _tail(part))
    params = (part.get_params() or [])[1:]
    if part.get_content_maintype() == "text" and part.get_param("charset") is None:
        params = [("charset", "US-ASCII")] + params
    encoding = (part.get("Content-Transfer-Encoding") or "7bit").split()[0].upper()
    if part.get_content_type() == "message/rfc822":
        inner = part.get_payload(0)
        body = _b(inner.as_string(policy=compat32.clone(linesep="\r\n")))
    else:
        body = _payload_bytes(part, parent)
    out = [_b(part.get_content_maintype().upper()), _b(part.get_content_subtype().upper()), _params(params),
           _raw_value(part, "Content-ID"), _raw_value(part, "Content-Description"), _b(encoding), len(body)]
    if part.get_content_maintype() == "text":
        out.append(_lines(body))
    elif part.get_content_type() == "message/rfc822":
        out += [expected_envelope(inner), expected_structure(inner), _lines(body)]
    return out + [_raw_value(part, "Content-MD5")] + _tail(part)


def _parse_stored(stored: bytes) -> Message:
    return email.message_from_bytes(stored, policy=compat32)


def _numbered(msg: Message, prefix: tuple[int, ...] = ()) -> list[tuple[tuple[int, ...], Message, Message]]:
    """(IMAP part number, part, its parent) of every part inside a multipart, RFC 3501 section 6.4.5."""
    out = []
    if msg.is_multipart() and msg.get_content_maintype() == "multipart":
        for i, part in enumerate(msg.get_payload(), 1):
            number = prefix + (i,)
            out.append((number, part, msg))
            if part.get_content_type() == "message/rfc822":
                inner = part.get_payload(0)
                out += _numbered(inner, number) if inner.is_multipart() else [(number + (1,), inner, part)]
            else:
                out += _numbered(part, number)
    return out


@pytest.mark.parametrize("name", NAMES)
def test_imap_bodystructure_is_the_mime_tree_of_the_file(delivered, imap, name):
    _, mail = delivered
    uid, stored = mail[name]
    answer = fetch(imap, uid, "BODYSTRUCTURE RFC822.SIZE ENVELOPE")
    assert answer[b"RFC822.SIZE"] == len(stored)
    assert answer[b"BODYSTRUCTURE"] == expected_structure(_parse_stored(stored))
    assert answer[b"ENVELOPE"][1] == _raw_value(_parse_stored(stored), "Subject")  # not decoded (RFC 3501 7.4.2)


@pytest.mark.parametrize("name", NAMES)
def test_imap_body_sections_are_exact_slices_of_the_file(delivered, imap, name):
    _, mail = delivered
    uid, stored = mail[name]
    header_end = stored.index(b"\r\n\r\n") + 4
    whole = fetch(imap, uid, "BODY.PEEK[] BODY.PEEK[HEADER] BODY.PEEK[TEXT]")
    assert whole[b"BODY[]"] == stored
    assert whole[b"BODY[HEADER]"] == stored[:header_end]
    assert whole[b"BODY[TEXT]"] == stored[header_end:]
    msg = _parse_stored(stored)
    parts = _numbered(msg)
    if not parts:  # not multipart: part 1 is the body (RFC 3501 section 6.4.5)
        assert fetch(imap, uid, "BODY.PEEK[1]")[b"BODY[1]"] == stored[header_end:]
    for number, part, parent in parts:
        section = ".".join(map(str, number))
        got = fetch(imap, uid, f"BODY.PEEK[{section}] BODY.PEEK[{section}.MIME]")
        body, mime = got[f"BODY[{section}]".encode()], got[f"BODY[{section}.MIME]".encode()]
        if parent.get_content_type() == "message/rfc822":  # the body of a one-part encapsulated message
            assert body == _payload_bytes(part, parent)
            continue
        if part.get_content_type() == "message/rfc822":
            inner = fetch(imap, uid, f"BODY.PEEK[{section}.HEADER] BODY.PEEK[{section}.TEXT]")
            head, text = inner[f"BODY[{section}.HEADER]".encode()], inner[f"BODY[{section}.TEXT]".encode()]
            assert head + text == body
            assert email.message_from_bytes(head)["Message-ID"] == part.get_payload(0)["Message-ID"]
        else:
            assert body == _payload_bytes(part, parent)
        # The part's MIME header and body, right after its delimiter line (RFC 2046 section 5.1.1).
        delimiter = b"--" + parent.get_boundary().encode() + b"\r\n"
        assert delimiter + mime + body in stored
        assert [(k.lower(), v) for k, v in email.message_from_bytes(mime, policy=compat32).items()] == \
               [(k.lower(), re.sub(r"\r\n", "\n", v)) for k, v in part.items()]


# -- the webmail ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def webmail(delivered):
    lab, _ = delivered
    browser = Browser(lab.server("somewhereelse.com").webmail.url)
    assert browser.login(JANE, JANE_PASSWORD).status == 303
    return browser


def _utf8(text: str) -> str:
    """Raw UTF-8 in a header (RFC 6532) comes out of the stdlib's parse as surrogates: undo that."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8")


def _text_of(msg: Message) -> str | None:
    body = msg.get_body(preferencelist=("plain",))
    return None if body is None else body.get_content()


@pytest.mark.parametrize("name", NAMES)
def test_webmail_shows_the_decoded_header_the_text_and_the_attachments(delivered, webmail, name):
    _, mail = delivered
    uid, stored = mail[name]
    msg = email.message_from_bytes(stored, policy=email.policy.default)
    page = webmail.get(f"message/INBOX/{uid}")
    assert page.status == 200
    shown = html.unescape(page.text)
    assert _utf8(str(msg["Subject"])) in shown  # encoded words decoded (RFC 2047)
    sender = msg["From"].addresses[0]
    name = sender.display_name or sender.addr_spec
    assert _utf8(name) in shown
    html_body = msg.get_body(preferencelist=("html",))
    plain = _text_of(msg)
    if html_body is not None and (plain is None or msg.get_body(preferencelist=("html", "plain")) is html_body):
        frame = webmail.get(f"message/INBOX/{uid}/html")
        assert frame.status == 200
        assert "<script" not in frame.text.lower() and "onclick" not in frame.text.lower()
        first_words = re.sub(r"<[^>]+>", " ", html_body.get_content()).split()
        assert any(w in html.unescape(frame.text) for w in first_words if len(w) > 4)
    elif plain is not None:
        first_line = next(line for line in plain.splitlines() if line.strip())
        assert first_line.strip() in shown
    for part in msg.iter_attachments():
        if part.get_filename():
            assert part.get_filename() in shown
    raw = webmail.get(f"message/INBOX/{uid}/raw")
    assert raw.status == 200 and raw.body == stored


# -- seeding a mailbox -------------------------------------------------------------------------------

def test_seed_files_the_samples_byte_for_byte_and_imap_and_pop3_see_them():
    with Lab.classic(seed=14) as lab:
        uids = lab.seed(JANE, ["lunch", "alternative"])
        uids += lab.seed(JANE, ["forward"], folder="Archive")
        jane = lab.server("somewhereelse.com")
        assert jane.store.get("jane", uids[0]) == corpus.load("lunch")
        assert jane.store.get("jane", uids[2], "Archive") == corpus.load("forward")
        assert jane.file("jane", corpus.path("dsn")) == uids[1] + 1  # a path works too
        assert not [c for c in lab.trace.connections if c.protocol == "SMTP"]  # no SMTP: it "arrived earlier"
        client = lab.pop3("jane-laptop", jane.endpoints["pop3"])
        client.user(JANE)
        client.pass_(JANE_PASSWORD)
        assert client.stat()[0] == 3
        client.quit()
        with pytest.raises(LabError):
            jane.file("nobody", corpus.load("lunch"))
        all_uids = corpus.seed(jane, "jane")
        assert len(all_uids) == len(NAMES)
