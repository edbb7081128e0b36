"""The lab's DNS server on 127.0.0.1: UDP and TCP on one port (RFC 1035 section 4.2).

Every query goes to `mailcourse.protocols.dns.answer`; this module only
moves bytes. Over UDP a query is one datagram and so is its answer (section
4.2.1). Over TCP each message has a two-byte length in front of it (section
4.2.2), and a client may send several queries on one connection (RFC 7766
section 6.2.1); the TCP side is an `Endpoint`, behind the lab's tap, so it
is recorded like every other protocol.

UDP has no connection and no tap, so the server records each query and its
answer itself, as one `Connection` of the trace (protocol "DNS", service
"dns"; "dns-tcp" for TCP), named after the device that asked
(`Network.owner`). A datagram from another Unix user's program is dropped
unanswered where the lab can tell (`Network.refusal` reads the kernel's
socket table, /proc/net/udp, through `mailcourse.peers`). Garbage never
stops the server: it is answered FORMERR, or not at all.
"""
from __future__ import annotations

import asyncio
import errno
import socket
import struct
from collections.abc import Mapping

from ..protocols import dns as protocol
from ..tap import LOOPBACK, Endpoint, Network
from ..trace import C2S, S2C

DEVICE = "dns.lab"  # the DNS server's device name in the trace


class _Datagrams(asyncio.DatagramProtocol):
    """UDP: one query, one answer, recorded as one connection."""

    def __init__(self, server: DNSServer) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        network, ours = self.server.network, self.server.address
        trace = network.trace
        refusal = self.server.udp_refusal(addr[:2])
        conn = trace.open("DNS", "dns", DEVICE, addr[:2], network.owner, refused=refusal, server_addr=ours)
        try:
            if refusal is None:
                trace.data(conn, C2S, data, len(data))
                reply = protocol.answer(data, self.server.zones)
                if reply is not None and self.transport is not None:
                    trace.data(conn, S2C, reply, len(reply))
                    self.transport.sendto(reply, addr)
        finally:
            network.release(conn)
            trace.close(conn)


class _Stream(asyncio.Protocol):
    """TCP: two-byte length, message; as many as the client sends (RFC 7766 section 6.2.1)."""

    def __init__(self, zones: Mapping[str, protocol.Zone]) -> None:
        self.zones = zones
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  (the tap's transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while len(self.buffer) >= 2:
            (size,) = struct.unpack("!H", self.buffer[:2])
            if len(self.buffer) < 2 + size:
                return
            query, self.buffer = self.buffer[2:2 + size], self.buffer[2 + size:]
            reply = protocol.answer(query, self.zones, max_udp=None)
            if reply is not None and self.transport is not None:
                self.transport.write(struct.pack("!H", len(reply)) + reply)

    def eof_received(self) -> bool | None:
        return None  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


class DNSServer:
    """The lab's authoritative server for ``zones`` (domain -> `Zone`), on one UDP and TCP port."""

    def __init__(self, network: Network, zones: Mapping[str, protocol.Zone]) -> None:
        self.network = network
        self.zones = zones
        self.tcp = Endpoint(network, DEVICE, "dns-tcp", "DNS", lambda: _Stream(self.zones))
        self._udp: asyncio.DatagramTransport | None = None

    @property
    def address(self) -> tuple[str, int]:
        return (LOOPBACK, self.tcp.port)

    def udp_refusal(self, peer: tuple[str, int]) -> str | None:
        """Why a datagram from ``peer`` is dropped (another user's program), or None to answer it."""
        return self.network.refusal(peer, self.address, udp=True)

    async def start(self) -> None:
        """TCP on a free port below the ephemeral range (`Endpoint.start`), then UDP on the same number.

        dig and every resolver ask over UDP and retry over TCP on the *same*
        port; a port whose UDP side is taken is given back and another tried.
        """
        loop = asyncio.get_running_loop()
        for _ in range(16):
            await self.tcp.start()
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                sock.bind((LOOPBACK, self.tcp.port))
            except OSError as e:
                sock.close()
                await self.tcp.stop()
                self.tcp.port = 0
                if e.errno != errno.EADDRINUSE:
                    raise
                continue
            self._udp, _ = await loop.create_datagram_endpoint(lambda: _Datagrams(self), sock=sock)
            return
        raise OSError(errno.EADDRINUSE, "no port free for both UDP and TCP")

    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        await self.tcp.stop()
