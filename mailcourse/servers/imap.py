"""The IMAP endpoint of a mail server: socket bytes <-> `mailcourse.protocols.imap.session`.

The protocol lives in `IMAPSession`, which does no I/O. Around it:

* `IMAPConnection`, the asyncio adapter: bytes in, session, bytes out; the
  autologout timer; news pushed to a client that IDLEs (RFC 2177); and the
  TLS handshake that STARTTLS asks for (RFC 3501 section 6.2.1).
* `Mailboxes`, the session's `Backend`: logins as for SMTP and POP3 (full
  address or local part), the domain's `MailStore` (the very files SMTP
  delivers into and POP3 reads, with the mod-sequences CONDSTORE needs), and
  who has seen which message as \\Recent.

The store calls back (`MailStore.subscribe`) from whichever thread changed
it: SMTP delivery on a disk worker, a notebook cell, this loop. The callback
only asks the host's loop, thread-safely, to look; there every IDLE session
compares its snapshot with the store and tells its client what changed.
"""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from typing import cast

from . import IMAP, IMAPS
from .host import Host, StartTLS
from ..accounts import Accounts
from ..limits import Limits
from ..protocols.imap.session import IMAPSession, MailboxError
from ..store import DELIMITER, SPECIAL_USE, MailStore, MessageInfo, StoreError
from ..tap import Endpoint

AUTOLOGOUT = b"* BYE Autologout; idle for too long\r\n"


class IMAPConnection(StartTLS, asyncio.Protocol):
    """One client connection: bytes in -> the session -> bytes out."""

    def __init__(self, session: IMAPSession, idle_timeout: float, live: set[IMAPConnection],
                 errors: list[str] | None = None, host: Host | None = None) -> None:
        self.session = session
        self.host = host  # its certificate, for STARTTLS
        self.errors = errors if errors is not None else []  # the server's list: a bug is reported, not hidden
        self.idle_timeout = idle_timeout
        self.live = live  # the endpoint's open connections, woken when the store changes
        self.transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # the tap's: it records, then sends
        self.transport.write(self.session.greeting)
        self.live.add(self)
        self._restart_timer()

    def data_received(self, data: bytes) -> None:
        if self._kept_for_tls(data):
            return
        self._restart_timer()
        self._guarded(self.session.receive_data, data)

    def store_changed(self) -> None:
        """Something changed in the store: a client in IDLE hears about it now."""
        self._guarded(self.session.updates)

    def _guarded(self, step: Callable[..., bytes], *args: bytes) -> None:
        try:
            out = step(*args)
        except Exception as error:  # noqa: BLE001  (a bug in the session: end this connection politely, serve the rest)
            self.errors.append(f"IMAP session failed: {error!r}")
            assert self.transport is not None
            self.transport.write(b"* BYE [SERVERBUG] Internal server error, sorry\r\n")
            self.transport.close()
            return
        self._send(out)

    def _send(self, out: bytes) -> None:
        assert self.transport is not None
        if out:  # one write: pipelined commands get their replies in order, together
            self.transport.write(out)
        self._after_replies()

    def connection_lost(self, exc: Exception | None) -> None:
        self.live.discard(self)
        self._stop_tls()
        if self._timer is not None:
            self._timer.cancel()
        self.session.connection_lost()  # nothing is expunged: only EXPUNGE, CLOSE and MOVE do that

    def _restart_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(self.idle_timeout, self._hang_up)

    def _hang_up(self) -> None:
        # RFC 3501 section 5.4: "If a server has an inactivity autologout timer, the duration of
        # that timer MUST be at least 30 minutes", and RFC 2177 has IDLE clients re-issue IDLE
        # every 29 minutes. The lab uses the server's Limits.idle_timeout instead (5 minutes
        # unless changed), as its SMTP and POP3 do, so that a forgotten notebook client does not
        # hold a connection for half an hour. The BYE says why (RFC 3501 section 7.1.5).
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(AUTOLOGOUT)
            self.transport.close()


@contextlib.contextmanager
def _refusals() -> Iterator[None]:
    """The store's refusals, in the words the session understands (its text becomes the NO reply)."""
    try:
        yield
    except StoreError as e:
        raise MailboxError(str(e)) from None
    except OSError as e:  # a message file removed by another program meanwhile
        raise MailboxError(f"cannot read the message: {e.strerror}") from None


class Mailboxes:
    """The IMAP view of one mail server's store: the session's `Backend`.

    Mostly the store itself: each mailbox method passes the call on and turns
    a `StoreError` into the session's `MailboxError`, because the session,
    being sans-I/O, knows nothing of the store.

    \\Recent (RFC 3501 section 2.3.2) belongs to the first session that sees
    a message. UIDs only grow, so remembering, per folder, the highest UID
    some session has claimed is enough. That is kept in memory only: after
    a restart every message is recent again for the first session that
    selects its folder. Runs on the lab's loop only, so it needs no lock.
    """

    delimiter = DELIMITER  # "." as on disk (Maildir++): see the store's docstring
    special_use = SPECIAL_USE

    def __init__(self, store: MailStore, authenticate: Callable[[str, str], str | None]) -> None:
        self.store = store
        self._authenticate = authenticate  # login, password -> account (local part) or None
        self._claimed: dict[tuple[str, str], int] = {}  # (account, folder) -> highest UID claimed

    def authenticate(self, login: str, password: str) -> str | None:
        return self._authenticate(login, password)

    def open_account(self, account: str) -> None:
        with _refusals():
            self.store.create_special_use_folders(account)  # RFC 6154: Sent, Drafts, Trash

    def recent(self, account: str, folder: str, uids: list[int], claim: bool) -> set[int]:
        key = (account, folder)
        claimed = self._claimed.get(key, 0)
        recent = {uid for uid in uids if uid > claimed}
        if claim and recent:
            self._claimed[key] = max(recent)
        return recent

    # -- mailboxes: the store's methods, refusals translated ------------------------------------

    def folders(self, account: str) -> list[str]:
        with _refusals():
            return self.store.folders(account)

    def has_folder(self, account: str, folder: str) -> bool:
        return self.store.has_folder(account, folder)

    def create_folder(self, account: str, folder: str, *, exist_ok: bool = True) -> None:
        with _refusals():
            self.store.create_folder(account, folder, exist_ok=exist_ok)

    def delete_folder(self, account: str, folder: str) -> None:
        with _refusals():
            self.store.delete_folder(account, folder)

    def rename_folder(self, account: str, old: str, new: str) -> None:
        with _refusals():
            self.store.rename_folder(account, old, new)

    def subscriptions(self, account: str) -> list[str]:
        with _refusals():
            return self.store.subscriptions(account)

    def subscribe_folder(self, account: str, folder: str) -> None:
        with _refusals():
            self.store.subscribe_folder(account, folder)

    def unsubscribe_folder(self, account: str, folder: str) -> None:
        with _refusals():
            self.store.unsubscribe_folder(account, folder)

    def uidvalidity(self, account: str, folder: str) -> int:
        with _refusals():
            return self.store.uidvalidity(account, folder)

    def uidnext(self, account: str, folder: str) -> int:
        with _refusals():
            return self.store.uidnext(account, folder)

    def highestmodseq(self, account: str, folder: str) -> int:
        with _refusals():
            return self.store.highestmodseq(account, folder)

    # -- messages -----------------------------------------------------------------------------

    def list(self, account: str, folder: str) -> list[MessageInfo]:
        with _refusals():
            return self.store.list(account, folder)

    def get(self, account: str, uid: int, folder: str) -> bytes:
        with _refusals():
            return self.store.get(account, uid, folder)

    def deliver(self, account: str, raw: bytes, folder: str, flags: frozenset[str],
                internaldate: float | None) -> int:
        with _refusals():
            return self.store.deliver(account, raw, folder, flags, internaldate)

    def set_flags(self, account: str, uid: int, flags: frozenset[str], folder: str,
                  unchanged_since: int | None = None) -> int | None:
        with _refusals():
            return self.store.set_flags(account, uid, flags, folder, unchanged_since)

    def delete(self, account: str, uid: int, folder: str) -> None:
        with _refusals():
            self.store.delete(account, uid, folder)

    def copy(self, account: str, uid: int, source: str, target: str) -> int:
        with _refusals():
            return self.store.copy(account, uid, source, target)

    def move(self, account: str, uid: int, source: str, target: str) -> int:
        with _refusals():
            return self.store.move(account, uid, source, target)


def imap_endpoint(host: Host, accounts: Accounts, store: MailStore, limits: Limits) -> Endpoint:
    """The IMAP endpoint of ``host`` for the mailboxes of ``accounts`` in ``store``, behind a tap."""
    return imap_endpoints(host, accounts, store, limits, (IMAP,))[IMAP]


def imap_endpoints(host: Host, accounts: Accounts, store: MailStore, limits: Limits,
                   services: tuple[str, ...] = (IMAP, IMAPS)) -> dict[str, Endpoint]:
    """The IMAP endpoints of ``host``: IMAP (with STARTTLS when the host has TLS) and IMAPS.

    IMAPS is TLS from the first byte (RFC 8314). Both serve the same
    mailboxes with one `Mailboxes`: a message is \\Recent for one session
    only, whichever port it came in by, and IDLE news reaches both.
    """
    mailboxes = Mailboxes(store, accounts.account)
    live: set[IMAPConnection] = set()
    woken = False

    def wake() -> None:
        nonlocal woken
        woken = False
        for connection in list(live):
            connection.store_changed()

    def changed(account: str, folder: str) -> None:
        # Called on any thread; many changes in a row wake the sessions once.
        nonlocal woken
        if not woken and live:
            woken = True
            try:
                host.loop.call_soon_threadsafe(wake)
            except RuntimeError:  # the loop has stopped: nobody is listening any more
                woken = False

    store.subscribe(changed)

    def endpoint(service: str) -> Endpoint:
        implicit = service == IMAPS

        def factory() -> IMAPConnection:
            # Limits are read for each new session: a changed limit applies from the next connection on.
            session = IMAPSession(mailboxes, host.hostname, max_literal=limits.max_message_size,
                                  starttls=host.tls is not None and not implicit, tls=implicit,
                                  login_requires_tls=limits.login_requires_tls)
            return IMAPConnection(session, limits.idle_timeout, live, host.errors, host)

        return host.endpoint(service, "IMAP", factory, limits,
                             b"* BYE [UNAVAILABLE] Too many connections, try later\r\n", implicit_tls=implicit)

    return {service: endpoint(service) for service in services}
