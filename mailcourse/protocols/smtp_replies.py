"""SMTP replies: what each code means, and its enhanced status code.

An SMTP reply is a three-digit code and text (RFC 5321 section 4.2). The first
digit says how it went:

    2yz  done            (250 OK)
    3yz  go on           (354 start mail input, 334 AUTH challenge)
    4yz  failed for now  (the client keeps the message and tries again later)
    5yz  failed for good (the client gives up and tells the sender: a bounce)

A server that advertises ENHANCEDSTATUSCODES (RFC 2034) starts the text of its
replies with a finer code, ``class.subject.detail`` (RFC 3463), for example
``550 5.1.1`` "bad destination mailbox address". RFC 2034 section 4 leaves
out the greeting and the replies to HELO/EHLO; continuation replies (334, 354)
carry no code either, as in Postfix.

aiosmtpd writes replies without enhanced codes; `enhance` adds them from the
table below, chosen by the command being answered. Nothing here does I/O.
"""
from __future__ import annotations

import re

# What a student should know about each basic code (RFC 5321 section 4.2.2-4.2.3).
MEANING: dict[int, str] = {
    211: "system status",
    214: "help message",
    220: "service ready (the greeting)",
    221: "closing the connection",
    235: "authentication succeeded (RFC 4954)",
    250: "requested action okay, completed",
    251: "user not local; will forward",
    252: "cannot verify the user, but will accept the message",
    334: "authentication challenge: send the next part (RFC 4954)",
    354: "start mail input; end with <CRLF>.<CRLF>",
    421: "service not available, closing the connection",
    450: "mailbox unavailable for now (busy); try again later",
    451: "local error in processing; try again later",
    452: "insufficient storage, or too many recipients; try again later",
    454: "temporary authentication failure",
    500: "syntax error, command unrecognised (or line too long)",
    501: "syntax error in parameters or arguments",
    502: "command not implemented",
    503: "bad sequence of commands",
    504: "command parameter not implemented",
    530: "authentication required (RFC 4954)",
    535: "authentication credentials invalid (RFC 4954)",
    538: "encryption required for this authentication mechanism (RFC 4954)",
    550: "mailbox unavailable (no such user, or policy refusal)",
    551: "user not local",
    552: "exceeded storage allocation (message too large, mailbox full)",
    553: "mailbox name not allowed",
    554: "transaction failed (or: relay access denied)",
    555: "MAIL FROM / RCPT TO parameters not recognised",
}

# Enhanced status codes (RFC 3463) by (command, basic code); command None = any.
_ENHANCED: dict[tuple[str | None, int], str] = {
    ("MAIL", 250): "2.1.0",
    ("RCPT", 250): "2.1.5",
    ("DATA", 250): "2.6.0",
    (None, 250): "2.0.0",
    (None, 221): "2.0.0",
    (None, 252): "2.0.0",  # VRFY: "cannot verify, will try" (as Postfix answers)
    (None, 235): "2.7.0",
    (None, 421): "4.4.2",
    (None, 450): "4.2.1",
    (None, 451): "4.3.0",
    ("RCPT", 452): "4.5.3",
    (None, 452): "4.3.1",
    (None, 454): "4.7.0",
    (None, 500): "5.5.2",
    (None, 501): "5.5.4",
    (None, 502): "5.5.1",
    (None, 503): "5.5.1",
    (None, 504): "5.5.4",
    (None, 530): "5.7.0",
    (None, 535): "5.7.8",
    (None, 538): "5.7.11",
    ("RCPT", 550): "5.1.1",
    (None, 550): "5.7.1",
    (None, 551): "5.1.6",
    (None, 552): "5.3.4",
    ("MAIL", 553): "5.7.1",
    (None, 553): "5.1.3",
    (None, 554): "5.7.1",
    (None, 555): "5.5.4",
}

# Replies that RFC 2034 section 4 and common practice leave without a code.
_NO_ENHANCED = {220, 334, 354}
_HAS_ENHANCED = re.compile(r"^\d{3}[ -][245]\.\d{1,3}\.\d{1,3}( |$)")
_REPLY = re.compile(r"^(\d{3})([ -])(.*)$", re.DOTALL)


def enhanced_code(command: str | None, code: int) -> str | None:
    """The RFC 3463 code for basic ``code`` answering ``command``, if there is one."""
    return _ENHANCED.get((command, code)) or _ENHANCED.get((None, code))


def enhance(command: str | None, reply: str) -> str:
    """Insert the enhanced status code into one reply line, unless it has one.

    >>> enhance("RCPT", "503 Error: need MAIL command")
    '503 5.5.1 Error: need MAIL command'
    >>> enhance("MAIL", "250 OK")
    '250 2.1.0 OK'
    """
    if command in ("EHLO", "HELO") or _HAS_ENHANCED.match(reply):
        return reply
    m = _REPLY.match(reply)
    if not m:
        return reply
    code = int(m.group(1))
    extra = None if code in _NO_ENHANCED else enhanced_code(command, code)
    if extra is None:
        return reply
    return f"{m.group(1)}{m.group(2)}{extra} {m.group(3)}"


def is_transient(code: int) -> bool:
    """4yz: the client keeps the message and tries again later (RFC 5321 section 4.2.1)."""
    return 400 <= code < 500


def is_permanent(code: int) -> bool:
    """5yz: the client gives up; the sender is told by a bounce (RFC 5321 section 4.2.1)."""
    return 500 <= code < 600


_STARTTLS_LINE = re.compile(rb"^250([- ])STARTTLS[ \t]*\r?\n", re.MULTILINE | re.IGNORECASE)


def strip_starttls(data: bytes) -> bytes:
    """What a man in the middle makes of a server's EHLO reply: STARTTLS gone.

    The "STRIPTLS" downgrade: with no STARTTLS offered (RFC 3207 section 4),
    a client that only *prefers* TLS goes on in plain text, and whoever sits
    on the path reads everything. A line ``250-STARTTLS`` is removed; a last
    line ``250 STARTTLS`` cannot be (the line before it has gone out already)
    and becomes ``250 XXXXXXXX``, as some firewalls of the 2000s rewrote it.

    >>> strip_starttls(b"250-SMTPUTF8\\r\\n250-STARTTLS\\r\\n250 HELP\\r\\n")
    b'250-SMTPUTF8\\r\\n250 HELP\\r\\n'
    """
    def rewrite(m: re.Match[bytes]) -> bytes:
        return b"" if m.group(1) == b"-" else m.group(0).replace(m.group(0)[4:12], b"XXXXXXXX")

    return _STARTTLS_LINE.sub(rewrite, data)
