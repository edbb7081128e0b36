"""Taps: every endpoint of the lab is reached through one.

A tap sits between the listening socket and the server's protocol object. It
hands every byte on unchanged and records it in the lab's `Trace`, so the
trace is exactly what crossed the wire. Because it wraps the server's asyncio
protocol in the same process (rather than proxying through a second socket),
it costs almost nothing and never reorders bytes.

A tap is also where a link is cut: `Endpoint.stop()` closes the listening
socket, so a client gets "connection refused", as it would from a switched-off
server; `start()` listens again, on the same port if it is still free.

The `Network` remembers which lab device owns which client socket, so that a
connection can be labelled "joe-laptop -> mail.someplace.org" rather than
with port numbers. Programs outside the lab (a real mail client talking to
``python -m mailcourse serve``) show as "client".

A tap is also the door: a connection from a program of another Unix user
(`mailcourse.peers` says how that is known, and why) is closed before the
server's protocol object exists, so not a byte of SMTP, POP3, IMAP or HTTP
is spoken; the trace keeps it as a refused connection.

TLS: the tap sits *under* the TLS layer, next to the socket, where a wire
capture would be. When a server answers STARTTLS (SMTP, RFC 3207; IMAP,
RFC 3501 section 6.2.1) or STLS (POP3, RFC 2595) it starts TLS on the
transport it was given, which is the tap's: asyncio's ``start_tls`` (and
aiosmtpd) hand the socket's bytes to a new SSL protocol with
``transport.set_protocol``, and `_TapTransport.set_protocol` puts that SSL
protocol *inside* the tap, in place of the server's. So every byte still
passes the tap, and from then on it records the TLS records as they are:
ciphertext, not masked (masking would change bytes that only the keys can
read). An implicit-TLS endpoint (submissions, pop3s, imaps: RFC 8314) has
the SSL layer inside the tap from the first byte. ``connection.tls`` says
which: None, "starttls" or "implicit".
"""
from __future__ import annotations

import asyncio
import errno
import os
import socket
import threading
from typing import TYPE_CHECKING, Any, Callable

from . import peers, ports
from .trace import C2S, S2C, Connection, CredentialMask, Trace

if TYPE_CHECKING:
    import ssl

LOOPBACK = "127.0.0.1"

# What ``transport.get_extra_info(CONNECTION)`` gives a server: the trace's record of its
# connection (device names of both ends). Asked through a TLS layer, it is passed down to the tap.
CONNECTION = "mailcourse.connection"


class Network:
    """The lab's loopback network: who owns which client socket, and its trace.

    A claim lasts as long as its connection: when the tap sees the
    connection close, the trace's record takes the device's name for good
    and the claim is forgotten (the kernel may give the port to another
    program next). A claim whose connection never reached a tap (the server
    was off) is forgotten once `MAX_CLAIMS` newer ones are held, so that a
    lab running for days keeps a bounded table.
    """

    MAX_CLAIMS = 4096

    def __init__(self, trace: Trace) -> None:
        self.trace = trace
        self._owners: dict[tuple[str, int], str] = {}  # oldest first (dicts keep insertion order)
        self._lock = threading.Lock()
        # Who may connect: programs of the user running the lab (`peers`).
        self.lookup = peers.lookup_method()
        self.uid = os.getuid() if self.lookup is not None else None

    def claim(self, sock: socket.socket, device: str) -> None:
        """Record that the client socket ``sock`` belongs to ``device``."""
        addr = sock.getsockname()[:2]
        with self._lock:
            self._owners.pop(addr, None)  # a port used again is the newest claim
            self._owners[addr] = device
            while len(self._owners) > self.MAX_CLAIMS:
                del self._owners[next(iter(self._owners))]

    def owner(self, addr: tuple[str, int]) -> str | None:
        with self._lock:
            return self._owners.get(tuple(addr[:2]))

    @property
    def owner_only(self) -> bool:
        """True where the lab can tell who is calling and answers only its own user (Linux)."""
        return self.uid is not None

    @property
    def slow_lookup(self) -> bool:
        """True where each lookup reads all of /proc/net/tcp: taps then ask off the loop."""
        return self.lookup == peers.PROC

    def refusal(self, peer: tuple[str, int], ours: tuple[str, int], udp: bool = False) -> str | None:
        """Why the connection ``peer`` -> ``ours`` must be closed unanswered, or None to serve it.

        A lab device's own socket needs no question: it is this process's.
        A socket whose owner the kernel no longer knows belongs to a client
        that has already gone; it is closed too, since nobody can say whose it was.
        """
        if self.uid is None or self.owner(peer) is not None:
            return None
        assert self.lookup is not None
        try:
            uid = peers.udp_owner_uid(peer) if udp else peers.owner_uid(peer, ours, self.lookup)
        except OSError as e:
            return f"refused: the kernel would not say whose it is ({e})"
        if uid == self.uid:
            return None
        if uid is None:
            return "refused: the client's owner is unknown (it has gone)"
        return f"refused: another user (uid {uid})"

    def release(self, conn: Connection) -> None:
        """The connection has closed: keep its client's name in the trace, forget the claim."""
        _ = conn.client  # resolves the name now, while the claim is still here
        with self._lock:
            self._owners.pop(tuple(conn.client_addr[:2]), None)

    def record_local(self, user: str, server: str, data: bytes) -> None:
        """Record a hand-over that uses no network (a user's ``sendmail`` on the server host)."""
        conn = self.trace.open("local", "sendmail", server, ("local", 0), lambda _: user)
        self.trace.data(conn, C2S, data, len(data))
        self.trace.close(conn)


class _TapTransport:
    """The transport the server protocol writes to: records, then sends."""

    def __init__(self, real: asyncio.Transport, tap: TapProtocol) -> None:
        self._real = real
        self._tap = tap

    def write(self, data: bytes) -> None:
        data = bytes(data)
        tamper = self._tap.endpoint.tamper
        if tamper is not None and not self._tap.encrypted:
            data = tamper(data)  # a man in the middle (`Endpoint.tamper`): the client gets this instead
        self._tap.record(S2C, data)
        self._real.write(data)

    @property
    def connection(self) -> Connection | None:
        """The trace's record of this connection (device names of both ends)."""
        return self._tap.conn

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == CONNECTION:
            return self._tap.conn
        return self._real.get_extra_info(name, default)

    def writelines(self, chunks) -> None:
        self.write(b"".join(chunks))

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        """A server starts TLS: its SSL layer goes inside the tap, so the tap records ciphertext."""
        self._tap.start_tls(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._tap.inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def _feed(protocol: asyncio.BaseProtocol, data: bytes) -> None:
    """Hand ``data`` to ``protocol`` as the event loop would.

    asyncio's SSL layer is a `BufferedProtocol`: it lends a buffer
    (``get_buffer``) and is told how much was filled (``buffer_updated``);
    a plain protocol gets ``data_received``.
    """
    if not isinstance(protocol, asyncio.BufferedProtocol):
        protocol.data_received(data)  # type: ignore[attr-defined]
        return
    view = memoryview(data)
    while view:
        buffer = memoryview(protocol.get_buffer(len(view)))
        n = min(len(buffer), len(view))
        buffer[:n] = view[:n]
        protocol.buffer_updated(n)
        view = view[n:]


class TapProtocol(asyncio.Protocol):
    """Wraps one server protocol object for one connection.

    The server's protocol object is made only once the connection is let in:
    a refused connection never reaches the server's code.
    """

    inner: asyncio.BaseProtocol

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.conn: Connection | None = None
        self.mask = endpoint.new_mask()
        self.encrypted = False  # the TLS layer is inside: what crosses now is TLS records
        self.transport: asyncio.Transport | None = None
        self._deciding: asyncio.Task[None] | None = None  # while it waits to be let in

    def record(self, direction: str, data: bytes) -> None:
        if self.conn is None or not data:
            return
        if self.encrypted:  # ciphertext: recorded as it is, as a capture would keep it
            self.endpoint.trace.data(self.conn, direction, data, len(data), tls=True)
            return
        if direction == C2S:
            shown = self.mask.client(data)
        else:
            self.mask.server(data)
            shown = data
        self.endpoint.trace.data(self.conn, direction, shown, len(data))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        ep = self.endpoint
        peer = transport.get_extra_info("peername")[:2]
        ours = transport.get_extra_info("sockname")[:2]
        if not ep.network.slow_lookup and ep.ready:
            self._admit(peer, ep.network.refusal(peer, ours))
            return
        # Something to wait for first: the peer's owner read from /proc/net/tcp (a tenth of a
        # second on a crowded machine), or the server's application being built (`Endpoint.prepare`).
        # The client is heard only once it is let in, so no byte is read and none lost.
        transport.pause_reading()
        self._deciding = asyncio.get_running_loop().create_task(self._decide(peer, ours))

    async def _decide(self, peer: tuple[str, int], ours: tuple[str, int]) -> None:
        ep, transport = self.endpoint, self.transport
        assert transport is not None
        try:
            if ep.network.slow_lookup:
                refusal = await asyncio.get_running_loop().run_in_executor(None, ep.network.refusal, peer, ours)
            else:
                refusal = ep.network.refusal(peer, ours)
            if refusal is None:
                await ep.prepare()  # only for a connection let in: a stranger starts nothing
        except asyncio.CancelledError:  # the lab is stopping
            transport.abort()
            raise
        except Exception as e:  # a bug, or a server that cannot start: answer nobody
            refusal = f"refused: {e!r}"
        if transport.is_closing():
            return  # the client gave up waiting
        transport.resume_reading()
        self._admit(peer, refusal)

    def _admit(self, peer: tuple[str, int], refusal: str | None) -> None:
        """Open the connection in the trace, then close it unanswered, or say busy, or serve it."""
        transport = self.transport
        assert transport is not None
        ep = self.endpoint
        self.conn = ep.trace.open(ep.protocol, ep.service, ep.device, peer, ep.network.owner,
                                  refused=refusal, server_addr=transport.get_extra_info("sockname")[:2])
        if refusal is not None:
            transport.close()  # the client reads end-of-file where it waits for a greeting
            return
        if len(ep.active) >= ep.max_connections:
            # Refuse politely, in the protocol's own words, and keep serving the others.
            self.record(S2C, ep.busy_reply)
            transport.write(ep.busy_reply)
            transport.close()
            return
        ep.active.add(self)
        server = ep.factory()
        wire = _TapTransport(transport, self)
        if ep.tls_context is None:
            self.inner = server
            server.connection_made(wire)  # type: ignore[arg-type]
            return
        # Implicit TLS (RFC 8314): the handshake comes first; the server's protocol is told of
        # the connection only once it is done, and never if it fails (a client that did not
        # trust the certificate hangs up). asyncio's own SSL layer, as aiosmtpd uses it.
        from asyncio import sslproto

        self.conn.tls = "implicit"
        self.encrypted = True
        handshake = asyncio.get_running_loop().create_future()
        handshake.add_done_callback(_handshake_done)
        self.inner = sslproto.SSLProtocol(asyncio.get_running_loop(), server, ep.tls_context, handshake,
                                          server_side=True, ssl_handshake_timeout=ep.handshake_timeout)
        self.inner.connection_made(wire)  # type: ignore[arg-type]

    def start_tls(self, protocol: asyncio.BaseProtocol) -> None:
        """The server started TLS (STARTTLS, STLS): ``protocol``, its SSL layer, now gets the bytes."""
        self.inner = protocol
        self.encrypted = True
        if self.conn is not None and self.conn.tls is None:
            self.conn.tls = "starttls"

    def data_received(self, data: bytes) -> None:
        if self not in self.endpoint.active:
            return  # refused at connection_made
        self.record(C2S, data)
        _feed(self.inner, data)

    def eof_received(self) -> bool | None:
        if self not in self.endpoint.active:
            return None
        return self.inner.eof_received()  # type: ignore[attr-defined]

    def connection_lost(self, exc: Exception | None) -> None:
        if self.conn is not None:
            self.endpoint.network.release(self.conn)
            self.endpoint.trace.close(self.conn)
        if self in self.endpoint.active:
            self.endpoint.active.discard(self)
            self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self in self.endpoint.active:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self in self.endpoint.active:
            self.inner.resume_writing()


def _handshake_done(handshake: asyncio.Future[None]) -> None:
    if not handshake.cancelled():
        handshake.exception()  # a failed handshake is in the trace (the connection closes): read it here


class Endpoint:
    """One listening service of a device (e.g. the SMTP submission port), behind a tap.

    ``tls`` makes it an implicit-TLS endpoint (RFC 8314): a function that
    gives the server's `ssl.SSLContext`, called once, before the first
    connection is served (it may make a certificate: `mailcourse.tls`).
    ``tamper``, when set, rewrites what the server sends before TLS, as a
    man in the middle would (`mailcourse.faults`: a stripped STARTTLS).
    All methods except the properties run on the lab's loop.
    """

    handshake_timeout = 30.0  # seconds a client has to finish the TLS handshake

    def __init__(self, network: Network, device: str, service: str, protocol: str,
                 factory: Callable[[], asyncio.Protocol], max_connections: int = 50,
                 busy_reply: bytes = b"", tls: Callable[[], ssl.SSLContext] | None = None) -> None:
        self.network = network
        self.trace = network.trace
        self.device = device
        self.service = service
        self.protocol = protocol
        self.factory = factory
        self.max_connections = max_connections
        self.busy_reply = busy_reply
        self.port = 0
        self.active: set[TapProtocol] = set()
        self._server: asyncio.Server | None = None
        self.tls = tls
        self.tls_context: ssl.SSLContext | None = None  # made by `prepare` when ``tls`` is given
        self.tamper: Callable[[bytes], bytes] | None = None

    def new_mask(self) -> CredentialMask:
        """What hides passwords in this endpoint's trace; a protocol with other login forms overrides it."""
        return CredentialMask()

    @property
    def ready(self) -> bool:
        """False while `prepare` still has work to do before ``factory`` can serve a connection."""
        return self.tls is None or self.tls_context is not None

    async def prepare(self) -> None:
        """Make ``factory`` ready; awaited by the tap before a connection it lets in while not `ready`.

        For an implicit-TLS endpoint: the server's context, made off the loop
        the first time (a certificate takes a few milliseconds, the first one
        also imports trustme and cryptography).
        """
        if self.tls is not None and self.tls_context is None:
            self.tls_context = await asyncio.get_running_loop().run_in_executor(None, self.tls)

    @property
    def address(self) -> tuple[str, int]:
        return (LOOPBACK, self.port)

    @property
    def online(self) -> bool:
        return self._server is not None

    def reachable_address(self) -> tuple[str, int]:
        """Where a lab device connects; "connection refused" at once if the endpoint is off.

        A switched-off endpoint's old port may belong to another program by
        now (another lab, another student's kernel on a shared hub): a lab
        device never knocks there, as a machine that is off answers nobody.
        """
        if not self.online:
            raise ConnectionRefusedError(errno.ECONNREFUSED, f"Connection refused ({self.device} is offline)")
        return self.address

    async def start(self) -> None:
        """Listen on 127.0.0.1 only; the first time on a free port below the ephemeral range.

        `mailcourse.ports` says why: a port-0 listener could take a port that
        jupyter_client has just chosen for a new kernel. Back online after
        `stop`, the endpoint listens on its old port again if that port is
        still free. While it was off, any program on the machine (another lab,
        another student's kernel) may have taken that port; then a new one is
        chosen. Nothing in the lab remembers ports: clients and relays look the
        address up (``endpoint.address``, the directory) each time they connect.
        """
        loop = asyncio.get_running_loop()

        def factory() -> TapProtocol:
            return TapProtocol(self)

        try:
            sock = ports.listen(LOOPBACK, self.port)
        except OSError as e:
            if self.port == 0 or e.errno != errno.EADDRINUSE:
                raise
            sock = ports.listen(LOOPBACK)
        try:
            self._server = await loop.create_server(factory, sock=sock)
        except BaseException:
            sock.close()
            raise
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self, drop_connections: bool = True) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        if drop_connections:
            for tap in list(self.active):
                if tap.transport is not None:
                    tap.transport.abort()
            # Let connection_lost callbacks run before the loop goes away.
            await asyncio.sleep(0)
        if server is not None:
            await server.wait_closed()
