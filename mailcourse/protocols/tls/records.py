"""TLS records: the five-byte headers an eavesdropper reads, and the tables that name what they carry.

After STARTTLS, or from the first byte with implicit TLS, a connection is a
stream of records (RFC 8446 section 5.1, RFC 5246 section 6.2.1): a content
type, a legacy version and a length in the clear, then that many bytes of
fragment. `RecordReader` cuts one direction's bytes into `Record` objects,
fed in whatever pieces the tap recorded; `read_records` reads a whole
direction at once; `looks_like_record` tells whether bytes could start one.

The tables name the numbers records and hellos carry: the content types,
the versions, the alerts (RFC 8446 section 6), and the cipher suites:
`Suite` says how a suite protects records (RFC 8446 section B.4; RFC 5288,
RFC 5289 and RFC 7905 for TLS 1.2), for `keys` and `decryption` to use.
"""
from __future__ import annotations

from dataclasses import dataclass

C2S = "c2s"  # client to server (as in mailcourse.protocols.exchanges)
S2C = "s2c"  # server to client

# Content types (RFC 8446 section 5.1, RFC 5246 section 6.2.1).
CHANGE_CIPHER_SPEC, ALERT, HANDSHAKE, APPLICATION_DATA = 20, 21, 22, 23
CONTENT_TYPES = {CHANGE_CIPHER_SPEC: "change_cipher_spec", ALERT: "alert", HANDSHAKE: "handshake",
                 APPLICATION_DATA: "application data"}

VERSIONS = {0x0300: "SSL 3.0", 0x0301: "TLS 1.0", 0x0302: "TLS 1.1", 0x0303: "TLS 1.2", 0x0304: "TLS 1.3"}
TLS12, TLS13 = 0x0303, 0x0304

# Alert descriptions (RFC 8446 section 6), the ones a lesson is likely to meet.
ALERTS = {0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 40: "handshake_failure",
          42: "bad_certificate", 45: "certificate_expired", 46: "certificate_unknown",
          48: "unknown_ca", 70: "protocol_version", 80: "internal_error", 112: "unrecognized_name"}


@dataclass(frozen=True)
class Suite:
    """How a cipher suite protects records: the AEAD, its key length, the hash of the key schedule."""

    name: str
    aead: str  # "AES-GCM", "CHACHA20-POLY1305", "AES-CCM"
    key_length: int
    hash: str  # hashlib's name: the HKDF hash (TLS 1.3) or the PRF hash (TLS 1.2)
    tls13: bool
    tag_length: int = 16


SUITES = {
    # TLS 1.3 (RFC 8446 section B.4): the suite names only the AEAD and the hash.
    0x1301: Suite("TLS_AES_128_GCM_SHA256", "AES-GCM", 16, "sha256", True),
    0x1302: Suite("TLS_AES_256_GCM_SHA384", "AES-GCM", 32, "sha384", True),
    0x1303: Suite("TLS_CHACHA20_POLY1305_SHA256", "CHACHA20-POLY1305", 32, "sha256", True),
    0x1304: Suite("TLS_AES_128_CCM_SHA256", "AES-CCM", 16, "sha256", True),
    0x1305: Suite("TLS_AES_128_CCM_8_SHA256", "AES-CCM", 16, "sha256", True, tag_length=8),
    # TLS 1.2 AEAD suites (RFC 5288, RFC 5289, RFC 7905): the key exchange does not matter
    # to the record layer once the key log gives the master secret.
    0x009C: Suite("TLS_RSA_WITH_AES_128_GCM_SHA256", "AES-GCM", 16, "sha256", False),
    0x009D: Suite("TLS_RSA_WITH_AES_256_GCM_SHA384", "AES-GCM", 32, "sha384", False),
    0x009E: Suite("TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", "AES-GCM", 16, "sha256", False),
    0x009F: Suite("TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", "AES-GCM", 32, "sha384", False),
    0xC02B: Suite("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "AES-GCM", 16, "sha256", False),
    0xC02C: Suite("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "AES-GCM", 32, "sha384", False),
    0xC02F: Suite("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "AES-GCM", 16, "sha256", False),
    0xC030: Suite("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "AES-GCM", 32, "sha384", False),
    0xCCA8: Suite("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "CHACHA20-POLY1305", 32, "sha256", False),
    0xCCA9: Suite("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "CHACHA20-POLY1305", 32, "sha256", False),
    0xCCAA: Suite("TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "CHACHA20-POLY1305", 32, "sha256", False),
}
# Suites a hello may offer that this reader names but cannot decrypt (CBC with HMAC, RFC 5246).
OTHER_SUITES = {0x002F: "TLS_RSA_WITH_AES_128_CBC_SHA", 0x0035: "TLS_RSA_WITH_AES_256_CBC_SHA",
                0xC013: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", 0xC014: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
                0xC027: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", 0xC028: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
                0x00FF: "TLS_EMPTY_RENEGOTIATION_INFO_SCSV"}


def version_name(version: int) -> str:
    return VERSIONS.get(version, f"0x{version:04X}")


def suite_name(suite: int) -> str:
    known = SUITES.get(suite)
    return known.name if known else OTHER_SUITES.get(suite, f"0x{suite:04X}")


# RFC 5246 section 6.2.3: a protected record's fragment is at most 2^14 + 2048 bytes
# (RFC 8446 section 5.2 allows 2^14 + 256); anything longer is not TLS.
MAX_FRAGMENT = 2**14 + 2048


@dataclass(frozen=True)
class Record:
    """One TLS record as it crossed the wire; ``offset``: where its header starts in its direction's bytes."""

    content_type: int
    version: int  # legacy_record_version: 0x0301 in a first ClientHello, else 0x0303
    fragment: bytes
    offset: int = 0

    @property
    def header(self) -> bytes:
        """The five bytes in the clear; TLS 1.3 authenticates them as the AEAD's additional data."""
        return bytes([self.content_type]) + self.version.to_bytes(2, "big") + len(self.fragment).to_bytes(2, "big")

    @property
    def end(self) -> int:
        """The offset just after the record, in its direction's bytes."""
        return self.offset + 5 + len(self.fragment)

    @property
    def type_name(self) -> str:
        return CONTENT_TYPES.get(self.content_type, f"type {self.content_type}")


def looks_like_record(data: bytes) -> bool:
    """Do these bytes start with a plausible record header (a known type, major version 3)?"""
    return len(data) >= 3 and data[0] in CONTENT_TYPES and data[1] == 3 and data[2] <= 4


class RecordReader:
    """Cuts one direction's bytes into records, fed in whatever pieces they were recorded.

    A record split across pieces waits in ``pending`` until its last byte
    comes; a piece with several records gives them all. Bytes that are not
    TLS stop the reader: ``error`` says where, and the rest is kept unread.
    """

    def __init__(self, offset: int = 0) -> None:
        self.buffer = b""
        self.offset = offset  # of the buffer's first byte, in this direction's bytes
        self.error: str | None = None

    @property
    def pending(self) -> bytes:
        """What has come of a record not yet complete (or, after an error, what could not be read)."""
        return self.buffer

    def feed(self, data: bytes) -> list[Record]:
        self.buffer += data
        records: list[Record] = []
        while self.error is None and len(self.buffer) >= 5:
            length = int.from_bytes(self.buffer[3:5], "big")
            if not looks_like_record(self.buffer) or length > MAX_FRAGMENT:
                self.error = f"not a TLS record at byte {self.offset}: {self.buffer[:5].hex(' ')}"
                break
            if len(self.buffer) < 5 + length:
                break  # the rest of this record is still to come
            fragment = self.buffer[5:5 + length]
            records.append(Record(self.buffer[0], int.from_bytes(self.buffer[1:3], "big"), fragment, self.offset))
            self.buffer = self.buffer[5 + length:]
            self.offset += 5 + length
        return records


def read_records(data: bytes) -> tuple[list[Record], str | None]:
    """All the records of one direction's bytes, and what is wrong at their end (None if nothing)."""
    reader = RecordReader()
    records = reader.feed(data)
    if reader.error is None and reader.pending:
        return records, f"truncated: {len(reader.pending)} bytes of a record that never ended"
    return records, reader.error


