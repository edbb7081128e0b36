"""A client host: one device of one user, with an outbox spool and local copies.

In the classic figure of the e-mail model it is one of the outer boxes::

    Joe's client host --SMTP--> someplace.org server --SMTP--> somewhereelse.com server --POP3/IMAP/HTTP--> Jane's client host
    (compose, outbox spool)                                                                                  (local copies)

A user may have several client hosts, a laptop and a phone, say. Each uses
the clients in `mailcourse.clients`: smtplib to submit, poplib for the
offline model, imaplib and the sync engine for the disconnected model.
"""
from __future__ import annotations

import email
import email.policy
import email.utils
import json
import poplib
import time
from dataclasses import dataclass
from email.message import EmailMessage
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from .clients.pop3 import Download, DownloadFailed, reason
from .errors import LabError
from .message import domain_of, parse, rfc5322_date
from .servers import POP3
from .store import MailStore
from .trace import Connection

if TYPE_CHECKING:
    from .clients.imapsync import IMAPMailbox
    from .lab import Lab
    from .mailserver import MailServer


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

    ``tls = True`` is a mail program's "connection security: STARTTLS":
    ``send_all`` and ``fetch_pop3`` start TLS (STARTTLS, RFC 3207; STLS, RFC
    2595) before they log in, and check the server's certificate against the
    lab's CA; a server that does not offer it is not sent the password.
    Off by default, so that the lessons read the whole dialogue.
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
        self.online = True
        self.tls = False  # STARTTLS / STLS before logging in (see the class's docstring)

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
        msg["Date"] = rfc5322_date(time.time())
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
            if self.tls or (not client.has_extn("auth") and client.has_extn("starttls")):
                # A device set to use TLS (``tls``), or one whose server hides AUTH until
                # STARTTLS (`Limits.login_requires_tls`): upgrade before the password.
                if not client.has_extn("starttls"):
                    raise LabError(f"{self.server.hostname} does not offer STARTTLS: {self.name} keeps the "
                                   "password, and the messages stay in the outbox")
                client.starttls(context=self.lab.tls.client_context(), server_hostname=self.server.hostname)
                client.ehlo()  # RFC 3207 section 4.2: everything learnt before TLS is forgotten
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

    @cached_property
    def _pop3(self) -> Download:
        return Download(self.local_store, self._account, self.path / "pop3-uidls")

    @property
    def seen_uidls(self) -> set[str]:
        """The UIDLs of the messages on the server that this device has downloaded already.

        A UIDL (RFC 1939 section 7) is the server's name for a message, the
        same in every session, so a client that keeps the list on its own
        disk can ask for only what is new, as fetchmail and getmail do.
        """
        return self._pop3.seen_uidls

    def fetch_pop3(self, *, keep_on_server: bool = False) -> FetchResult:
        """Download new mail in one short POP3 session; delete it on the server unless told to keep it.

        The session is the textbook one: USER and PASS, UIDL to learn which
        messages the maildrop holds, RETR for each one this device has not
        seen, DELE, QUIT (`mailcourse.clients.pop3.Download`). Each message
        is saved in the local store before its UIDL is noted as seen, so a
        crash can at worst download a message twice, never lose it. With
        ``keep_on_server=False`` (the classic model) every message of the
        maildrop is deleted, including those kept there by an earlier
        session: this device has them all now. With ``keep_on_server=True``
        nothing is deleted, and the next fetch skips what was downloaded before.
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
            raise LabError(f"{self.name} cannot reach {server.hostname}'s POP3 port: {reason(e)}") from e
        connection = self._connection_of(client.local_address)
        if self.tls:
            try:
                client.stls(self.lab.tls.client_context())  # RFC 2595 section 4; the certificate names 127.0.0.1
            except (poplib.error_proto, OSError) as e:
                client.close()
                raise LabError(f"{self.name} could not start TLS with {server.hostname}: {reason(e)}") from e
        try:
            downloaded, deleted, left = self._pop3.run(client, self.address, self.password,
                                                      keep_on_server=keep_on_server)
        except DownloadFailed as e:
            raise LabError(f"the POP3 session with {server.hostname} failed ({e.reason}): without a "
                           f"completed QUIT the server deletes nothing; the {len(e.downloaded)} message(s) "
                           f"downloaded before the failure are in {self.name}'s local store") from e
        return FetchResult(downloaded, deleted, left, connection)

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
        `mailcourse.clients.imapsync` for how the two-way sync works.
        """
        from .clients.imapsync import IMAPMailbox  # imported when first used: most devices never sync by IMAP

        return IMAPMailbox(self)


def _addresses(value: str | Iterable[str]) -> list[str]:
    items = [value] if isinstance(value, str) else list(value)
    return [addr for _, addr in email.utils.getaddresses(items) if addr]
