"""The lab's connections as the packets a capture would show: TCP segments in IPv4 in Ethernet.

Theory of operation
-------------------
A tap sees what each end of a connection wrote, in order, with the time:
the bytes of the stream, not the packets that carried them. A packet capture
(Wireshark, tcpdump) sees packets. This module rebuilds the packets that TCP
(RFC 9293) sends for such a stream, so that the trace can be opened in
Wireshark as if it had been captured on the wire:

1. The three-way handshake (RFC 9293 section 3.5): the client's SYN, the
   server's SYN/ACK, the client's ACK. Each side picks an initial sequence
   number (ISN); the SYN counts as one byte of the sequence. Each SYN carries
   the Maximum Segment Size option (section 3.7.1).
2. Each chunk the tap recorded, cut into segments of at most `MSS` bytes.
   A segment's sequence number is the place of its first byte in the stream
   (section 3.4); its acknowledgement number is the next byte the sender
   expects from the other side. The receiver acknowledges every second
   segment and the end of each chunk, as Linux's delayed ACK does
   (RFC 9293 section 3.8.6.3; RFC 5681 section 4.2), so no more than two
   segments are ever unacknowledged and the window never fills.
3. The close (section 3.6): FIN from one side, FIN/ACK from the other, the
   last ACK. Each FIN counts as one byte. The trace does not say which side
   closed first; the capture shows the client closing, except for a
   connection the tap refused, which the server closed at once.

Every segment goes into an IPv4 header (RFC 791 section 3.1) and an
Ethernet II frame with zero addresses, which is exactly how Linux's loopback
interface shows packets to a sniffer. Both checksums are computed (the
"one's complement sum", RFC 1071; TCP's covers a pseudo-header of the
addresses, RFC 9293 section 3.1), so that Wireshark finds nothing to mark.

Why 1460 bytes: it is the MSS of Ethernet (a 1500-byte MTU, RFC 894, less 20
bytes of IPv4 header and 20 of TCP header), what a capture between two real
machines shows. Loopback's own MTU is 65536 (an MSS of 65483 with Linux's
timestamps), which would put almost every message into one segment and hide
what a student should see: a long message crosses the network in pieces,
and the receiver puts them back together ("reassembled TCP segments").

Everything here is plain data in and bytes out: `Conversation` is what the
trace knows of one connection; `frames` gives the packets and
`pcapng_blocks` the file's blocks (`mailcourse.pcapng`); `parse_frame` reads a
packet back (the lesson's "capture without Wireshark" exercise).
"""
from __future__ import annotations

import html
import ipaddress
import os
import struct
import urllib.parse
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from . import pcapng
from .protocols.exchanges import C2S, S2C

MSS = 1460  # Ethernet's; see the module's docstring
WINDOW = 65535  # the largest window without the window scale option (RFC 7323), never filled here
TTL = 64  # Linux's default Time to Live (RFC 791 section 3.2)
ETHERTYPE_IPV4 = 0x0800
PROTOCOL_TCP = 6  # IPv4's Protocol field for TCP (RFC 791 section 3.1; IANA's protocol numbers)
DONT_FRAGMENT = 0x4000  # IPv4's DF flag: Linux sets it on TCP, which finds the path MTU itself

# TCP's control bits (RFC 9293 section 3.1).
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
OPTION_MSS = 2  # TCP option kind 2, length 4: Maximum Segment Size (RFC 9293 section 3.2)

# Wireshark picks a dissector by port number (IANA's service name registry). The lab's
# servers listen on random ports, so by default the capture shows each on its service's
# well-known port, as on the Internet; the lab's real ports are in each SYN's comment.
WELL_KNOWN_PORTS = {
    "submission": 587,  # RFC 6409
    "mx": 25,  # RFC 5321
    "pop3": 110,  # RFC 1939
    "imap": 143,  # RFC 3501
    "webmail": 80,  # RFC 9110
    "submissions": 465,  # implicit TLS, RFC 8314 section 7.3
    "pop3s": 995,  # RFC 8314 section 7.4
    "imaps": 993,  # RFC 8314 section 7.2
    "dns-tcp": 53,  # RFC 1035 section 4.2.2
    "webmails": 443,  # the webmail over TLS: https, RFC 9110 section 4.2.2
}
PROTOCOL_PORTS = {"SMTP": 25, "POP3": 110, "IMAP": 143, "HTTP": 80}  # for a service not listed above


@dataclass
class Conversation:
    """What the trace knows of one connection, for `frames`.

    ``chunks`` are ``(time, direction, bytes)`` in the order the tap saw
    them; times are Unix times. ``closed`` is None for a connection still
    open when the capture was written (it then has no FIN).
    """

    client: tuple[str, int]
    server: tuple[str, int]
    opened: float
    chunks: list[tuple[float, str, bytes]]
    closed: float | None = None
    server_closes: bool = False  # the server sent the first FIN (a refused connection)
    comment: str | None = None  # shown in Wireshark on the SYN: which devices, which service
    number: int = 0  # the trace's connection id: makes the initial sequence numbers

    def isn(self, direction: str) -> int:
        """An initial sequence number for one side: the same on every run, different for each side.

        Real stacks derive it from a clock and a secret hash (RFC 6528), so
        that nobody can guess it; a course wants captures that can be compared.
        """
        return zlib.crc32(f"mailcourse {self.number} {direction}".encode())


@dataclass(frozen=True)
class Segment:
    """One TCP segment (RFC 9293 section 3.1) and the addresses of the IPv4 packet around it."""

    src: tuple[str, int]
    dst: tuple[str, int]
    seq: int
    ack: int
    flags: int
    payload: bytes = b""
    window: int = WINDOW
    options: bytes = b""

    @property
    def flag_names(self) -> str:
        """The control bits as Wireshark writes them: "SYN, ACK"."""
        names = [(SYN, "SYN"), (FIN, "FIN"), (RST, "RST"), (PSH, "PSH"), (ACK, "ACK")]
        return ", ".join(name for bit, name in names if self.flags & bit)


@dataclass(frozen=True)
class Frame:
    """A packet of the capture: when, its bytes (an Ethernet frame), and a comment for Wireshark."""

    time: float
    data: bytes
    comment: str | None = None


def segments(conv: Conversation, mss: int = MSS) -> Iterator[tuple[float, Segment]]:
    """The TCP segments of one connection, each with its time, in the order they were sent."""
    ends = {C2S: conv.client, S2C: conv.server}
    other = {C2S: S2C, S2C: C2S}
    isn = {C2S: conv.isn(C2S), S2C: conv.isn(S2C)}
    nxt = {d: (isn[d] + 1) & 0xFFFFFFFF for d in ends}  # the SYN took one sequence number
    mss_option = struct.pack("!BBH", OPTION_MSS, 4, mss)

    def segment(direction: str, flags: int, payload: bytes = b"", options: bytes = b"") -> Segment:
        return Segment(ends[direction], ends[other[direction]], nxt[direction],
                       nxt[other[direction]] if flags & ACK else 0, flags, payload, options=options)

    # The three-way handshake (section 3.5).
    t = conv.opened
    yield t, Segment(conv.client, conv.server, isn[C2S], 0, SYN, options=mss_option)
    yield t, Segment(conv.server, conv.client, isn[S2C], nxt[C2S], SYN | ACK, options=mss_option)
    yield t, segment(C2S, ACK)

    # The data, each chunk in segments of at most mss bytes, acknowledged as Linux does.
    for t, direction, data in conv.chunks:
        pieces = [data[at:at + mss] for at in range(0, len(data), mss)]
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            yield t, segment(direction, ACK | (PSH if last else 0), piece)  # PSH: "deliver it now"
            nxt[direction] = (nxt[direction] + len(piece)) & 0xFFFFFFFF
            if i % 2 == 1 or last:
                yield t, segment(other[direction], ACK)

    # The close (section 3.6): FIN, FIN/ACK, ACK.
    if conv.closed is not None:
        first = S2C if conv.server_closes else C2S
        for direction in (first, other[first]):
            yield conv.closed, segment(direction, FIN | ACK)
            nxt[direction] = (nxt[direction] + 1) & 0xFFFFFFFF
        yield conv.closed, segment(first, ACK)


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071): the one's complement of the one's complement sum of 16-bit words."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def tcp_header(seg: Segment) -> bytes:
    """The TCP header and payload (RFC 9293 section 3.1), its checksum over the IPv4 pseudo-header."""
    offset = (20 + len(seg.options)) // 4  # the header's length in 32-bit words
    header = struct.pack("!HHIIBBHHH", seg.src[1], seg.dst[1], seg.seq, seg.ack, offset << 4, seg.flags,
                         seg.window, 0, 0) + seg.options
    pseudo = _address(seg.src[0]) + _address(seg.dst[0]) + struct.pack(
        "!BBH", 0, PROTOCOL_TCP, len(header) + len(seg.payload))
    total = checksum(pseudo + header + seg.payload)
    return header[:16] + struct.pack("!H", total) + header[18:] + seg.payload


def ipv4_packet(seg: Segment, identification: int) -> bytes:
    """The IPv4 packet (RFC 791 section 3.1) that carries ``seg``; its header checksum covers the header."""
    tcp = tcp_header(seg)
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), identification & 0xFFFF, DONT_FRAGMENT, TTL,
                         PROTOCOL_TCP, 0, _address(seg.src[0]), _address(seg.dst[0]))
    return header[:10] + struct.pack("!H", checksum(header)) + header[12:] + tcp


def _address(host: str) -> bytes:
    return ipaddress.IPv4Address(host).packed  # "127.0.0.1" -> 7f 00 00 01, as IPv4 headers carry it


def ethernet_frame(packet: bytes) -> bytes:
    """An Ethernet II frame: destination and source address (zero, as on Linux's loopback), EtherType."""
    return b"\0" * 12 + struct.pack("!H", ETHERTYPE_IPV4) + packet


def frames(conversations: Iterable[Conversation], mss: int = MSS) -> list[Frame]:
    """The frames of all the conversations, merged in time order (each conversation's own order kept)."""
    out: list[Frame] = []
    for conv in conversations:
        ids = {d: conv.isn(d) >> 16 for d in (C2S, S2C)}  # IPv4 identification: counted by each sender
        for i, (t, seg) in enumerate(segments(conv, mss)):
            direction = C2S if seg.src == conv.client else S2C
            ids[direction] += 1
            comment = conv.comment if i == 0 else None
            out.append(Frame(t, ethernet_frame(ipv4_packet(seg, ids[direction])), comment))
    out.sort(key=lambda frame: frame.time)  # stable: within a conversation, times never decrease
    return out


def parse_frame(frame: bytes) -> Segment:
    """Read an Ethernet frame of the capture back into its `Segment`. Raises ValueError for anything else.

    The checksums are checked too: a packet whose bytes were changed is refused.
    """
    if len(frame) < 14 + 20 + 20 or struct.unpack_from("!H", frame, 12)[0] != ETHERTYPE_IPV4:
        raise ValueError("not an IPv4 packet in an Ethernet frame")
    ip = frame[14:]
    ihl = (ip[0] & 0x0F) * 4
    total, protocol = struct.unpack_from("!H", ip, 2)[0], ip[9]
    if ip[0] >> 4 != 4 or protocol != PROTOCOL_TCP or checksum(ip[:ihl]) != 0:
        raise ValueError("not a TCP segment in a valid IPv4 header")
    src, dst = str(ipaddress.IPv4Address(ip[12:16])), str(ipaddress.IPv4Address(ip[16:20]))
    tcp = ip[ihl:total]
    pseudo = ip[12:20] + struct.pack("!BBH", 0, PROTOCOL_TCP, len(tcp))
    if checksum(pseudo + tcp) != 0:  # a correct checksum makes the sum over everything come to zero
        raise ValueError("the TCP checksum is wrong")
    sport, dport, seq, ack, offset, flags, window = struct.unpack_from("!HHIIBBH", tcp)
    length = (offset >> 4) * 4
    return Segment((src, sport), (dst, dport), seq, ack, flags, tcp[length:], window, tcp[20:length])


# -- the file, for a notebook ----------------------------------------------------------------------

@dataclass
class CaptureFile:
    """A capture written by `Trace.to_pcapng`; a notebook shows it as a link that downloads the file.

    The link is relative to the kernel's working directory, which JupyterLab
    makes the notebook's folder, and JupyterLab resolves a relative link in an
    output against that folder: a file written there or below (``"lab.pcapng"``,
    ``"captures/lab.pcapng"``) downloads with one click. A file elsewhere
    (``/tmp/...``) JupyterLab cannot serve; then no link is shown, only where
    the file is. What is shown depends only on the name and the selection,
    never on ports or times, so that a lesson's committed output stays the
    same on every run.
    """

    path: Path
    connections: int
    packets: int
    keys: bool | None  # the TLS key log: inside the file (True), left out (False), or there was none (None)

    def contents(self) -> str:
        """What is inside, in words: "3 TCP connections, TLS keys inside: ..."."""
        what = f"{self.connections} TCP connection{'s' if self.connections != 1 else ''}"
        if self.keys is not None:
            what += (", TLS keys inside: Wireshark decrypts" if self.keys
                     else ", no TLS keys: encrypted, as an eavesdropper sees it")
        return f"{what} (pcapng; open it in Wireshark)"

    def __repr__(self) -> str:
        return f"{self.path.name}: {self.contents()}"

    @property
    def link(self) -> str | None:
        """The file's URL relative to the working directory (the notebook's folder), or None if outside it."""
        try:
            relative = Path(os.path.abspath(self.path)).relative_to(Path.cwd())
        except ValueError:
            return None
        return "/".join(urllib.parse.quote(part) for part in relative.parts)

    def _repr_html_(self) -> str:
        name = html.escape(self.path.name, quote=True)
        link = self.link
        if link is None:
            return (f"<code>{html.escape(str(self.path))}</code>: {html.escape(self.contents())}; outside the "
                    "notebook's folder, so JupyterLab cannot offer it for download")
        return f'<a href="{html.escape(link, quote=True)}" download="{name}">{name}</a>: {html.escape(self.contents())}'


def pcapng_blocks(packets: Iterable[Frame], *, interface: str, description: str,
                  keylog: str = "", application: str = "mailcourse") -> Iterator[bytes]:
    """The blocks of a capture file, in order: header, interface, the key log if any, then each packet.

    The key log comes before the packets, as Wireshark needs it before the
    first TLS record it decrypts (draft-ietf-opsawg-pcapng section 4.7).
    """
    yield pcapng.section_header(application=application)
    yield pcapng.interface_description(pcapng.LINKTYPE_ETHERNET, name=interface, description=description)
    if keylog:
        yield pcapng.decryption_secrets(keylog.encode("ascii"))
    for frame in packets:
        yield pcapng.enhanced_packet(0, frame.time, frame.data, comment=frame.comment)
