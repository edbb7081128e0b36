"""The server host an endpoint runs on: what every service of one machine shares.

A real mail host is one machine with one name that runs several daemons:
SMTP, POP3, IMAP, a web server. Here that machine is a `Host`: its name, the
wire its sockets are on (the tap `Network`, which records into a trace), the
asyncio loop its sessions run on, where its ids come from, the worker
threads for blocking work, and the list where a session's bug is reported.
Each adapter in `mailcourse.servers` takes a `Host` plus the few parts of
mail it uses (accounts, a store, limits), and nothing else.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..limits import Limits
from ..tap import Endpoint, Network

if TYPE_CHECKING:
    import ssl


@dataclass(frozen=True)
class Host:
    """One server machine: its name and what its endpoints share."""

    hostname: str  # "mail.somewhereelse.com": the greeting of every protocol names it
    network: Network  # the taps in front of its endpoints record into network.trace
    loop: asyncio.AbstractEventLoop  # where every session runs; other threads wake it from outside
    new_id: Callable[[], str]  # queue ids and APOP timestamps, reproducible in a seeded lab
    executor: Executor | None = None  # blocking work (fsync) off the loop; None: the loop's default pool
    errors: list[str] = field(default_factory=list)  # a bug in a session is reported here, not hidden
    # The host's TLS context (its certificate, `mailcourse.tls`), made at the first call: blocking,
    # so the loop calls it in a worker. None: a host without TLS (no STARTTLS, no implicit TLS).
    tls: Callable[[], ssl.SSLContext] | None = None

    async def tls_context(self) -> ssl.SSLContext:
        """The host's TLS context, made off the loop the first time (for STARTTLS, STLS)."""
        assert self.tls is not None
        return await asyncio.get_running_loop().run_in_executor(None, self.tls)

    async def start_tls(self, transport: asyncio.Transport, protocol: asyncio.Protocol) -> asyncio.Transport | None:
        """The server side of the TLS handshake on ``transport``, after STARTTLS or STLS was answered.

        Returns the transport ``protocol`` writes to from now on, or None if
        the handshake failed (the client did not trust the certificate, or
        went away); the connection is closed then. The tap stays under the
        TLS layer (`mailcourse.tap`): it goes on recording, ciphertext now.
        """
        try:
            context = await self.tls_context()
            return await asyncio.get_running_loop().start_tls(transport, protocol, context, server_side=True)
        except (OSError, asyncio.TimeoutError):
            transport.close()
            return None

    def endpoint(self, service: str, protocol: str, factory: Callable[[], asyncio.Protocol],
                 limits: Limits, busy_reply: bytes, implicit_tls: bool = False) -> Endpoint:
        """A listening service of this host, behind a tap.

        ``busy_reply`` is what a client beyond ``limits.max_connections`` gets,
        in the protocol's own words, before the tap hangs up. The connection
        limit is read here, once; the other limits by ``factory``, for each
        new session. ``implicit_tls``: TLS from the first byte (RFC 8314),
        with the host's certificate; a busy client then just sees the
        connection close, since it could not read a plain-text reply.
        """
        if implicit_tls and self.tls is None:
            raise ValueError(f"{self.hostname} has no TLS certificate for an implicit-TLS endpoint")
        return Endpoint(self.network, self.hostname, service, protocol, factory,
                        max_connections=limits.max_connections, busy_reply=b"" if implicit_tls else busy_reply,
                        tls=self.tls if implicit_tls else None)


class StartTLS:
    """The server side of POP3's STLS and IMAP's STARTTLS (RFC 2595 section 4, RFC 9051 section 6.2.1).

    Mixed into a connection adapter that has ``host``, ``transport`` and a
    sans-I/O ``session`` (``tls_requested``, ``tls_started()``, ``ended``).
    Once the session has answered STARTTLS positively, reading pauses (the
    next bytes are the client's TLS hello), the handshake runs, and the
    session goes on inside TLS. Whatever the client sent behind STARTTLS
    in plain text was dropped by the session itself (the CVE-2011-0411
    class); what arrives inside TLS before ``start_tls`` has handed over the
    new transport is kept here (``_early``) and read right after.
    """

    host: Host | None
    transport: asyncio.Transport | None
    session: Any
    _handshake: asyncio.Task[None] | None = None
    _early: list[bytes] | None = None  # what came inside TLS before the handshake task resumed

    def _kept_for_tls(self, data: bytes) -> bool:
        """True if ``data`` came inside TLS before the new transport was handed over: kept for a moment."""
        if self._early is None:
            return False
        self._early.append(data)
        return True

    def _after_replies(self) -> None:
        """After the replies are written: close after the session's end, or begin TLS if it was asked for."""
        assert self.transport is not None
        if self.session.ended:
            self.transport.close()  # after QUIT or LOGOUT; what was written still goes out first
        elif self.session.tls_requested and self._handshake is None:
            self.transport.pause_reading()  # the next bytes are the client's TLS hello, not commands
            self._early = []
            self._handshake = asyncio.get_running_loop().create_task(self._start_tls())

    async def _start_tls(self) -> None:
        assert self.transport is not None and self.host is not None
        transport = await self.host.start_tls(self.transport, self)  # type: ignore[arg-type]
        if transport is None:
            return
        self.transport = transport
        self.session.tls_started()
        early, self._early = self._early or [], None
        for data in early:
            self.data_received(data)  # type: ignore[attr-defined]

    def _stop_tls(self) -> None:
        if self._handshake is not None:
            self._handshake.cancel()
