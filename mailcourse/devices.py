"""The devices of the e-mail model: mail servers and client hosts.

The classic figure has four devices::

    Joe's client host --SMTP--> someplace.org server --SMTP--> somewhereelse.com server --POP3/IMAP/HTTP--> Jane's client host
    (compose, outbox spool)     (queue, retry, bounce)         (inbox)                                       (local copies)

`MailServer` is one provider's server (the middle two boxes); `ClientHost` is
one device of one user (the outer boxes). A user may have several client
hosts, a laptop and a phone, say.
"""
from __future__ import annotations

import email
import email.policy
import email.utils
import json
import poplib
import time
from dataclasses import dataclass, replace
from email.message import EmailMessage
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from .durable import write_atomically
from .faults import Faults
from .message import (
    add_header_if_missing,
    delivery_status_notification,
    header_values,
    prepend_header,
    received,
    remove_header,
)
from .queue import NULL_SENDER, OutgoingQueue
from .servers.imap import IMAP, imap_endpoint
from .servers.pop3 import POP3, pop3_endpoint
from .servers.smtp import MX, SUBMISSION, LabSMTP, SMTPHandler
from .store import INBOX, MailStore
from .tap import Endpoint
from .trace import Connection

if TYPE_CHECKING:
    from .imapsync import IMAPMailbox
    from .lab import Lab
    from .webmail import Webmail


class LabError(Exception):
    """A request the lab cannot carry out, explained in words."""


@dataclass
class Limits:
    """What a server accepts from one client; each limit is enforced and tested."""

    max_message_size: int = 10 * 1024 * 1024  # SIZE (RFC 1870); more gets 552
    max_recipients: int = 100  # RCPT commands per message; more get 452 (RFC 5321 4.5.3.1.8)
    idle_timeout: float = 300.0  # seconds of silence before the server hangs up (RFC 5321 4.5.3.2.7)
    max_connections: int = 50  # at once, per endpoint; more get 421


def parse(raw: bytes) -> EmailMessage:
    """Parse raw bytes into an `email.message.EmailMessage`.

    On the wire and on disk every line ends in CRLF (RFC 5322 section 2.1);
    Python text uses "\n". The email package keeps the "\r" in the text
    it returns, so the line endings are made Python's first, as the standard
    library's `mailbox` module does when it reads a message.
    """
    return email.message_from_bytes(raw.replace(b"\r\n", b"\n"), policy=email.policy.default)  # type: ignore[return-value]


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower()


WEBMAIL = "webmail"  # the service name of the webmail endpoint (mailcourse.servers.webmail)


def _webmail_endpoint(server: MailServer) -> Endpoint:
    # Imported here, not at the top: aiohttp and jinja2 take a fifth of a second to
    # import, and `import mailcourse` should stay quick (a lab needs them, a script
    # that only reads a trace does not).
    from .servers.webmail import webmail_endpoint

    return webmail_endpoint(server)


class MailServer:
    """The mail server of one domain: SMTP submission and MX, a queue, a store.

    Create it with `Lab.add_server`. Its endpoints listen on 127.0.0.1 only,
    on ports the kernel picks; ``server.endpoints`` lists them.
    """

    def __init__(self, lab: Lab, domain: str, limits: Limits | None = None) -> None:
        self.lab = lab
        self.domain = domain.lower()
        self.hostname = f"mail.{self.domain}"
        # A copy: a lab's servers may start from one Limits, but changing one
        # server's limits (a lesson makes jane's smaller) must not change the others'.
        self.limits = replace(limits) if limits is not None else Limits()
        self.faults = Faults()  # switches that make this server fail on purpose
        self.path = lab.workspace / "servers" / self.domain
        self.store = MailStore(self.path / "mail", hostname=self.hostname)
        self.queue = OutgoingQueue(self, self.path / "queue", lab.retry_intervals,
                                   lab.queue_lifetime, lab.relay_executor)
        self.users: dict[str, str] = {}  # local part -> password
        self.errors: list[str] = []
        self.endpoints: dict[str, Endpoint] = {
            SUBMISSION: self._smtp_endpoint(SUBMISSION),
            MX: self._smtp_endpoint(MX),
            POP3: pop3_endpoint(self),  # reads the same store as SMTP delivery writes
            IMAP: imap_endpoint(self),  # the same store again, with folders and flags
            WEBMAIL: _webmail_endpoint(self),  # HTTP for browsers, over the same store
        }

    def __repr__(self) -> str:
        return f"<MailServer {self.hostname} users={sorted(self.users)}>"

    def _smtp_endpoint(self, service: str) -> Endpoint:
        handler = SMTPHandler(self, service)
        limits = self.limits

        def factory() -> LabSMTP:
            # Read for each new session: a changed limit applies from the next connection on.
            return LabSMTP(
                handler,
                hostname=self.hostname,
                ident="ESMTP mailcourse",
                data_size_limit=self.limits.max_message_size,
                timeout=self.limits.idle_timeout,
                auth_required=service == SUBMISSION,
                auth_require_tls=False,  # loopback only; STARTTLS comes later
                authenticator=handler.authenticator,
                loop=self.lab.loop,
            )

        return Endpoint(self.lab.network, self.hostname, service, "SMTP", factory,
                        max_connections=limits.max_connections,
                        busy_reply=b"421 4.7.0 " + self.hostname.encode() + b" Too many connections, try later\r\n")

    @property
    def submission(self) -> Endpoint:
        return self.endpoints[SUBMISSION]

    @property
    def mx(self) -> Endpoint:
        return self.endpoints[MX]

    @property
    def webmail(self) -> Webmail:
        """The webmail site of this server (`mailcourse.webmail.Webmail`): its URL, `add_view`."""
        return self.endpoints[WEBMAIL].webmail  # type: ignore[attr-defined]

    # -- running -----------------------------------------------------------------

    async def start(self, queue: bool = True) -> None:
        for endpoint in self.endpoints.values():
            await endpoint.start()
        if queue:
            await self.start_queue()

    async def start_queue(self) -> None:
        if self.queue._task is None:
            self.queue.start()

    async def shutdown(self) -> None:
        await self.queue.stop()
        for endpoint in self.endpoints.values():
            await endpoint.stop()

    @property
    def is_online(self) -> bool:
        return all(e.online for e in self.endpoints.values())

    def go_offline(self) -> None:
        """Switch the server off the network: connections are refused (its queue waits too)."""
        async def off() -> None:
            await self.queue.stop()
            for endpoint in self.endpoints.values():
                await endpoint.stop()
        self.lab.call(off())

    def go_online(self) -> None:
        """Back on the network (on the same ports when they are still free); the queue looks at its mail at once."""
        async def on() -> None:
            for endpoint in self.endpoints.values():
                if not endpoint.online:
                    await endpoint.start()
            await self.start_queue()
        self.lab.call(on())

    # -- users ------------------------------------------------------------------

    def add_user(self, name: str, password: str) -> str:
        """Add an account (``joe`` or ``joe@<domain>``); returns its address."""
        local, _, domain = name.lower().rpartition("@") if "@" in name else (name.lower(), "", self.domain)
        if domain != self.domain:
            raise LabError(f"{name} is not an address of {self.domain}")
        self.store.create_account(local)
        self.users[local] = password
        return f"{local}@{self.domain}"

    def is_local_domain(self, domain: str) -> bool:
        return domain.lower() == self.domain

    def has_user(self, address: str) -> bool:
        local, _, domain = address.lower().rpartition("@")
        return self.is_local_domain(domain) and local in self.users

    def authenticate(self, login: str, password: str) -> str | None:
        """The address of the account, if the login and password are right.

        A login is the full address; the local part alone is accepted too, as
        every account of this server is in its one domain.
        """
        login = login.strip().lower()
        local, _, domain = login.rpartition("@") if "@" in login else (login, "", self.domain)
        if domain != self.domain or self.users.get(local) != password:
            return None
        return f"{local}@{self.domain}"

    # -- accepting mail -----------------------------------------------------------

    def receive(self, mail_from: str, rcpts: list[str], raw: bytes, *, helo: str, peer: str,
                protocol: str, submission: bool) -> str:
        """Take responsibility for a message: deliver what is local, queue the rest.

        Called by the SMTP handler before it answers 250 to DATA, and by local
        injection. Everything is on disk when this returns.
        """
        queue_id = self.lab.new_id()
        while queue_id in self.queue.items:  # a seeded lab on a kept workspace draws its old ids again
            queue_id = self.lab.new_id()
        now = time.time()
        if submission:
            # RFC 6409 section 8: a submission server may complete the message.
            # Removing Bcc: here is the safety net; a good client never sends it.
            raw = remove_header(raw, "Bcc")
            raw = add_header_if_missing(raw, "Date", email.utils.formatdate(now))
            raw = add_header_if_missing(raw, "Message-ID", self.lab.new_message_id(domain_of(mail_from) or self.domain))
        local = [r for r in rcpts if self.is_local_domain(domain_of(r))]
        remote = [r for r in rcpts if r not in local]
        for rcpt in local:
            stamped = prepend_header(raw, "Received", received(helo, peer, "127.0.0.1", self.hostname,
                                                               protocol, queue_id, [rcpt], now))
            self.deliver(rcpt, mail_from, stamped)
        if remote:
            stamped = prepend_header(raw, "Received", received(helo, peer, "127.0.0.1", self.hostname,
                                                               protocol, queue_id, remote, now))
            self.queue.enqueue(queue_id, mail_from, remote, stamped)
        return queue_id

    def deliver(self, rcpt: str, mail_from: str, raw: bytes) -> int:
        """Final delivery into a local mailbox, with Return-Path: (RFC 5321 section 4.4)."""
        sender = "" if mail_from == NULL_SENDER else mail_from
        raw = prepend_header(remove_header(raw, "Return-Path"), "Return-Path", f"<{sender}>")
        return self.store.deliver(rcpt.partition("@")[0].lower(), raw)

    def send_bounce(self, sender: str, original: bytes, failures: dict[str, str], arrival: float,
                    reason: str) -> None:
        """Tell ``sender`` that a message could not be delivered (a DSN, RFC 3464)."""
        now = time.time()
        bounce = delivery_status_notification(
            reporting_mta=self.hostname, sender=sender, original=original, failures=failures,
            arrival=arrival, when=now, boundary=f"=_bounce_{self.lab.new_id()}",
            message_id=self.lab.new_message_id(self.domain), reason=reason)
        self.receive(NULL_SENDER, [sender], bounce, helo=self.hostname, peer=self.hostname,
                     protocol="local", submission=False)

    def inject(self, user: str, message: EmailMessage | bytes, rcpts: Iterable[str] | None = None) -> str:
        """Local injection: a user logged in on this host hands over a message.

        This is the "sender on a host that runs SMTP" variant of the model
        (think of the Unix ``sendmail -t`` command): no network client and no
        SMTP session; the server takes the message straight into its queue or
        mailboxes. Recipients default to To:, Cc: and Bcc: of the message, and
        the Bcc: header is removed. The hand-over shows in the trace as a
        "local" hop, so the figures can draw it.
        """
        address = user if "@" in user else f"{user}@{self.domain}"
        if not self.has_user(address):
            raise LabError(f"{address} has no account on {self.hostname}")
        raw = message.as_bytes(policy=email.policy.SMTP) if isinstance(message, EmailMessage) else message
        if rcpts is None:
            fields = header_values(raw, "To") + header_values(raw, "Cc") + header_values(raw, "Bcc")
            rcpts = [addr for _, addr in email.utils.getaddresses(fields) if addr]
        rcpts = list(rcpts)
        if not rcpts:
            raise LabError("the message names no recipient")
        self.lab.network.record_local(address.partition("@")[0] + " (shell)", self.hostname, raw)
        return self.lab.call(self._receive_async(address, rcpts, raw))

    async def _receive_async(self, mail_from: str, rcpts: list[str], raw: bytes) -> str:
        return self.receive(mail_from, rcpts, raw, helo=self.hostname, peer=mail_from.partition("@")[0],
                            protocol="local", submission=True)

    # -- reading mail directly on the server -----------------------------------------

    def mailbox(self, user: str, folder: str = INBOX) -> list[EmailMessage]:
        """Direct server access: read a user's mailbox files where they live."""
        local = user.partition("@")[0].lower()
        return [parse(self.store.get(local, m.uid, folder)) for m in self.store.list(local, folder)]


@dataclass
class SendResult:
    """What became of one spooled message in `ClientHost.send_all`."""

    message_id: str
    subject: str
    accepted: list[str]
    refused: dict[str, str]  # recipient (or "*") -> the server's reply
    reply: str  # the reply to DATA, e.g. "250 2.0.0 Ok: queued as 3F2A1C09B7"

    @property
    def ok(self) -> bool:
        return not self.refused


@dataclass
class FetchResult:
    """What one POP3 session of `ClientHost.fetch_pop3` did."""

    downloaded: list[EmailMessage]  # new to this device, in maildrop order; now in its local store
    deleted: int  # messages removed from the server when the session ended (QUIT)
    left_on_server: int  # messages still in the maildrop after the session
    connection: Connection | None  # the session in the lab's trace


class ClientHost:
    """One device of one user: a mail program with an outbox spool and a local store.

    ``compose`` writes into the outbox on the device's disk and needs no
    network: you can write several messages while offline. ``send_all``
    connects to the user's provider and submits every spooled message in one
    authenticated SMTP session, as a mail program does when you press "Send
    and receive". ``fetch_pop3`` is the other half of that button: one short
    POP3 session that copies new mail into the device's local store, where
    ``local_messages`` reads it, online or not (the offline access model).
    """

    def __init__(self, lab: Lab, name: str, address: str, password: str) -> None:
        self.lab = lab
        self.name = name
        self.address = address.lower()
        self.password = password
        self.path = lab.workspace / "clients" / name
        self.outbox_path = self.path / "outbox"
        self.outbox_path.mkdir(parents=True, exist_ok=True)
        # Mail fetched to this device lives here, in a Maildir of its own, like
        # a desktop client's local folders: readable with no network at all.
        self.local_store = MailStore(self.path / "local", hostname=name)
        self.local_store.create_account(self._account)
        self._uidls_path = self.path / "pop3-uidls"
        self.online = True

    def __repr__(self) -> str:
        return f"<ClientHost {self.name} of {self.address}, {'online' if self.online else 'offline'}>"

    @property
    def server(self) -> MailServer:
        """The user's own provider: the server of the address's domain."""
        found = self.lab.directory.lookup(domain_of(self.address))
        if found is None:
            raise LabError(f"no mail server for {domain_of(self.address)} in the lab")
        return found

    def go_offline(self) -> None:
        self.online = False

    def go_online(self) -> None:
        self.online = True

    # -- the outbox spool ---------------------------------------------------------

    def compose(self, to: str | Iterable[str], subject: str, body: str, *, cc: str | Iterable[str] = (),
                bcc: str | Iterable[str] = (), headers: dict[str, str] | None = None) -> EmailMessage:
        """Write a message into the outbox (no network needed); returns it.

        The envelope (MAIL FROM, RCPT TO) is kept beside the message in the
        spool. Bcc recipients are in the envelope only: this client never
        writes a Bcc: header into what it sends.
        """
        to_list, cc_list, bcc_list = _addresses(to), _addresses(cc), _addresses(bcc)
        msg = EmailMessage()
        msg["From"] = self.address
        if to_list:
            msg["To"] = ", ".join(to_list)
        if cc_list:
            msg["Cc"] = ", ".join(cc_list)
        msg["Subject"] = subject
        msg["Date"] = email.utils.formatdate(time.time())
        msg["Message-ID"] = self.lab.new_message_id(domain_of(self.address))
        for name, value in (headers or {}).items():
            msg[name] = value
        msg.set_content(body)
        envelope = {"mail_from": self.address, "rcpts": to_list + cc_list + bcc_list}
        if not envelope["rcpts"]:
            raise LabError("a message needs at least one recipient (To, Cc or Bcc)")
        self.spool(msg.as_bytes(policy=email.policy.SMTP), envelope)
        return msg

    def spool(self, raw: bytes, envelope: dict) -> Path:
        existing = sorted(self.outbox_path.glob("*.eml"))
        number = int(existing[-1].stem) + 1 if existing else 1
        path = self.outbox_path / f"{number:06d}.eml"
        path.with_suffix(".json").write_text(json.dumps(envelope))
        path.write_bytes(raw)
        return path

    @property
    def outbox(self) -> list[EmailMessage]:
        """The messages waiting in the spool, oldest first."""
        return [parse(p.read_bytes()) for p in sorted(self.outbox_path.glob("*.eml"))]

    def send_all(self) -> list[SendResult]:
        """Submit every spooled message in one authenticated SMTP session.

        A message the server accepted (250 to DATA) leaves the spool; one it
        refused stays there, with the reason in the result.
        """
        if not self.online:
            raise LabError(f"{self.name} is offline: the messages stay in the outbox")
        spooled = sorted(self.outbox_path.glob("*.eml"))
        if not spooled:
            return []
        results = []
        with self.lab.smtp(self.name, self.server.submission) as client:
            client.ehlo()
            client.login(self.address, self.password)
            for path in spooled:
                envelope = json.loads(path.with_suffix(".json").read_text())
                raw = path.read_bytes()
                results.append(self._submit(client, path, raw, envelope))
        return results

    def _submit(self, client, path: Path, raw: bytes, envelope: dict) -> SendResult:
        import smtplib

        msg = parse(raw)
        refused: dict[str, str] = {}
        reply = ""
        try:
            bad = client.sendmail(envelope["mail_from"], envelope["rcpts"], raw)
            reply = client.data_reply
            refused = {r: f"{c} {t.decode()}" for r, (c, t) in bad.items()}
        except smtplib.SMTPRecipientsRefused as e:
            refused = {r: f"{c} {t.decode()}" for r, (c, t) in e.recipients.items()}
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as e:
            refused = {"*": f"{e.smtp_code} {e.smtp_error.decode()}"}
        accepted = [r for r in envelope["rcpts"] if r not in refused and "*" not in refused]
        if accepted:
            # The server took responsibility for these; it is out of our hands.
            # Recipients refused for now (4yz) stay in the outbox for the next
            # send; those refused for good (5yz) are reported and dropped.
            retry = [r for r, why in refused.items() if r != "*" and why.startswith("4")]
            if retry:
                path.with_suffix(".json").write_text(json.dumps(dict(envelope, rcpts=retry)))
            else:
                path.unlink()
                path.with_suffix(".json").unlink()
        return SendResult(str(msg["Message-ID"]), str(msg["Subject"]), accepted, refused, reply)

    # -- reading: direct server access (the oldest form of online access) ----------------

    def read_mailbox(self) -> list[EmailMessage]:
        """Read the inbox where it lives, on the server (a shell login, in the old days).

        Nothing is copied to this device: this is the online access model.
        """
        if not self.online:
            raise LabError(f"{self.name} is offline: direct access needs a connection to the server")
        return self.server.mailbox(self.address)

    # -- reading: POP3, the offline access model (RFC 1939) ------------------------------

    @property
    def _account(self) -> str:
        return self.address.partition("@")[0]

    @property
    def seen_uidls(self) -> set[str]:
        """The UIDLs of the messages on the server that this device has downloaded already.

        A UIDL (RFC 1939 section 7) is the server's name for a message, the
        same in every session, so a client that keeps the list on its own
        disk can ask for only what is new, as fetchmail and getmail do.
        """
        try:
            return set(self._uidls_path.read_text().split())
        except FileNotFoundError:
            return set()

    def _save_uidls(self, uidls: set[str]) -> None:
        # A crash leaves the old list or the new one, never half.
        write_atomically(self._uidls_path, "".join(f"{uidl}\n" for uidl in sorted(uidls)))

    def fetch_pop3(self, *, keep_on_server: bool = False) -> FetchResult:
        """Download new mail in one short POP3 session; delete it on the server unless told to keep it.

        The session is the textbook one: USER and PASS, UIDL to learn which
        messages the maildrop holds, RETR for each one this device has not
        seen, DELE, QUIT. Each message is saved in the local store before its
        UIDL is noted as seen, so a crash can at worst download a message
        twice, never lose it. With ``keep_on_server=False`` (the classic
        model) every message of the maildrop is deleted, including those
        kept there by an earlier session: this device has them all now. With
        ``keep_on_server=True`` nothing is deleted, and the next fetch skips
        what was downloaded before.
        """
        if not self.online:
            raise LabError(f"{self.name} is offline: fetching mail needs a connection to the server")
        server = self.server
        endpoint = server.endpoints.get(POP3)
        if endpoint is None:
            raise LabError(f"{server.hostname} has no POP3 endpoint")
        try:
            client = self.lab.pop3(self.name, endpoint)
        except (poplib.error_proto, OSError) as e:  # refused, or a busy server's -ERR greeting
            raise LabError(f"{self.name} cannot reach {server.hostname}'s POP3 port: {_reason(e)}") from e
        connection = self._connection_of(client.local_address)
        seen = self.seen_uidls
        downloaded: list[EmailMessage] = []
        maildrop: dict[int, str] = {}
        to_delete: list[int] = []
        try:
            client.user(self.address)
            client.pass_(self.password)
            maildrop = _uidl_listing(client)  # message number -> UIDL, for this session
            for number, uidl in maildrop.items():
                if uidl in seen:
                    continue
                # poplib has undone the byte-stuffing and split the lines: put the CRLFs back.
                _, lines, _ = client.retr(number)
                raw = b"".join(line + b"\r\n" for line in lines)
                self.local_store.deliver(self._account, raw)
                seen.add(uidl)
                self._save_uidls(seen)
                downloaded.append(parse(raw))
            to_delete = [] if keep_on_server else list(maildrop)
            for number in to_delete:
                client.dele(number)
            client.quit()
        except (poplib.error_proto, OSError) as e:
            # RFC 1939 section 6: the server removes messages marked by DELE only
            # in the UPDATE state, after QUIT. A session that ends any other way
            # (an error, a dropped connection) deletes nothing on the server, and
            # the copies saved so far stay on this device, known by their UIDLs.
            client.close()
            raise LabError(f"the POP3 session with {server.hostname} failed ({_reason(e)}): without a "
                           f"completed QUIT the server deletes nothing; the {len(downloaded)} message(s) "
                           f"downloaded before the failure are in {self.name}'s local store") from e
        # The session ended well: forget UIDLs that are no longer on the server
        # (deleted now, or by another device), so the list does not grow forever.
        self._save_uidls(seen & {uidl for number, uidl in maildrop.items() if number not in to_delete})
        return FetchResult(downloaded, len(to_delete), len(maildrop) - len(to_delete), connection)

    def _connection_of(self, local_address: tuple[str, int], protocol: str = "POP3") -> Connection | None:
        # The tap names a connection by the client's address; the last one with it is ours.
        for conn in reversed(self.lab.trace.sessions(protocol=protocol)):
            if tuple(conn.client_addr) == tuple(local_address):
                return conn
        return None

    def local_messages(self) -> list[EmailMessage]:
        """The mail downloaded to this device, oldest first; no network needed."""
        store = self.local_store
        return [parse(store.get(self._account, m.uid)) for m in store.list(self._account)]

    # -- reading: IMAP, the disconnected access model (RFC 1733, RFC 3501) ----------------

    @cached_property
    def imap(self) -> IMAPMailbox:
        """This device's IMAP mail: a cache of the server's folders, changed offline, synced by ``sync()``.

        Created on first use; the cache and the journal of offline changes
        live on the device's disk, under ``<device>/imap``. See
        `mailcourse.imapsync` for how the two-way sync works.
        """
        from .imapsync import IMAPMailbox  # imapsync builds on this module

        return IMAPMailbox(self)


def _reason(error: Exception) -> str:
    # poplib's errors carry the server's reply as bytes (b"-ERR ..."); socket errors are text.
    first = error.args[0] if error.args else ""
    return first.decode("utf-8", "replace") if isinstance(first, bytes) else str(error)


def _uidl_listing(client: poplib.POP3) -> dict[int, str]:
    """``UIDL`` without an argument (RFC 1939 section 7): message number -> unique id."""
    _, lines, _ = client.uidl()
    listing = {}
    for line in lines:
        number, uidl = line.decode("ascii", "replace").split(None, 1)
        listing[int(number)] = uidl.strip()
    return dict(sorted(listing.items()))


def _addresses(value: str | Iterable[str]) -> list[str]:
    items = [value] if isinstance(value, str) else list(value)
    return [addr for _, addr in email.utils.getaddresses(items) if addr]
