"""What a server accepts from one client (a leaf module, shared by every server).

Each limit is enforced by the protocol that it belongs to and tested there:
SMTP's message size and recipient count, every server's idle timer and
connection count, IMAP's literal size (the message size again).
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
