"""What a server accepts from one client (a leaf module, shared by every server).

Each limit is enforced by the protocol that it belongs to and tested there:
SMTP's message size and recipient count, every server's idle timer and
connection count, IMAP's literal size (the message size again). Two more
say which SMTP extensions a server offers, so that a lesson can build a
receiver from before 8-bit and international mail and watch what a relay
does about it (`mailcourse.eightbit`). The last says whether a password may
cross outside TLS.
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
    # Passwords only inside TLS: SMTP AUTH on submission (538 5.7.11, RFC 4954 section 4; EHLO
    # hides AUTH until STARTTLS), POP3 USER/PASS/APOP/AUTH (-ERR; CAPA hides USER and SASL,
    # RFC 2595 section 4) and IMAP LOGIN/AUTHENTICATE (NO; CAPABILITY says LOGINDISABLED,
    # RFC 3501 section 6.2.3). Off by default: the lessons read the plain-text dialogue of the
    # lab's own clients on 127.0.0.1, where no other machine can listen; a lesson switches it
    # on to show why the real world does (RFC 8314 section 3).
    login_requires_tls: bool = False
