"""Small, exact edits on raw messages (bytes), the bounce message, and parsing for reading.

Servers edit messages as bytes, never by parsing and re-serialising them:
the message a recipient gets must be the one the sender wrote, byte for byte,
apart from the trace headers each hop puts on top (RFC 5321 section 4.4) and
the Bcc: header a submission server removes (the lab's site policy, which RFC 6409
section 8 allows; RFC 5322 section 3.6.3 has the sender's program remove it).
"""
from __future__ import annotations

import email
import email.policy
import email.utils
import re
from datetime import datetime, timezone
from typing import Callable
from email.message import EmailMessage, Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import SMTP as SMTP_POLICY
from email.policy import SMTPUTF8 as SMTPUTF8_POLICY

CRLF = b"\r\n"


def split_header(raw: bytes) -> tuple[bytes, bytes]:
    """Split a message into its header section and the rest (blank line, body).

    Joining the two parts gives back the message exactly.
    """
    m = re.search(rb"\r?\n\r?\n", raw)
    if m is None:
        return raw, b""
    cut = m.start() + (2 if raw[m.start():m.start() + 2] == CRLF else 1)
    return raw[:cut], raw[cut:]


def _fields(header: bytes) -> list[bytes]:
    """Header fields, each with its folded continuation lines (RFC 5322 section 2.2.3)."""
    fields: list[bytes] = []
    for line in header.splitlines(keepends=True):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += line
        elif line.strip():
            fields.append(line)
    return fields


def header_values(raw: bytes, name: str) -> list[str]:
    """The unfolded values of every ``name:`` field in the message's header."""
    header, _ = split_header(raw)
    key = name.lower().encode() + b":"
    out = []
    for field in _fields(header):
        if field.lower().startswith(key):
            value = field[len(key):]
            out.append(re.sub(rb"\r?\n[ \t]", b" ", value).strip().decode("utf-8", "replace"))
    return out


def remove_header(raw: bytes, name: str, where: Callable[[str], bool] | None = None) -> bytes:
    """Remove every ``name:`` field (continuation lines included); the rest is untouched.

    With ``where``, only the fields whose unfolded value it accepts.
    """
    header, body = split_header(raw)
    key = name.lower().encode() + b":"

    def removed(field: bytes) -> bool:
        if not field.lower().startswith(key):
            return False
        return where is None or where(" ".join(field[len(key):].decode("utf-8", "replace").split()))

    kept = [f for f in _fields(header) if not removed(f)]
    if len(kept) == len(_fields(header)):
        return raw
    return b"".join(kept) + body


def replace_header(raw: bytes, name: str, value: str) -> bytes:
    """Give the first ``name:`` field a new value where it stands (added at the end if missing)."""
    header, body = split_header(raw)
    key = name.lower().encode() + b":"
    fields = _fields(header)
    for index, found in enumerate(fields):
        if found.lower().startswith(key):
            fields[index] = found[:len(key)] + b" " + value.encode() + CRLF
            return b"".join(fields) + body
    return add_header_if_missing(raw, name, value)


def prepend_header(raw: bytes, name: str, value: str) -> bytes:
    """Put a field on top of the message, as each hop does with Received:."""
    return f"{name}: {value}".encode() + CRLF + raw


def add_header_if_missing(raw: bytes, name: str, value: str) -> bytes:
    if header_values(raw, name):
        return raw
    header, body = split_header(raw)
    return header + f"{name}: {value}".encode() + CRLF + body


def rfc5322_date(when: float) -> str:
    """``when`` as an RFC 5322 date-time in UTC, e.g. ``Thu, 03 Dec 2026 15:04:05 +0000``.

    "+0000", not "-0000": RFC 5322 section 3.3 keeps "-0000" for a time made
    on a system that does not know its own zone. The lab does (it speaks UTC
    everywhere, so every device of the lesson agrees on the clock it shows).
    """
    return email.utils.format_datetime(datetime.fromtimestamp(when, timezone.utc))


def with_protocol(*, extended: bool, authenticated: bool, smtputf8: bool, tls: bool = False) -> str:
    """The ``with`` word of a Received: field: how the message came (RFC 5321 section 4.4).

    ``SMTP`` after HELO, ``ESMTP`` after EHLO; RFC 3848 adds ``S`` for a
    session under TLS and ``A`` for an authenticated one (``ESMTPSA``), and
    RFC 6531 section 3.7.3 names a session whose MAIL FROM said SMTPUTF8
    ``UTF8SMTP`` (``UTF8SMTPA``, ``UTF8SMTPS``, ``UTF8SMTPSA``).

    >>> with_protocol(extended=True, authenticated=True, smtputf8=True)
    'UTF8SMTPA'
    """
    if not (extended or smtputf8):
        return "SMTP"
    return ("UTF8SMTP" if smtputf8 else "ESMTP") + ("S" if tls else "") + ("A" if authenticated else "")


def received(helo: str, peer_name: str, peer_ip: str, by: str, protocol: str,
             queue_id: str, recipients: list[str], when: float) -> str:
    """A Received: field as RFC 5321 section 4.4 describes it (folded for reading)."""
    value = f"from {helo} ({peer_name} [{peer_ip}])\r\n\tby {by} (mailcourse) with {protocol} id {queue_id}"
    if len(recipients) == 1:  # naming several would tell each who else got it (think Bcc)
        value += f"\r\n\tfor <{recipients[0]}>"
    return value + "; " + rfc5322_date(when)


def delivery_status_notification(
    *,
    reporting_mta: str,
    sender: str,
    original: bytes,
    failures: dict[str, str],
    arrival: float,
    when: float,
    boundary: str,
    message_id: str,
    reason: str,
) -> bytes:
    """A bounce: the delivery status notification of RFC 3464 (multipart/report, RFC 6522).

    Three parts: words for the person, the machine-readable status of each
    failed recipient, and the original message's header (so the sender can
    tell which message it was without receiving the whole thing back).
    ``failures`` maps each failed recipient to the server's reply or to our
    own reason (e.g. "4.4.7 delivery time expired").

    The status part is ASCII, as message/delivery-status must be. A
    recipient address outside ASCII goes in RFC 6533's "utf-8" address type,
    its non-ASCII characters written ``\\x{EB}`` (utf-8-addr-xtext, section
    3): ``Final-Recipient: utf-8; zo\\x{EB}@someplace.org``. A sender
    address outside ASCII is written in To: as it is, in UTF-8 (RFC 6532):
    such a bounce needs SMTPUTF8 to travel, as the sender's own mail did.
    """
    report = MIMEMultipart("report", boundary=boundary, report_type="delivery-status")
    report["From"] = f"Mail Delivery System <MAILER-DAEMON@{reporting_mta}>"
    report["To"] = sender
    report["Subject"] = "Undelivered Mail Returned to Sender"
    report["Date"] = rfc5322_date(when)
    report["Message-ID"] = message_id
    report["Auto-Submitted"] = "auto-replied"  # RFC 3834: no auto-reply to this, please
    lines = [
        f"This is the mail system at host {reporting_mta}.",
        "",
        f"Your message could not be delivered to one or more recipients: {reason}.",
        "",
    ]
    lines += [f"<{rcpt}>: {why}" for rcpt, why in failures.items()]
    report.attach(MIMEText("\n".join(lines) + "\n"))

    per_message = Message()
    per_message["Reporting-MTA"] = f"dns; {reporting_mta}"
    per_message["Arrival-Date"] = rfc5322_date(arrival)
    blocks = [per_message]
    for rcpt, why in failures.items():
        block = Message()
        block["Final-Recipient"] = dsn_address(rcpt)
        block["Action"] = "failed"
        status = re.search(r"\b([245]\.\d{1,3}\.\d{1,3})\b", why)
        block["Status"] = status.group(1) if status else "5.0.0"
        # A reply may quote a UTF-8 address; this part is ASCII (RFC 6533 section 4 has the
        # UTF-8 kind, message/global-delivery-status, which this lab does not write yet).
        diagnostic = "".join(c if c.isascii() else _embedded_unicode(c) for c in why)
        block["Diagnostic-Code"] = f"smtp; {diagnostic}" if why[:3].isdigit() else f"X-mailcourse; {diagnostic}"
        blocks.append(block)
    status_part = MIMEBase("message", "delivery-status")
    del status_part["MIME-Version"]
    status_part.set_payload(blocks)
    report.attach(status_part)

    header, _ = split_header(original)
    headers_part = MIMEText(header.decode("utf-8", "replace"), "rfc822-headers")
    del headers_part["MIME-Version"]
    report.attach(headers_part)
    return report.as_bytes(policy=SMTP_POLICY if sender.isascii() else SMTPUTF8_POLICY)


def utf8_addr_xtext(address: str) -> str:
    """``address`` in ASCII, each other character as ``\\x{HEX}`` (RFC 6533 section 3, utf-8-addr-xtext).

    >>> utf8_addr_xtext("zoë@someplace.org")
    'zo\\\\x{EB}@someplace.org'

    The form's QCHAR leaves out "+", "=" and "\\" too (they are xtext's own
    escapes, RFC 3461 section 4); those are written the same way.
    """
    return "".join(c if " " < c <= "~" and c not in "+=\\" else _embedded_unicode(c) for c in address)


def _embedded_unicode(c: str) -> str:
    return f"\\x{{{ord(c):02X}}}"  # RFC 6533's EmbeddedUnicodeChar: "\\x{" HEXPOINT "}"


def dsn_address(address: str) -> str:
    """An address as a DSN's Final-Recipient names it: its type, then the address (RFC 3464 section 2.3.2).

    ``rfc822; jane@somewhereelse.com`` for an ASCII address; RFC 6533's
    ``utf-8; zo\\x{EB}@someplace.org`` for one with UTF-8 in it (RFC 6531).
    """
    if address.isascii():
        return f"rfc822; {address}"
    return f"utf-8; {utf8_addr_xtext(address)}"


def parse(raw: bytes) -> EmailMessage:
    """Parse raw bytes into an `email.message.EmailMessage`.

    On the wire and on disk every line ends in CRLF (RFC 5322 section 2.1);
    Python text uses "\n". The email package keeps the "\r" in the text
    it returns, so the line endings are made Python's first, as the standard
    library's `mailbox` module does when it reads a message.
    """
    return email.message_from_bytes(raw.replace(b"\r\n", b"\n"), policy=email.policy.default)  # type: ignore[return-value]


def domain_of(address: str) -> str:
    """The domain of ``local@domain``, in lower case (domains are case-insensitive, RFC 5321 section 2.4)."""
    return address.rpartition("@")[2].lower()
