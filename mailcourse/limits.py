"""What a server accepts from one client (a leaf module, shared by every server).

Each limit is enforced by the protocol that it belongs to and tested there:
SMTP's message size and recipient count, every server's idle timer and
connection count, IMAP's literal size (the message size again). Two more
say which SMTP extensions a server offers, so that a lesson can build a
receiver from before 8-bit and international mail and watch what a relay
does about it (`mailcourse.eightbit`).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Limits:
    """What a server accepts from one client; each limit is enforced and tested."""

    max_message_size: int = 10 * 1024 * 1024  # SIZE (RFC 1870); more gets 552
    max_recipients: int = 100  # RCPT commands per message; more get 452 (RFC 5321 4.5.3.1.8)
    idle_timeout: float = 300.0  # seconds of silence before the server hangs up (RFC 5321 4.5.3.2.7)
    max_connections: int = 50  # at once, per endpoint; more get 421
    offer_8bitmime: bool = True  # EHLO says 8BITMIME (RFC 6152); without it BODY=8BITMIME gets 555
    # EHLO says SMTPUTF8 (RFC 6531): UTF-8 addresses and header fields. Only with 8BITMIME,
    # which RFC 6531 section 3.1 requires of a server that offers SMTPUTF8.
    offer_smtputf8: bool = True
