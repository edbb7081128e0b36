"""8-bit mail and internationalized mail: what a message needs from the next server, and 7-bit conversion.

SMTP was built for 7-bit text (RFC 5321 section 2.4). Two extensions widen it:

* **8BITMIME** (RFC 6152) lets a *body* hold bytes above 127, declared by
  ``MAIL FROM:<...> BODY=8BITMIME``. A server that relays an 8-bit body to
  a receiver that does not offer 8BITMIME must either convert it to 7 bit
  (quoted-printable or base64, RFC 2045 sections 6.7 and 6.8) or return it
  to the sender (RFC 6152 section 3).
* **SMTPUTF8** (RFC 6531) lets the *envelope addresses* and the *header
  fields* hold UTF-8 (RFC 6532), declared by ``MAIL FROM:<...> SMTPUTF8``.
  There is no conversion for these: an address has no 7-bit spelling, and
  in-transit "downgrading" was left out of the standard (RFC 6530 section 7).
  A message that needs SMTPUTF8 and meets a receiver without it goes back to
  its sender.

This module decides and converts; it does no I/O. `is_8bit` and
`needs_smtputf8` say what a message needs; `to_7bit` converts an 8-bit MIME
message part by part, raising `CannotConvert` where that is impossible; the
relay (`mailcourse.queue.plan_transfer`) puts them together.

`to_7bit` edits bytes, as the servers do everywhere (`mailcourse.message`):
a part that is already 7-bit comes out byte for byte as it went in, and so
does every boundary line, preamble and header field it does not have to
change. Only an 8-bit leaf part gets a new body and a new
Content-Transfer-Encoding field. (A conversion still changes the message: a
DKIM signature over its body no longer verifies, which is why RFC 6376
section 5.3 asks signers to convert to 7 bit themselves before signing.)
"""
from __future__ import annotations

import base64
import binascii
import email
import email.policy
import re
from collections.abc import Iterable

from .message import split_header

_8BIT = re.compile(rb"[\x80-\xff]")
_BARE_CR_OR_LF = re.compile(rb"\r(?!\n)|(?<!\r)\n")

# The message types a MIME body may carry in base64 or quoted-printable:
# message/global and its kin (RFC 6532 section 3.7, RFC 6533 section 6). For
# every other message/* type, as for multipart/*, RFC 2045 section 6.4 allows
# only 7bit, 8bit or binary: such a part is made 7-bit from the inside.
_ENCODABLE_MESSAGES = {"message/global", "message/global-headers", "message/global-delivery-status",
                       "message/global-disposition-notification"}


class CannotConvert(ValueError):
    """This 8-bit message cannot be made 7-bit; the reason says why (and which RFC)."""


def is_8bit(data: bytes) -> bool:
    """True if any byte is above 127: such a body needs 8BITMIME (RFC 6152) or conversion."""
    return _8BIT.search(data) is not None


def is_utf8_address(address: str) -> bool:
    """True for an address outside ASCII, like ``zoë@someplace.org`` (RFC 6531 section 3.3)."""
    return not address.isascii()


def has_utf8_header(raw: bytes) -> bool:
    """True if the message's header section holds UTF-8 outside ASCII (RFC 6532 section 3).

    Only the message's own header fields count: the header fields of the
    parts inside a multipart body are body data to SMTP, carried by 8BITMIME.
    Bytes above 127 that are not UTF-8 are no internationalized header
    either, just a broken one (`to_7bit` refuses them).
    """
    header, _ = split_header(raw)
    if not is_8bit(header):
        return False
    try:
        header.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def needs_smtputf8(mail_from: str, rcpts: Iterable[str], raw: bytes) -> bool:
    """True if the envelope or the header needs SMTPUTF8 (RFC 6531 section 3.4).

    RFC 6531 section 3.4: a client MUST give the SMTPUTF8 parameter when "the
    envelope or message being sent requires any of the SMTPUTF8 extension
    capabilities": a UTF-8 address in MAIL FROM or RCPT TO, or UTF-8 in a
    header field (RFC 6532). An 8-bit *body* alone needs only 8BITMIME.
    """
    return (is_utf8_address(mail_from) or any(is_utf8_address(r) for r in rcpts)
            or has_utf8_header(raw))


# -- converting to 7 bit ----------------------------------------------------------------------

def to_7bit(raw: bytes) -> bytes:
    """``raw`` with every 8-bit MIME part re-encoded in 7 bit, as RFC 6152 section 3 asks of a relay.

    A text part becomes quoted-printable, which keeps ASCII text readable; a
    part with many bytes above 127 (Greek or Japanese text), with line ends
    that are not CRLF, or that is not text becomes base64, which is shorter
    there and keeps every byte (RFC 2045 section 6.8). A message/rfc822 part
    may not be encoded at all (RFC 2046 section 5.2.1): the message inside
    is converted instead and the part says 7bit. Multipart bodies are walked
    part by part. A 7-bit message comes back unchanged (the same bytes).

    Raises `CannotConvert` for what has no 7-bit form: bytes above 127 in a
    header field (RFC 6152 converts bodies; a header needs RFC 2047 or
    SMTPUTF8, and an address cannot be encoded at all), an 8-bit body in a
    message that is not MIME (no MIME-Version: nothing can say how it was
    encoded, RFC 2045 section 4), a message/* part other than message/rfc822
    and message/global, an 8-bit preamble or epilogue, or a part whose
    encoding says base64 or quoted-printable and yet has 8-bit bytes.
    """
    if not is_8bit(raw):
        return raw
    fields, _, _ = _split_entity(raw)
    if not _field(fields, "MIME-Version"):
        raise CannotConvert("an 8-bit body without MIME-Version: it is not MIME, so no "
                            "Content-Transfer-Encoding can say how it was converted (RFC 2045 section 4)")
    return _convert(raw, "text/plain")


def _convert(entity: bytes, default_type: str) -> bytes:
    """One entity (a message or a body part): header fields, blank line, body."""
    fields, blank, body = _split_entity(entity)
    if is_8bit(fields):
        raise CannotConvert("8-bit bytes in a header field: RFC 6152 conversion covers bodies only; "
                            "a header field needs RFC 2047 encoded words or SMTPUTF8 (RFC 6532)")
    if not is_8bit(body):
        return entity
    parsed = email.message_from_bytes(fields + b"\r\n", policy=email.policy.compat32)
    parsed.set_default_type(default_type)
    ctype = parsed.get_content_type()
    encoding = str(parsed.get("Content-Transfer-Encoding", "7bit")).strip().lower()
    if encoding not in ("7bit", "8bit", "binary"):
        raise CannotConvert(f"8-bit bytes in a body that says Content-Transfer-Encoding: {encoding} "
                            "(RFC 2045 section 6: such a body is 7-bit by definition)")
    if ctype.startswith("multipart/") or ctype == "message/rfc822":
        # RFC 2045 section 6.4 and RFC 2046 section 5.2.1: "No encoding other than "7bit",
        # "8bit", or "binary" is permitted for the body of a "message/rfc822" entity" (nor of
        # a multipart). So what is inside is converted, and then the entity is 7bit.
        if ctype == "message/rfc822":
            inner = _convert(body, "text/plain")
        else:
            boundary = parsed.get_boundary()
            if not boundary:
                raise CannotConvert(f"a {ctype} part without a boundary parameter (RFC 2046 section 5.1.1)")
            # RFC 2046 section 5.1.5: in a digest, a part without Content-Type is a message.
            inner = _convert_multipart(body, boundary.encode("ascii", "replace"),
                                       "message/rfc822" if ctype == "multipart/digest" else "text/plain")
        if encoding != "7bit":
            fields = _set_encoding(fields, "7bit")
        return fields + blank + inner
    if ctype.startswith("message/") and ctype not in _ENCODABLE_MESSAGES:
        raise CannotConvert(f"an 8-bit {ctype} part: RFC 2045 section 6.4 allows it no encoding "
                            "other than 7bit, 8bit or binary")
    if _suits_quoted_printable(ctype, body):
        return _set_encoding(fields, "quoted-printable") + blank + binascii.b2a_qp(body, istext=True)
    return _set_encoding(fields, "base64") + blank + _base64(body)


def _suits_quoted_printable(ctype: str, body: bytes) -> bool:
    """Quoted-printable for text that is mostly ASCII, in lines that end in CRLF (RFC 2045 6.7).

    QP writes each byte above 127 as three characters (``=C3=BC``), base64
    every three bytes as four: QP is the shorter while fewer than about one
    byte in six needs escaping. QP in text mode also rewrites line ends, so
    a bare CR or LF (not canonical text, RFC 2046 section 4.1.1) goes in base64,
    which keeps every byte.
    """
    if not (ctype.startswith("text/") or ctype in _ENCODABLE_MESSAGES):
        return False
    if b"\x00" in body or _BARE_CR_OR_LF.search(body):
        return False
    return 6 * len(_8BIT.findall(body)) <= len(body)


def _base64(body: bytes) -> bytes:
    # Lines of 76 characters, ending in CRLF (RFC 2045 section 6.8).
    encoded = base64.b64encode(body)
    return b"".join(encoded[i:i + 76] + b"\r\n" for i in range(0, len(encoded), 76))


def _convert_multipart(body: bytes, boundary: bytes, inner_type: str) -> bytes:
    """Convert each part between the boundary lines; the lines themselves stay as they are.

    RFC 2046 section 5.1.1: a delimiter is CRLF, ``--boundary``, optional
    white space, CRLF; the CRLF before it belongs to the delimiter, not to
    the part before. The close delimiter adds ``--``. Before the first
    delimiter is the preamble, after the close delimiter the epilogue;
    neither is shown to anyone, and neither may be 8-bit here (there is no
    encoding to say how one was converted).
    """
    delimiter = re.compile(rb"(?m)^--" + re.escape(boundary) + rb"(--)?[ \t]*(?:\r?\n|\Z)")
    out: list[bytes] = []
    pos = 0
    in_part = False  # before the first delimiter: the preamble
    for match in delimiter.finditer(body):
        piece = body[pos:match.start()]
        eol = b"\r\n" if piece.endswith(b"\r\n") else b"\n" if piece.endswith(b"\n") else b""
        content = piece[:len(piece) - len(eol)]
        if in_part:
            content = _convert(content, inner_type)
        elif is_8bit(content):
            raise CannotConvert("8-bit bytes in a multipart preamble (RFC 2046 section 5.1.1)")
        out += [content, eol, match.group(0)]
        pos = match.end()
        in_part = not match.group(1)
        if not in_part:
            break
    else:
        if not in_part:
            raise CannotConvert("a multipart body without a single boundary line (RFC 2046 section 5.1.1)")
    rest = body[pos:]
    if in_part:  # no close delimiter (broken, but mail programs show it): the rest is the last part
        rest = _convert(rest, inner_type)
    elif is_8bit(rest):
        raise CannotConvert("8-bit bytes in a multipart epilogue (RFC 2046 section 5.1.1)")
    return b"".join(out) + rest


def _split_entity(entity: bytes) -> tuple[bytes, bytes, bytes]:
    """(header fields, the blank line, body) of a message or part; a part may have no fields at all."""
    match = re.search(rb"(?:\A|\n)(\r?\n)", entity)
    if match is None:
        return entity, b"", b""
    return entity[:match.start(1)], match.group(1), entity[match.end():]


def _field(header: bytes, name: str) -> bytes | None:
    match = re.search(rb"(?im)^" + re.escape(name.encode()) + rb"[ \t]*:", header)
    return match.group(0) if match else None


def _set_encoding(fields: bytes, encoding: str) -> bytes:
    """The header ``fields`` with Content-Transfer-Encoding set to ``encoding``.

    The field is replaced where it stands, continuation lines and all, so
    the other fields keep their order and their bytes; header fields
    without one get it at the end.
    """
    eol = b"\r\n" if b"\r\n" in fields or not fields else b"\n"
    new = b"Content-Transfer-Encoding: " + encoding.encode() + eol
    existing = re.compile(rb"(?im)^Content-Transfer-Encoding[ \t]*:.*(?:\r?\n[ \t].*)*(?:\r?\n|\Z)")
    if existing.search(fields):
        return existing.sub(lambda _: new, fields, count=1)
    return fields + new
