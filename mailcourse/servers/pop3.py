"""The POP3 endpoint of a mail server: socket bytes <-> `mailcourse.protocols.pop3`.

The protocol lives in `POP3Session`, which does no I/O. Here are the two
things a real server adds around it:

* `POP3Connection`, the asyncio adapter: bytes in, session, replies out, the
  idle timer, and the TLS handshake STLS asks for (RFC 2595). It records
  nothing: the tap in front of it sees every byte, ciphertext included.
* `Maildrops`, the session's `Backend`: the domain's `Accounts` (logins as
  for SMTP, full address or local part), its `MailStore` (the same files
  SMTP delivers into), and the exclusive lock on each maildrop.

UIDL shows ``<UIDVALIDITY>.<UID>`` of the store: both are kept on disk, so a
message keeps its unique id across sessions and across restarts of the lab,
which is what clients that leave mail on the server rely on.
"""
from __future__ import annotations

import asyncio
import itertools
from typing import cast

from . import POP3, POP3S
from .host import Host, StartTLS
from ..accounts import Accounts
from ..limits import Limits
from ..protocols.pop3 import Message, POP3Session
from ..store import MailStore, StoreError
from ..tap import Endpoint


class POP3Connection(StartTLS, asyncio.Protocol):
    """One client connection: bytes in -> the session -> replies out."""

    def __init__(self, session: POP3Session, idle_timeout: float, host: Host | None = None) -> None:
        self.session = session
        self.idle_timeout = idle_timeout
        self.host = host  # its certificate, for STLS
        self.transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # the tap's: it records, then sends
        self.transport.write(bytes(self.session.greeting))
        self._restart_timer()

    def data_received(self, data: bytes) -> None:
        if self._kept_for_tls(data):
            return
        assert self.transport is not None
        self._restart_timer()
        replies = self.session.receive_data(data)
        if replies:  # one write: pipelined commands get their replies in order, together
            self.transport.write(b"".join(bytes(reply) for reply in replies))
        self._after_replies()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._stop_tls()
        self.session.connection_lost()  # no QUIT, no UPDATE: nothing is removed; the lock is released

    def _restart_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(self.idle_timeout, self._hang_up)

    def _hang_up(self) -> None:
        # RFC 1939 section 3: when the inactivity timer expires "the session does
        # NOT enter the UPDATE state--the server should close the TCP connection
        # without removing any messages or sending any response to the client."
        # (It also asks for at least 10 minutes; the lab uses the server's
        # Limits.idle_timeout, 5 minutes unless changed, as its SMTP does.)
        if self.transport is not None:
            self.transport.close()


class Maildrops:
    """The POP3 view of one domain: its logins, its store, and who holds which maildrop.

    Runs on the host's loop only (every session does), so the set of locks
    needs no lock of its own.
    """

    def __init__(self, accounts: Accounts, store: MailStore) -> None:
        self.accounts = accounts
        self.store = store
        self.locked: set[str] = set()  # accounts a session has open

    def authenticate(self, login: str, password: str) -> str | None:
        return self.accounts.account(login, password)

    def shared_secret(self, login: str) -> tuple[str, str] | None:
        return self.accounts.shared_secret(login)  # the same logins: "jane@somewhereelse.com" or "jane"

    def lock(self, account: str) -> list[Message] | None:
        if account in self.locked:
            return None
        self.locked.add(account)
        try:
            validity = self.store.uidvalidity(account)
            return [Message(m.uid, f"{validity}.{m.uid}", m.size) for m in self.store.list(account)]
        except StoreError:  # an account without a mailbox yet: an empty maildrop
            return []

    def unlock(self, account: str) -> None:
        self.locked.discard(account)

    def read(self, account: str, message: Message) -> bytes | None:
        try:
            return self.store.get(account, message.key)
        except (StoreError, OSError):  # removed meanwhile by something other than POP3
            return None

    def delete(self, account: str, messages: list[Message]) -> int:
        failed = 0
        for message in messages:
            try:
                self.store.delete(account, message.key)
            except StoreError:
                pass  # already gone: what was asked for
            except OSError:
                failed += 1
        return failed


def pop3_endpoint(host: Host, accounts: Accounts, store: MailStore, limits: Limits) -> Endpoint:
    """The POP3 endpoint of ``host`` for the maildrops of ``accounts`` in ``store``, behind a tap."""
    return pop3_endpoints(host, accounts, store, limits, (POP3,))[POP3]


def pop3_endpoints(host: Host, accounts: Accounts, store: MailStore, limits: Limits,
                   services: tuple[str, ...] = (POP3, POP3S)) -> dict[str, Endpoint]:
    """The POP3 endpoints of ``host``: POP3 (with STLS when the host has TLS) and POP3S.

    POP3S is TLS from the first byte (RFC 8314). Both share one `Maildrops`,
    so a maildrop locked by a session on one port is locked on the other too.
    """
    maildrops = Maildrops(accounts, store)
    sessions = itertools.count(1)

    def endpoint(service: str) -> Endpoint:
        implicit = service == POP3S

        def factory() -> POP3Connection:
            # A fresh greeting timestamp for APOP in every session; reproducible in a seeded lab.
            timestamp = f"<{next(sessions)}.{host.new_id()}@{host.hostname}>"
            # Limits are read for each new session: a changed limit applies from the next connection on.
            session = POP3Session(maildrops, host.hostname, timestamp,
                                  starttls=host.tls is not None and not implicit, tls=implicit,
                                  login_requires_tls=limits.login_requires_tls)
            return POP3Connection(session, limits.idle_timeout, host)

        return host.endpoint(service, "POP3", factory, limits,
                             b"-ERR [SYS/TEMP] Too many connections, try later\r\n", implicit_tls=implicit)

    return {service: endpoint(service) for service in services}
