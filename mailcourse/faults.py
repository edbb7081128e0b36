"""Faults: switches that make a mail server fail on purpose, like a chaos mode.

Real servers fail for reasons a lab never meets: a disk fills up, a database
is down for a minute, a user has used up their quota. These switches make a
lab server give the very replies a real one gives then, so that a lesson can
watch what the other side does about it::

    jane_server = lab.server("somewhereelse.com")
    jane_server.faults.mailbox_full.add("jane")   # RCPT TO:<jane@...> -> 452 4.2.2
    jane_server.faults.temporary_failure = True   # end of DATA -> 451 4.3.0
    jane_server.faults.strip_starttls = True      # someone on the path hides STARTTLS from EHLO
    jane_server.faults.reset()                    # all well again

The first two replies start with a 4: "failed for now, try again later" (RFC 5321
section 4.2.1). The client keeps the message; a server's queue retries it
(RFC 5321 section 4.5.4.1), a person's mail program leaves it in the outbox.

Every switch is read by the SMTP handler (`mailcourse.servers.smtp`) at the
moment it decides, so a change applies at once, to every session: a queue
that retries finds the mailbox full, or not, at each attempt. Mail that
reaches a mailbox without an SMTP RCPT (a bounce for a local sender, local
injection) is not stopped by ``mailbox_full``: the switch is the SMTP reply,
not a real quota.

``tamper_header`` is someone on the path too, between this server and the next: the
relay changes one header field of each message it sends (``("Subject", "new text")``)
after the message was DKIM-signed, so that the receiver finds ``dkim=fail`` (RFC 6376
section 3.7: the signature covers the signed fields as they were). It is applied where the
queue reads the message it sends (`mailcourse.queue`); the stored copy is untouched.

``strip_starttls`` is not the server failing but the network: a man in the
middle who removes STARTTLS from the EHLO reply of the server's SMTP
endpoints (`mailcourse.protocols.smtp_replies.strip_starttls`), so that a
client which only prefers TLS talks in plain text. It is applied by the tap,
on the wire, and the trace shows the reply as the client got it. A relay
whose policy is "required" refuses to go on (`mailcourse.queue`).

The other failures of the course need no switch: they are what the server
always does with a bad command (500, 501, 503), an unknown user (550), a
message over ``server.limits.max_message_size`` (552), an unauthenticated
client (530, 554) or a wrong password (535). `mailcourse.failures` provokes
each of them with real traffic.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .message import replace_header
from .protocols.smtp_replies import strip_starttls

# The exact replies, so that lessons and tests can quote them.
# RFC 3463: X.2.2 "mailbox full"; X.3.0 "other or undefined mail system status".
MAILBOX_FULL_REPLY = "452 4.2.2 <{address}>: Mailbox full, try again later"
TEMPORARY_FAILURE_REPLY = "451 4.3.0 Temporary local problem, try again later"


@dataclass
class Faults:
    """The fault switches of one `MailServer` (``server.faults``); all off at first.

    ``mailbox_full`` holds local parts ("jane"); a full address of the
    server's domain works too. ``temporary_failure`` makes the server answer
    451 at the end of DATA and keep nothing. ``strip_starttls`` hides
    STARTTLS from the EHLO replies of its SMTP endpoints, on the wire.
    """

    mailbox_full: set[str] = field(default_factory=set)
    temporary_failure: bool = False
    strip_starttls: bool = False
    tamper_header: tuple[str, str] | None = None  # (field name, new value) of relayed messages

    def reset(self) -> None:
        """Switch every fault off."""
        self.mailbox_full.clear()
        self.temporary_failure = False
        self.strip_starttls = False
        self.tamper_header = None

    @property
    def active(self) -> bool:
        """True if any switch is on."""
        return (bool(self.mailbox_full) or self.temporary_failure or self.strip_starttls
                or self.tamper_header is not None)

    def tamper_message(self, raw: bytes) -> bytes:
        """What the relay sends instead of ``raw``: one header field changed, if switched on."""
        if self.tamper_header is None:
            return raw
        name, value = self.tamper_header
        return replace_header(raw, name, value)

    def tamper(self, data: bytes) -> bytes:
        """What the tap sends the client instead of ``data`` (a server's plain-text bytes)."""
        return strip_starttls(data) if self.strip_starttls else data

    def is_mailbox_full(self, address: str) -> bool:
        """Is the mailbox of ``address`` (``jane@somewhereelse.com``) switched to "full"?"""
        local = address.rpartition("@")[0].lower() if "@" in address else address.lower()
        # A copy first: a cell may add to the set while the server's thread reads it.
        return any(entry.lower().partition("@")[0] == local for entry in tuple(self.mailbox_full))

    def rcpt_reply(self, address: str) -> str | None:
        """The reply to ``RCPT TO:<address>`` that a fault imposes, or None."""
        if self.is_mailbox_full(address):
            return MAILBOX_FULL_REPLY.format(address=address)
        return None

    def data_reply(self) -> str | None:
        """The reply to the end of DATA that a fault imposes, or None.

        Decided before the message is stored: after a 4yz the client still
        owns the message, so the server must not keep a copy (that would
        deliver it twice when the client sends it again).
        """
        return TEMPORARY_FAILURE_REPLY if self.temporary_failure else None

    def __str__(self) -> str:
        on = [f"mailbox full: {', '.join(sorted(self.mailbox_full))}"] if self.mailbox_full else []
        if self.temporary_failure:
            on.append("temporary failure at the end of DATA")
        if self.strip_starttls:
            on.append("STARTTLS stripped from EHLO on the wire")
        if self.tamper_header is not None:
            on.append(f"{self.tamper_header[0]}: changed on the way out")
        return "; ".join(on) or "no faults"
