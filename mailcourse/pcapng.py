"""The pcapng file format, written and read back: the four blocks a capture of the lab needs.

pcapng (draft-ietf-opsawg-pcapng, "PCAP Next Generation Dump File Format")
is what Wireshark writes by default. A file is a sequence of *blocks*; every
block has the same frame (section 3.1)::

    Block Type (32 bits) | Block Total Length (32 bits) | Block Body ... | Block Total Length

and the total length appears twice so that a reader can walk the file in
either direction. A body ends with *options* (section 3.5): a code, a
length, a value padded to 32 bits, and ``opt_endofopt`` (code 0) last.
Numbers are in the byte order of the machine that wrote the file; the
Section Header's Byte-Order Magic tells a reader which one. This module
always writes little-endian and reads both.

The blocks used here:

    =====================  ==========  ===============================================
    block                  type        what it says
    =====================  ==========  ===============================================
    Section Header         0x0A0D0D0A  "a pcapng file starts here", and who wrote it (4.1)
    Interface Description  0x00000001  where the packets were seen, and their link type (4.2)
    Enhanced Packet        0x00000006  one packet, with its time (4.3)
    Decryption Secrets     0x0000000A  keys to read encrypted traffic, e.g. a TLS key log (4.7)
    =====================  ==========  ===============================================

Why not a library: python-pcapng and dpkt both write the first three
blocks, but neither writes a Decryption Secrets Block, which is how the
lab's capture carries its TLS keys; both last had a release in 2022; and
the four blocks fit on two screens, next to the draft, for a student to read.

Everything here is bytes in, bytes out (no files): `trace.Trace.to_pcapng`
does the writing, `read` takes what a file holds.
"""
from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

SECTION_HEADER = 0x0A0D0D0A
INTERFACE_DESCRIPTION = 0x00000001
ENHANCED_PACKET = 0x00000006
DECRYPTION_SECRETS = 0x0000000A

BYTE_ORDER_MAGIC = 0x1A2B3C4D  # written in the writer's byte order: a reader sees 4D3C2B1A if it is not its own

# Link types (draft-ietf-opsawg-pcaplinktype): what the first byte of each packet is.
LINKTYPE_ETHERNET = 1  # an Ethernet II frame (what Linux shows on its loopback interface, with zero addresses)

# Secrets types of the Decryption Secrets Block (section 4.7).
TLS_KEY_LOG = 0x544C534B  # "TLSK": the NSS key log format, one line per secret, as SSLKEYLOGFILE writes it

# Option codes (section 3.5 for opt_*, 4.1 shb_*, 4.2 if_*).
OPT_ENDOFOPT = 0
OPT_COMMENT = 1
SHB_HARDWARE = 2
SHB_OS = 3
SHB_USERAPPL = 4
IF_NAME = 2
IF_DESCRIPTION = 3
IF_TSRESOL = 9

# Enhanced Packet Blocks count time in units of the interface's if_tsresol; without the
# option the unit is the microsecond (section 4.2). The lab says so explicitly.
TICKS_PER_SECOND = 1_000_000


def _pad(data: bytes) -> bytes:
    """Fields and options are padded with zeros to a multiple of 32 bits (section 3.1)."""
    return data + b"\0" * (-len(data) % 4)


def _options(options: list[tuple[int, bytes]]) -> bytes:
    if not options:
        return b""  # the options field may be left out entirely
    out = b"".join(struct.pack("<HH", code, len(value)) + _pad(value) for code, value in options)
    return out + struct.pack("<HH", OPT_ENDOFOPT, 0)


def _block(block_type: int, body: bytes) -> bytes:
    total = 12 + len(body)  # type, the two lengths, and the body (already padded)
    return struct.pack("<II", block_type, total) + body + struct.pack("<I", total)


def _text(value: str | None) -> list[bytes]:
    return [] if value is None else [value.encode("utf-8")]  # option strings are UTF-8, not zero-terminated


def section_header(*, application: str | None = None, os: str | None = None, hardware: str | None = None,
                   comment: str | None = None) -> bytes:
    """The Section Header Block that starts the file (section 4.1): version 1.0, section length unknown."""
    options = [(OPT_COMMENT, v) for v in _text(comment)] + [(SHB_HARDWARE, v) for v in _text(hardware)]
    options += [(SHB_OS, v) for v in _text(os)] + [(SHB_USERAPPL, v) for v in _text(application)]
    # Section Length -1: "not specified"; a writer that streams need not come back to fill it in.
    body = struct.pack("<IHHq", BYTE_ORDER_MAGIC, 1, 0, -1) + _options(options)
    return _block(SECTION_HEADER, body)


def interface_description(link_type: int, *, name: str | None = None, description: str | None = None,
                          snap_length: int = 0) -> bytes:
    """An Interface Description Block (section 4.2); interfaces are numbered from 0 in the order they appear.

    ``snap_length`` 0 means no limit: every packet is kept whole.
    """
    options = [(IF_NAME, v) for v in _text(name)] + [(IF_DESCRIPTION, v) for v in _text(description)]
    options.append((IF_TSRESOL, bytes([6])))  # 10**-6 seconds: microseconds (the default, said out loud)
    body = struct.pack("<HHI", link_type, 0, snap_length) + _options(options)
    return _block(INTERFACE_DESCRIPTION, body)


def enhanced_packet(interface: int, timestamp: float, packet: bytes, *, comment: str | None = None) -> bytes:
    """An Enhanced Packet Block (section 4.3): ``packet`` seen on ``interface`` at ``timestamp`` (Unix time).

    The time is a 64-bit count of microseconds since 1970, split into two 32-bit halves.
    """
    ticks = round(timestamp * TICKS_PER_SECOND)
    captured = original = len(packet)  # nothing is cut off (the interface's snap length is 0)
    body = struct.pack("<IIIII", interface, ticks >> 32, ticks & 0xFFFFFFFF, captured, original)
    body += _pad(packet) + _options([(OPT_COMMENT, v) for v in _text(comment)])
    return _block(ENHANCED_PACKET, body)


def decryption_secrets(secrets: bytes, secrets_type: int = TLS_KEY_LOG) -> bytes:
    """A Decryption Secrets Block (section 4.7): e.g. a TLS key log, so Wireshark can decrypt the sessions.

    It must come before the packets it decrypts; Wireshark then needs no
    ``tls.keylog_file`` preference.
    """
    body = struct.pack("<II", secrets_type, len(secrets)) + _pad(secrets)
    return _block(DECRYPTION_SECRETS, body)


# -- reading ---------------------------------------------------------------------------------------

@dataclass
class Block:
    """One block of a file: its type, its body, and the options found in it (code -> values)."""

    type: int
    body: bytes
    options: dict[int, list[bytes]] = field(default_factory=dict)

    def option(self, code: int) -> str | None:
        """The first value of a text option (e.g. ``IF_NAME``), or None."""
        values = self.options.get(code)
        return values[0].decode("utf-8", "replace") if values else None


@dataclass
class Interface:
    link_type: int
    name: str | None
    description: str | None
    ticks_per_second: int


@dataclass
class Packet:
    """A packet of an Enhanced Packet Block: where and when it was seen, and its bytes."""

    interface: int
    timestamp: float  # Unix time
    data: bytes
    comment: str | None = None


@dataclass
class Capture:
    """What `read` found: the writer's application, the interfaces, the packets, and the secrets."""

    application: str | None = None
    interfaces: list[Interface] = field(default_factory=list)
    packets: list[Packet] = field(default_factory=list)
    secrets: list[tuple[int, bytes]] = field(default_factory=list)  # (secrets type, data)

    @property
    def tls_key_log(self) -> str:
        """The TLS key log lines carried in the file, as one text ("" if none)."""
        return "".join(data.decode("ascii", "replace") for kind, data in self.secrets if kind == TLS_KEY_LOG)


def blocks(data: bytes) -> Iterator[Block]:
    """The blocks of a pcapng file, in order. Raises ValueError where the file is not pcapng."""
    at, order = 0, "<"
    while at < len(data):
        if len(data) - at < 12:
            raise ValueError(f"a block cut short at byte {at}")
        (block_type,) = struct.unpack_from(order + "I", data, at)
        if block_type == SECTION_HEADER:  # a new section may change the byte order
            (magic,) = struct.unpack_from("<I", data, at + 8)
            if magic not in (BYTE_ORDER_MAGIC, 0x4D3C2B1A):
                raise ValueError(f"no Byte-Order Magic at byte {at + 8}: not a pcapng file")
            order = "<" if magic == BYTE_ORDER_MAGIC else ">"
        elif at == 0:
            raise ValueError("a pcapng file starts with a Section Header Block (0x0A0D0D0A)")
        (total,) = struct.unpack_from(order + "I", data, at + 4)
        if total < 12 or total % 4 or at + total > len(data):
            raise ValueError(f"a block at byte {at} claims an impossible length ({total})")
        body = data[at + 8:at + total - 4]
        yield Block(block_type, body, _read_options(body, _fixed_length(block_type, body, order), order))
        at += total


def _fixed_length(block_type: int, body: bytes, order: str) -> int:
    """Where a block's options start: after its fixed fields (and, for packets and secrets, the padded data)."""
    if block_type == SECTION_HEADER:
        return 16
    if block_type == INTERFACE_DESCRIPTION:
        return 8
    if block_type == ENHANCED_PACKET:
        (captured,) = struct.unpack_from(order + "I", body, 12)
        return 20 + len(_pad(b"\0" * captured))
    if block_type == DECRYPTION_SECRETS:
        (length,) = struct.unpack_from(order + "I", body, 4)
        return 8 + len(_pad(b"\0" * length))
    return len(body)  # a block this reader does not know: options not looked for


def _read_options(body: bytes, at: int, order: str) -> dict[int, list[bytes]]:
    options: dict[int, list[bytes]] = {}
    while at + 4 <= len(body):
        code, length = struct.unpack_from(order + "HH", body, at)
        if code == OPT_ENDOFOPT:
            break
        options.setdefault(code, []).append(body[at + 4:at + 4 + length])
        at += 4 + len(_pad(b"\0" * length))
    return options


def read(data: bytes) -> Capture:
    """Read a whole pcapng file (its bytes) into a `Capture`; blocks of other types are skipped."""
    capture = Capture()
    order = "<"
    for block in blocks(data):
        if block.type == SECTION_HEADER:
            order = "<" if struct.unpack_from("<I", block.body)[0] == BYTE_ORDER_MAGIC else ">"
            capture.application = block.option(SHB_USERAPPL)
        elif block.type == INTERFACE_DESCRIPTION:
            link_type, _, _ = struct.unpack_from(order + "HHI", block.body)
            capture.interfaces.append(Interface(link_type, block.option(IF_NAME), block.option(IF_DESCRIPTION),
                                                _ticks_per_second(block.options.get(IF_TSRESOL))))
        elif block.type == ENHANCED_PACKET:
            interface, high, low, captured, _ = struct.unpack_from(order + "IIIII", block.body)
            ticks = capture.interfaces[interface].ticks_per_second
            capture.packets.append(Packet(interface, ((high << 32) | low) / ticks,
                                          block.body[20:20 + captured], block.option(OPT_COMMENT)))
        elif block.type == DECRYPTION_SECRETS:
            kind, length = struct.unpack_from(order + "II", block.body)
            capture.secrets.append((kind, block.body[8:8 + length]))
    return capture


def _ticks_per_second(values: list[bytes] | None) -> int:
    """if_tsresol (section 4.2): a power of ten, or of two if the top bit is set; 10**6 if absent."""
    if not values:
        return TICKS_PER_SECOND
    value = values[0][0]
    return 2 ** (value & 0x7F) if value & 0x80 else 10 ** value
