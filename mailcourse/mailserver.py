"""The mail server of one domain: its endpoints, its queue, its store, its accounts.

In the classic figure of the e-mail model it is one of the two middle boxes::

    Joe's client host --SMTP--> someplace.org server --SMTP--> somewhereelse.com server --POP3/IMAP/HTTP--> Jane's client host

This is where a server is assembled: the SMTP submission and MX endpoints,
POP3, IMAP and the webmail, each over the same `MailStore`, and the outgoing
queue. Submission, MX, POP3 and IMAP offer STARTTLS (STLS for POP3), and
submissions, pop3s and imaps are the same services with TLS from the first
byte (RFC 8314), all with the server's certificate from the lab's CA
(`mailcourse.tls`). The adapters in `mailcourse.servers` are given only the parts they use:
the `Host` (name, tap network, loop, ids, workers, error list), the domain's
`Accounts`, the store, the `Limits`, the `Faults`, and for SMTP the `receive`
method below. None of them sees this object, so each can be built and tested
without a lab.
"""
from __future__ import annotations

import email
import email.policy
import email.utils
import os
import threading
import time
from dataclasses import replace
from email.message import EmailMessage
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

from .accounts import Accounts
from .errors import LabError, MessageRefused
from .faults import Faults
from .limits import Limits
from .message import (
    add_header_if_missing,
    delivery_status_notification,
    domain_of,
    header_values,
    parse,
    prepend_header,
    received,
    remove_header,
    rfc5322_date,
)
from .queue import NULL_SENDER, RELAY_TLS_POLICIES, OutgoingQueue
from .servers import IMAP, IMAPS, MX, POP3, POP3S, SUBMISSION, SUBMISSIONS, WEBMAIL, WEBMAILS
from .servers.host import Host
from .servers.imap import imap_endpoints
from .servers.pop3 import pop3_endpoints
from .servers.smtp import smtp_endpoint
from .store import INBOX, MailStore
from .tap import Endpoint

if TYPE_CHECKING:
    from .clients.smtp import SMTPClient
    from .lab import Lab
    from .senderauth import SenderAuth
    from .webmail import Webmail


# Where an MX puts mail that fails DMARC under p=quarantine (RFC 7489 section 6.3): the
# folder mail programs show as Junk or Spam.
JUNK = "Junk"


class MailServer:
    """The mail server of one domain: SMTP submission and MX, a queue, a store.

    Create it with `Lab.add_server`. Its endpoints listen on 127.0.0.1 only,
    on free ports the lab draws (`mailcourse.ports`); ``server.endpoints`` lists them.
    """

    def __init__(self, lab: Lab, domain: str, limits: Limits | None = None) -> None:
        self.lab = lab
        self.domain = domain.lower()
        self.hostname = f"mail.{self.domain}"
        # A copy: a lab's servers may start from one Limits, but changing one
        # server's limits (a lesson makes jane's smaller) must not change the others'.
        self.limits = replace(limits) if limits is not None else Limits()
        self.faults = Faults()  # switches that make this server fail on purpose
        # SPF, DKIM and DMARC (mailcourse.senderauth.SenderAuth): off unless a lab switches it on
        self.sender_auth: SenderAuth | None = None
        self.path = lab.workspace / "servers" / self.domain
        self.store = MailStore(self.path / "mail", hostname=self.hostname)
        self.accounts = Accounts(self.domain, self.store)
        self.queue = OutgoingQueue(self, self.path / "queue", lab.retry_intervals,
                                   lab.queue_lifetime, lab.relay_executor)
        self.errors: list[str] = []  # bugs caught in a session, reported here by every endpoint
        self._webmail: Webmail | None = None  # see `webmail`
        self._webmail_lock = threading.Lock()
        self.relay_tls = lab.relay_tls  # how the queue uses STARTTLS towards other servers
        # Disk writes (fsync before SMTP's 250) in the lab's disk pool, never the relay pool. The
        # certificate is made when a client first asks for TLS (`mailcourse.tls`).
        self.host = Host(self.hostname, lab.network, lab.loop, lab.new_id, lab.disk_executor, self.errors,
                         tls=partial(lab.tls.server_context, self.hostname))
        # The Limits object itself, not a copy: each endpoint reads it at every new session,
        # so a lesson that changes ``server.limits.max_recipients`` sees it at the next connection.
        smtp = partial(smtp_endpoint, self.host, accounts=self.accounts, limits=self.limits,
                       faults=self.faults, receive=self.receive)
        pop3 = pop3_endpoints(self.host, self.accounts, self.store, self.limits)  # the store SMTP delivers into
        imap = imap_endpoints(self.host, self.accounts, self.store, self.limits)  # the same, with folders and flags
        self.endpoints: dict[str, Endpoint] = {
            SUBMISSION: smtp(SUBMISSION),
            MX: smtp(MX),
            POP3: pop3[POP3],
            IMAP: imap[IMAP],
            WEBMAIL: self._webmail_endpoint(),  # HTTP for browsers, over the same store
            SUBMISSIONS: smtp(SUBMISSIONS),  # implicit TLS (RFC 8314): 465, 995 and 993 in the real world
            POP3S: pop3[POP3S],
            IMAPS: imap[IMAPS],
        }
        if lab.webmail_https:  # the webmail over TLS too (serve asks for it; the lessons embed plain HTTP)
            self.endpoints[WEBMAILS] = self._https_endpoint()

    def __repr__(self) -> str:
        return f"<MailServer {self.hostname} users={sorted(self.users)}>"

    def _webmail_endpoint(self) -> Endpoint:
        # The endpoint listens now; aiohttp, jinja2 and nh3 (some 10 MB in a kernel, a fifth of
        # a second to import) are imported at its first connection, or when a cell asks for
        # ``server.webmail``. Only the webmail lesson needs them.
        from .servers.webmail import webmail_endpoint

        return webmail_endpoint(self.host, lambda: self.webmail, self.limits)

    def _https_endpoint(self) -> Endpoint:
        from .servers.webmail import WebmailEndpoint, https_endpoint

        plain = self.endpoints[WEBMAIL]
        assert isinstance(plain, WebmailEndpoint)
        return https_endpoint(self.host, plain, self.limits)

    def _make_webmail(self) -> Webmail:
        from .webmail import Webmail

        webmail = Webmail(self.hostname, self.accounts, self.store, self.limits,
                          new_message_id=partial(self.lab.new_message_id, self.domain),
                          submission=self._submission_client,
                          # smtplib blocks in the relay pool: the submission server's 250
                          # waits for a disk worker, so the two must never share a pool.
                          executor=self.lab.relay_executor)
        webmail.endpoint = self.endpoints[WEBMAIL]
        return webmail

    def _submission_client(self, device: str) -> SMTPClient:
        # The webmail is a mail program: it sends through this server's own submission port,
        # with STARTTLS first where that port takes passwords only inside TLS (RFC 8314 section 3).
        client = self.lab.smtp(device, self.submission)
        if self.limits.login_requires_tls:
            try:
                client.ehlo()
                if client.has_extn("starttls"):
                    client.starttls(context=self.lab.tls.client_context(), server_hostname=self.hostname)
            except BaseException:
                client.close()
                raise
        return client

    @property
    def submission(self) -> Endpoint:
        return self.endpoints[SUBMISSION]

    @property
    def mx(self) -> Endpoint:
        return self.endpoints[MX]

    @property
    def relay_tls(self) -> str:
        """How the queue relays to other servers: "none", "opportunistic" or "required" (`mailcourse.queue`)."""
        return self._relay_tls

    @relay_tls.setter
    def relay_tls(self, policy: str) -> None:
        if policy not in RELAY_TLS_POLICIES:
            raise LabError(f"relay_tls must be one of {', '.join(RELAY_TLS_POLICIES)}, not {policy!r}")
        self._relay_tls = policy

    @property
    def webmail(self) -> Webmail:
        """The webmail site of this server (`mailcourse.webmail.Webmail`): its URL, `add_view`.

        Made the first time it is needed (here, or at the endpoint's first connection).
        """
        with self._webmail_lock:  # the notebook's thread and the lab's loop may both ask first
            if self._webmail is None:
                self._webmail = self._make_webmail()
            return self._webmail

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

    # -- users: the server's `Accounts` (``server.accounts``) -------------------------

    @property
    def users(self) -> dict[str, str]:
        """Every account of this server: local part -> password."""
        return self.accounts.users

    def add_user(self, name: str, password: str) -> str:
        """Add an account (``joe`` or ``joe@<domain>``) with an empty mailbox; returns its address."""
        return self.accounts.add_user(name, password)

    def is_local_domain(self, domain: str) -> bool:
        return self.accounts.is_local_domain(domain)

    def has_user(self, address: str) -> bool:
        return self.accounts.has_user(address)

    def authenticate(self, login: str, password: str) -> str | None:
        """The address of the account, if the login (full address or local part) and password are right."""
        return self.accounts.authenticate(login, password)

    # -- accepting mail -----------------------------------------------------------

    def receive(self, mail_from: str, rcpts: list[str], raw: bytes, *, helo: str, peer: str,
                protocol: str, submission: bool, mail_options: Sequence[str] = (),
                client_ip: str | None = None) -> str:
        """Take responsibility for a message: deliver what is local, queue the rest.

        Called by the SMTP handler before it answers 250 to DATA, and by local
        injection. Everything is on disk when this returns. ``mail_options``
        are the parameters of MAIL FROM: the queue keeps BODY=8BITMIME and
        SMTPUTF8 with the message, for the relay to pass on (RFC 6152, RFC 6531).

        With ``sender_auth`` on (`mailcourse.senderauth.SenderAuth`), what this
        server's users submit for its domain is DKIM-signed (RFC 6376), and what
        arrives from another host (``client_ip``, the SMTP client's address) is
        checked for SPF, DKIM and DMARC and gets an Authentication-Results field
        (RFC 8601). A DMARC failure under ``p=reject`` raises `MessageRefused`
        (550 5.7.1: nothing is kept); under ``p=quarantine`` local delivery goes
        to the folder Junk; a DNS failure during the checks is 451 4.4.3, so
        the sender retries.
        """
        queue_id = self.lab.new_id()
        while queue_id in self.queue.items:  # a seeded lab on a kept workspace draws its old ids again
            queue_id = self.lab.new_id()
        now = time.time()
        if submission:
            # RFC 6409 section 8: a submission server may modify what users hand in, to meet the
            # standards and site policy: a missing Date: (8.2) or Message-ID: (8.3). Its list does
            # not name Bcc:; removing it is this lab's policy, a safety net for a client that
            # forgets to take the line out itself (RFC 5322 section 3.6.3).
            raw = remove_header(raw, "Bcc")
            raw = add_header_if_missing(raw, "Date", rfc5322_date(now))
            raw = add_header_if_missing(raw, "Message-ID", self.lab.new_message_id(domain_of(mail_from) or self.domain))
            if self.sender_auth is not None and self.is_local_domain(domain_of(mail_from)):
                raw = self.sender_auth.sign(raw, self.domain)  # last: the fields above are signed too
        folder = INBOX
        if self.sender_auth is not None and not submission and client_ip is not None:
            verdict, raw = self.sender_auth.check(raw, ip=client_ip, helo=helo, mail_from=mail_from)
            if verdict.action == "reject":
                raise MessageRefused(f"550 5.7.1 Message refused: DMARC policy of {verdict.dmarc.from_domain} "
                                     "is reject, and this message failed DMARC")
            if verdict.action == "tempfail":
                raise MessageRefused("451 4.4.3 Temporary DNS failure while checking the sender; try again later")
            if verdict.action == "quarantine":
                folder = JUNK
        local = [r for r in rcpts if self.is_local_domain(domain_of(r))]
        remote = [r for r in rcpts if r not in local]
        for rcpt in local:
            stamped = prepend_header(raw, "Received", received(helo, peer, "127.0.0.1", self.hostname,
                                                               protocol, queue_id, [rcpt], now))
            self.deliver(rcpt, mail_from, stamped, folder)
        if remote:
            stamped = prepend_header(raw, "Received", received(helo, peer, "127.0.0.1", self.hostname,
                                                               protocol, queue_id, remote, now))
            options = {option.upper() for option in mail_options}
            self.queue.enqueue(queue_id, mail_from, remote, stamped,
                               body="8BITMIME" if "BODY=8BITMIME" in options else "7BIT",
                               smtputf8="SMTPUTF8" in options)
        return queue_id

    def deliver(self, rcpt: str, mail_from: str, raw: bytes, folder: str = INBOX) -> int:
        """Final delivery into a local mailbox, with Return-Path: (RFC 5321 section 4.4)."""
        sender = "" if mail_from == NULL_SENDER else mail_from
        raw = prepend_header(remove_header(raw, "Return-Path"), "Return-Path", f"<{sender}>")
        account = rcpt.partition("@")[0].lower()
        if folder != INBOX:
            self.store.create_folder(account, folder)  # Junk appears with its first message
        return self.store.deliver(account, raw, folder)

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

    def file(self, user: str, message: bytes | str | os.PathLike[str], folder: str = INBOX) -> int:
        """Put a message straight into a mailbox, byte for byte, as mail that arrived earlier; returns its UID.

        For a lesson that needs a full mailbox before it starts (the samples of
        `mailcourse.corpus`). ``message`` is the bytes or the path of an
        ``.eml`` file. Unlike `inject` (a user handing over *new* mail, which
        goes through the queue) and `deliver` (final delivery, which adds
        Return-Path: from the envelope, RFC 5321 section 4.4), nothing is
        added: a seed has no envelope, and its trace fields, if any, are in
        the file already. So the store holds exactly the file's bytes, and
        POP3, IMAP and the webmail show exactly them. Nothing crosses the
        network, so nothing shows in the trace.
        """
        raw = message if isinstance(message, bytes) else Path(message).read_bytes()
        local = user.partition("@")[0].lower()
        if local not in self.users:
            raise LabError(f"{user} has no account on {self.hostname}")
        if folder != INBOX and not self.store.has_folder(local, folder):
            self.store.create_folder(local, folder)
        return self.store.deliver(local, raw, folder)

    # -- reading mail directly on the server -----------------------------------------

    def mailbox(self, user: str, folder: str = INBOX) -> list[EmailMessage]:
        """Direct server access: read a user's mailbox files where they live."""
        local = user.partition("@")[0].lower()
        return [parse(self.store.get(local, m.uid, folder)) for m in self.store.list(local, folder)]
