"""Reading recorded TLS: what an eavesdropper sees, and what the endpoints see, sans-I/O.

Theory of operation
-------------------
After STARTTLS (RFC 3207, RFC 2595) or from the first byte (implicit TLS,
RFC 8314), a connection carries TLS *records* (RFC 8446 section 5.1, RFC
5246 section 6.2.1): a five-byte header in the clear, a content type
(handshake 22, change_cipher_spec 20, alert 21, application_data 23), a
legacy version and a length, then that many bytes of fragment.

What an eavesdropper can still read:

- the record headers: who sent how many bytes, and when;
- the ClientHello, always in the clear: the server name the client asks for
  (SNI, RFC 6066 section 3), the versions it offers (supported_versions,
  RFC 8446 section 4.2.1), its cipher suites and ALPN protocols (RFC 7301);
- the ServerHello: the version and cipher suite chosen.

In TLS 1.3 everything after the ServerHello is encrypted, the server's
certificate included, and every encrypted record wears the outer type
application_data (section 5.2): the eavesdropper cannot even tell handshake
from data. In TLS 1.2 the certificate and the key exchange are in the clear,
and only what follows each side's ChangeCipherSpec is encrypted.

What it takes to read the rest: the session's secrets. An endpoint that
sets ``SSLContext.keylog_filename`` writes them in the NSS key log format
(`parse_keylog`), keyed by the ClientHello's random. From a traffic secret,
TLS 1.3 derives a key and an IV (section 7.3, `hkdf_expand_label`); from the
master secret, TLS 1.2 derives a key block with its PRF (RFC 5246 section
6.3, `prf`). Each record is then opened with an AEAD cipher (AES-GCM,
ChaCha20-Poly1305 or AES-CCM), whose tag proves that not one byte was
changed: a corrupted record fails to open, it is never misread.

This module does no I/O. `RecordReader` cuts one direction's bytes into
records, fed in whatever pieces the tap recorded. `read_session` reads both
directions of a connection (`Session`: the hellos and a summary line per
record, the eavesdropper's view); `decrypt` opens its records with a key log
(`Decryption`: each side's plaintext, or a clear reason why not).
`read_recording` does both for a recorded connection whose TLS begins after
plaintext lines (STARTTLS). Bad input is never an exception: garbage, a
truncated record or a missing key become an ``error`` to show.

The AEAD ciphers come from the ``cryptography`` package, imported only when
a record is opened; the key derivations are written out here on top of the
standard library's ``hmac``, because they are the lesson.
"""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass, field

C2S = "c2s"  # client to server (as in mailcourse.protocols.exchanges)
S2C = "s2c"  # server to client

# Content types (RFC 8446 section 5.1, RFC 5246 section 6.2.1).
CHANGE_CIPHER_SPEC, ALERT, HANDSHAKE, APPLICATION_DATA = 20, 21, 22, 23
CONTENT_TYPES = {CHANGE_CIPHER_SPEC: "change_cipher_spec", ALERT: "alert", HANDSHAKE: "handshake",
                 APPLICATION_DATA: "application data"}

# Handshake message types (RFC 8446 section 4, RFC 5246 section 7.4).
CLIENT_HELLO, SERVER_HELLO, NEW_SESSION_TICKET, FINISHED, KEY_UPDATE = 1, 2, 4, 20, 24
HANDSHAKE_TYPES = {
    1: "ClientHello", 2: "ServerHello", 4: "NewSessionTicket", 5: "EndOfEarlyData",
    8: "EncryptedExtensions", 11: "Certificate", 12: "ServerKeyExchange", 13: "CertificateRequest",
    14: "ServerHelloDone", 15: "CertificateVerify", 16: "ClientKeyExchange", 20: "Finished",
    24: "KeyUpdate",
}

VERSIONS = {0x0300: "SSL 3.0", 0x0301: "TLS 1.0", 0x0302: "TLS 1.1", 0x0303: "TLS 1.2", 0x0304: "TLS 1.3"}
TLS12, TLS13 = 0x0303, 0x0304

# Extensions an eavesdropper reads in the hellos (IANA "TLS ExtensionType Values").
SERVER_NAME, ALPN, SUPPORTED_VERSIONS, KEY_SHARE = 0, 16, 43, 51
GROUPS = {23: "secp256r1", 24: "secp384r1", 25: "secp521r1", 29: "x25519", 30: "x448",
          256: "ffdhe2048", 257: "ffdhe3072"}

# Alert descriptions (RFC 8446 section 6), the ones a lesson is likely to meet.
ALERTS = {0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 40: "handshake_failure",
          42: "bad_certificate", 45: "certificate_expired", 46: "certificate_unknown",
          48: "unknown_ca", 70: "protocol_version", 80: "internal_error", 112: "unrecognized_name"}

# A ServerHello with this random is a HelloRetryRequest (RFC 8446 section 4.1.3).
HELLO_RETRY_RANDOM = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")


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


# -- records -------------------------------------------------------------------------------

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


# -- handshake messages ----------------------------------------------------------------------


class _Short(Exception):
    """A message ended before one of its fields did."""


class _Cursor:
    """Reads the vectors of the TLS presentation language (RFC 8446 section 3): lengths, then bytes."""

    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def take(self, n: int) -> bytes:
        if self.at + n > len(self.data):
            raise _Short
        part = self.data[self.at:self.at + n]
        self.at += n
        return part

    def number(self, size: int) -> int:
        return int.from_bytes(self.take(size), "big")

    def numbers(self, size: int) -> list[int]:
        """A vector's numbers, each of ``size`` bytes, up to its end (a list of suites, of versions)."""
        return [self.number(size) for _ in range((len(self.data) - self.at) // size)]

    def vector(self, length_size: int) -> _Cursor:
        return _Cursor(self.take(self.number(length_size)))

    def done(self) -> bool:
        return self.at >= len(self.data)


def handshake_messages(data: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """Split handshake bytes into ``(msg_type, body)`` messages (RFC 8446 section 4), and the rest.

    A message may span records, so callers pass the handshake bytes of a
    direction joined; the incomplete rest is returned for the next call.
    """
    messages = []
    while len(data) >= 4:
        length = int.from_bytes(data[1:4], "big")
        if len(data) < 4 + length:
            break
        messages.append((data[0], data[4:4 + length]))
        data = data[4 + length:]
    return messages, data


@dataclass
class ClientHello:
    """What a client offers, in the clear (RFC 8446 section 4.1.2, RFC 5246 section 7.4.1.2)."""

    random: bytes
    cipher_suites: list[int]
    versions: list[int]  # from supported_versions, else the legacy version alone
    server_name: str | None = None  # SNI (RFC 6066 section 3)
    alpn: list[str] = field(default_factory=list)  # RFC 7301
    groups: list[int] = field(default_factory=list)  # the key shares sent (RFC 8446 section 4.2.8)


@dataclass
class ServerHello:
    """What the server chose, in the clear (RFC 8446 section 4.1.3)."""

    random: bytes
    version: int  # from supported_versions (TLS 1.3), else the legacy version
    cipher_suite: int
    group: int | None = None  # the key share's group (TLS 1.3)

    @property
    def retry(self) -> bool:
        """A HelloRetryRequest: the server wants another key share; a second ServerHello follows."""
        return self.random == HELLO_RETRY_RANDOM


def _extensions(c: _Cursor) -> dict[int, _Cursor]:
    found = {}
    if c.done():
        return found  # a hello may end before its extensions (RFC 5246 section 7.4.1.2)
    extensions = c.vector(2)
    while not extensions.done():
        kind = extensions.number(2)
        found[kind] = extensions.vector(2)
    return found


def parse_client_hello(body: bytes) -> ClientHello | None:
    """The ClientHello's fields, or None if the body is not a well-formed one."""
    try:
        c = _Cursor(body)
        legacy_version = c.number(2)
        random = c.take(32)
        c.vector(1)  # legacy_session_id
        cipher_suites = c.vector(2).numbers(2)
        c.vector(1)  # legacy_compression_methods
        ext = _extensions(c)
        hello = ClientHello(random, cipher_suites, [legacy_version])
        if SUPPORTED_VERSIONS in ext:
            hello.versions = ext[SUPPORTED_VERSIONS].vector(1).numbers(2)
        if SERVER_NAME in ext:  # a list of names; host_name is type 0, the only one defined
            names = ext[SERVER_NAME].vector(2)
            while not names.done():
                kind, name = names.number(1), names.vector(2).data
                if kind == 0:
                    hello.server_name = name.decode("ascii", "replace")
        if ALPN in ext:
            protocols = ext[ALPN].vector(2)
            while not protocols.done():
                hello.alpn.append(protocols.vector(1).data.decode("ascii", "replace"))
        if KEY_SHARE in ext:
            shares = ext[KEY_SHARE].vector(2)
            while not shares.done():
                hello.groups.append(shares.number(2))
                shares.vector(2)
        return hello
    except _Short:
        return None


def parse_server_hello(body: bytes) -> ServerHello | None:
    """The ServerHello's fields, or None if the body is not a well-formed one."""
    try:
        c = _Cursor(body)
        version = c.number(2)
        random = c.take(32)
        c.vector(1)  # legacy_session_id_echo
        suite = c.number(2)
        c.number(1)  # legacy_compression_method
        ext = _extensions(c)
        hello = ServerHello(random, version, suite)
        if SUPPORTED_VERSIONS in ext:  # TLS 1.3 says so here; the legacy field stays 0x0303
            hello.version = ext[SUPPORTED_VERSIONS].number(2)
        if KEY_SHARE in ext:
            hello.group = ext[KEY_SHARE].number(2)
        return hello
    except _Short:
        return None


# -- the eavesdropper's view of a connection ------------------------------------------------------


@dataclass
class Session:
    """Both directions' records of one connection, read as an eavesdropper reads them.

    ``client`` and ``server`` are the records each side sent, ``lines`` a
    summary of each in the order given (`read_session`), ``errors`` what
    could not be read.
    """

    client: list[Record] = field(default_factory=list)
    server: list[Record] = field(default_factory=list)
    client_hello: ClientHello | None = None
    server_hello: ServerHello | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def version(self) -> int | None:
        """The version the server chose, or None before its ServerHello."""
        return self.server_hello.version if self.server_hello else None

    def records(self, direction: str) -> list[Record]:
        return self.client if direction == C2S else self.server

    def read_hellos(self) -> None:
        """Find the hellos in the clear handshake records of each side (a HelloRetryRequest is skipped)."""
        for direction in (C2S, S2C):
            clear = b"".join(r.fragment for r in self._clear(direction) if r.content_type == HANDSHAKE)
            for kind, body in handshake_messages(clear)[0]:
                if kind == CLIENT_HELLO and direction == C2S and self.client_hello is None:
                    self.client_hello = parse_client_hello(body)
                elif kind == SERVER_HELLO and direction == S2C:
                    hello = parse_server_hello(body)
                    if hello is not None and not hello.retry:
                        self.server_hello = hello

    def _clear(self, direction: str) -> list[Record]:
        """The records of a side sent before its encryption began."""
        clear = []
        for record in self.records(direction):
            if record.content_type in (APPLICATION_DATA, CHANGE_CIPHER_SPEC):
                break  # TLS 1.3 encrypts from here; TLS 1.2, after its ChangeCipherSpec
            clear.append(record)
        return clear

    def summary(self, direction: str, index: int) -> str:
        """One line about a side's record number ``index``, as an eavesdropper can tell it."""
        record = self.records(direction)[index]
        size = f"{len(record.fragment)} bytes"
        clear = index < len(self._clear(direction))
        if record.content_type == CHANGE_CIPHER_SPEC:
            if self.version == TLS13:  # RFC 8446 appendix D.4: a dummy, so middleboxes let 1.3 through
                return "change_cipher_spec, 1 byte (no meaning in TLS 1.3: a disguise for old middleboxes)"
            return "change_cipher_spec: from here on this side encrypts"
        if not clear:
            return f"{record.type_name}, {size} (encrypted)"
        if record.content_type == ALERT and len(record.fragment) == 2:
            level = "fatal" if record.fragment[0] == 2 else "warning"
            return f"alert: {level} {ALERTS.get(record.fragment[1], record.fragment[1])}"
        if record.content_type != HANDSHAKE:
            return f"{record.type_name}, {size}"
        return self._describe_handshake(direction, record)

    def _describe_handshake(self, direction: str, record: Record) -> str:
        index = self.records(direction).index(record)
        names = []
        for kind, body in self._clear_messages(direction).get(index, []):
            if kind == CLIENT_HELLO and (hello := parse_client_hello(body)):
                names.append(describe_client_hello(hello))
            elif kind == SERVER_HELLO and (server := parse_server_hello(body)):
                names.append(describe_server_hello(server))
            else:
                names.append(HANDSHAKE_TYPES.get(kind, f"handshake type {kind}"))
        if not names:  # a message that spans records: this one holds the rest of it
            return f"handshake, {len(record.fragment)} bytes (the rest of a message)"
        return "; ".join(names)

    def _clear_messages(self, direction: str) -> dict[int, list[tuple[int, bytes]]]:
        """A side's handshake messages in the clear, by the record each one starts in.

        A message may span records (a long Certificate does), so the
        fragments are joined before they are cut into messages.
        """
        joined, starts = b"", []  # where each handshake record's fragment starts in ``joined``
        for index, record in enumerate(self._clear(direction)):
            if record.content_type == HANDSHAKE:
                starts.append((len(joined), index))
                joined += record.fragment
        found: dict[int, list[tuple[int, bytes]]] = {}
        at = 0
        for kind, body in handshake_messages(joined)[0]:
            index = next(i for start, i in reversed(starts) if start <= at)
            found.setdefault(index, []).append((kind, body))
            at += 4 + len(body)
        return found


def describe_client_hello(hello: ClientHello) -> str:
    """"ClientHello for mail.someplace.org: TLS 1.3, TLS 1.2; 31 cipher suites; ALPN none"."""
    name = f" for {hello.server_name}" if hello.server_name else " (no server name)"
    versions = ", ".join(version_name(v) for v in hello.versions)
    alpn = ", ".join(hello.alpn) or "none"
    return f"ClientHello{name}: {versions}; {len(hello.cipher_suites)} cipher suites; ALPN {alpn}"


def describe_server_hello(hello: ServerHello) -> str:
    """"TLS 1.3 ServerHello, cipher TLS_AES_256_GCM_SHA384; ..."."""
    if hello.retry:
        return f"HelloRetryRequest: the server asks for another key share ({GROUPS.get(hello.group or 0, hello.group)})"
    said = f"{version_name(hello.version)} ServerHello, cipher {suite_name(hello.cipher_suite)}"
    if hello.version == TLS13:
        said += "; everything after this is encrypted, the certificate too"
    return said


def read_session(client: bytes, server: bytes) -> Session:
    """Read both directions of a TLS connection: the records, the hellos, what went wrong."""
    session = Session()
    session.client, client_error = read_records(client)
    session.server, server_error = read_records(server)
    session.errors += [f"client: {e}" for e in [client_error] if e]
    session.errors += [f"server: {e}" for e in [server_error] if e]
    session.read_hellos()
    return session


# -- the key log ---------------------------------------------------------------------------------


def parse_keylog(text: str) -> dict[bytes, dict[str, bytes]]:
    """An NSS key log: ``{client_random: {label: secret}}``.

    Each line is ``LABEL <client random in hex> <secret in hex>``: TLS 1.2
    writes ``CLIENT_RANDOM`` with the master secret; TLS 1.3 writes
    ``CLIENT_HANDSHAKE_TRAFFIC_SECRET``, ``SERVER_HANDSHAKE_TRAFFIC_SECRET``,
    ``CLIENT_TRAFFIC_SECRET_0``, ``SERVER_TRAFFIC_SECRET_0`` and
    ``EXPORTER_SECRET``. Comments (``#``) and lines that are not of that
    form are passed over.
    """
    secrets: dict[bytes, dict[str, bytes]] = {}
    for line in text.splitlines():
        words = line.split()
        if len(words) != 3 or line.startswith("#"):
            continue
        try:
            random, secret = bytes.fromhex(words[1]), bytes.fromhex(words[2])
        except ValueError:
            continue
        secrets.setdefault(random, {})[words[0]] = secret
    return secrets


# -- key derivation: written out, because it is the lesson -----------------------------------------


def hkdf_expand(secret: bytes, info: bytes, length: int, hash_name: str) -> bytes:
    """HKDF-Expand (RFC 5869 section 2.3): T(i) = HMAC(secret, T(i-1) | info | i), cut to length."""
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(secret, block + info + bytes([counter]), hash_name).digest()
        out += block
        counter += 1
    return out[:length]


def hkdf_expand_label(secret: bytes, label: str, context: bytes, length: int, hash_name: str) -> bytes:
    """HKDF-Expand-Label (RFC 8446 section 7.1): HKDF-Expand with a labelled ``HkdfLabel`` as info.

    ``struct { uint16 length; opaque label<7..255> = "tls13 " + Label; opaque context<0..255>; }``
    """
    full = b"tls13 " + label.encode("ascii")
    info = length.to_bytes(2, "big") + bytes([len(full)]) + full + bytes([len(context)]) + context
    return hkdf_expand(secret, info, length, hash_name)


def prf(secret: bytes, label: bytes, seed: bytes, length: int, hash_name: str) -> bytes:
    """The TLS 1.2 PRF (RFC 5246 section 5): P_hash(secret, label + seed).

    ``A(0) = seed, A(i) = HMAC(secret, A(i-1))``; the output is
    ``HMAC(secret, A(1) + seed) + HMAC(secret, A(2) + seed) + ...``, cut to length.
    """
    seed = label + seed
    out, a = b"", seed
    while len(out) < length:
        a = hmac.new(secret, a, hash_name).digest()
        out += hmac.new(secret, a + seed, hash_name).digest()
    return out[:length]


def _aead(suite: Suite, key: bytes):  # -> an object with .decrypt(nonce, data, associated_data)
    # Imported here: `import mailcourse` stays light, and only a lab that decrypts needs it.
    from cryptography.hazmat.primitives.ciphers import aead

    if suite.aead == "AES-GCM":
        return aead.AESGCM(key)
    if suite.aead == "CHACHA20-POLY1305":
        return aead.ChaCha20Poly1305(key)
    return aead.AESCCM(key, tag_length=suite.tag_length)


class _Direction:
    """One side's record protection: its cipher, its key and IV, its sequence number."""

    def __init__(self, suite: Suite, key: bytes, iv: bytes) -> None:
        self.suite, self.iv, self.sequence = suite, iv, 0
        self.cipher = _aead(suite, key)

    def nonce(self) -> bytes:
        """RFC 8446 section 5.3 (and RFC 7905 for ChaCha20 in TLS 1.2): the IV XOR the sequence number."""
        padded = self.sequence.to_bytes(len(self.iv), "big")
        return bytes(a ^ b for a, b in zip(self.iv, padded))


def tls13_keys(suite: Suite, traffic_secret: bytes) -> _Direction:
    """RFC 8446 section 7.3: the write key and IV from a traffic secret."""
    key = hkdf_expand_label(traffic_secret, "key", b"", suite.key_length, suite.hash)
    iv = hkdf_expand_label(traffic_secret, "iv", b"", 12, suite.hash)
    return _Direction(suite, key, iv)


def next_traffic_secret(suite: Suite, secret: bytes) -> bytes:
    """After a KeyUpdate (RFC 8446 section 7.2): application_traffic_secret_N+1."""
    return hkdf_expand_label(secret, "traffic upd", b"", hashlib.new(suite.hash).digest_size, suite.hash)


def tls12_keys(suite: Suite, master_secret: bytes, client_random: bytes,
               server_random: bytes) -> tuple[_Direction, _Direction]:
    """RFC 5246 section 6.3: the key block, cut into each side's key and IV (client's, server's).

    AEAD suites have no MAC keys. AES-GCM takes a 4-byte implicit IV (its
    "salt", RFC 5288 section 3) and each record carries the other 8 bytes of
    its nonce; ChaCha20-Poly1305 takes a 12-byte IV and no explicit nonce (RFC 7905).
    """
    iv_length = 4 if suite.aead == "AES-GCM" else 12
    size = 2 * (suite.key_length + iv_length)
    block = prf(master_secret, b"key expansion", server_random + client_random, size, suite.hash)
    k, i = suite.key_length, iv_length
    client_key, server_key = block[:k], block[k:2 * k]
    client_iv, server_iv = block[2 * k:2 * k + i], block[2 * k + i:2 * k + 2 * i]
    return _Direction(suite, client_key, client_iv), _Direction(suite, server_key, server_iv)


# -- decryption ----------------------------------------------------------------------------------

NO_KEY = "cannot decrypt: no key for this session"


@dataclass(frozen=True)
class Opened:
    """A record, opened: the real content type and the plaintext."""

    direction: str
    index: int  # the record's place among its side's records
    content_type: int
    data: bytes
    encrypted: bool = True
    messages: tuple[str, ...] = ()  # handshake: the messages that end in this record

    def summary(self) -> str:
        """What the endpoint read: "application data, 8 bytes", "handshake: Certificate, Finished"."""
        if self.content_type == HANDSHAKE:
            return "handshake: " + (", ".join(self.messages) or f"part of a message, {len(self.data)} bytes")
        if self.content_type == ALERT and len(self.data) == 2:
            return f"alert: {ALERTS.get(self.data[1], self.data[1])}"
        return f"{CONTENT_TYPES.get(self.content_type, self.content_type)}, {len(self.data)} bytes"


@dataclass
class Decryption:
    """Each side's records, opened; ``errors``: why some or all could not be (empty if none).

    ``opened`` holds every record that is encrypted and could be opened, and
    the handshake records in the clear, in each side's order.
    """

    session: Session
    opened: list[Opened] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def error(self) -> str | None:
        return "; ".join(self.errors) or None

    def application_data(self, direction: str) -> bytes:
        """What one side sent inside TLS, as the other end's application read it."""
        return b"".join(o.data for o in self.opened if o.direction == direction
                        and o.content_type == APPLICATION_DATA)


def decrypt(session: Session, keylog: str | dict[bytes, dict[str, bytes]]) -> Decryption:
    """Open both sides' records of a session with the secrets of a key log.

    Never raises for bad input: a session without hellos, a key log without
    this session's client random, an unsupported suite or a record that
    fails its authentication tag each give an ``error``, and what was opened
    before it is kept.
    """
    result = Decryption(session, errors=list(session.errors))
    secrets = parse_keylog(keylog) if isinstance(keylog, str) else keylog
    client_hello, server_hello = session.client_hello, session.server_hello
    if client_hello is None or server_hello is None:
        result.errors.append("cannot decrypt: the handshake's hellos were not recorded")
        return result
    suite = SUITES.get(server_hello.cipher_suite)
    if suite is None:
        result.errors.append(f"cannot decrypt: cipher suite {suite_name(server_hello.cipher_suite)} "
                             "is not one this reader knows")
        return result
    found = secrets.get(client_hello.random, {})
    if server_hello.version == TLS13 and suite.tls13:
        for direction, side in ((C2S, "CLIENT"), (S2C, "SERVER")):
            handshake = found.get(f"{side}_HANDSHAKE_TRAFFIC_SECRET")
            application = found.get(f"{side}_TRAFFIC_SECRET_0")
            if handshake is None or application is None:
                result.errors.append(NO_KEY)
                return result
            _open_tls13(result, direction, suite, handshake, application)
    elif server_hello.version == TLS12 and not suite.tls13:
        master = found.get("CLIENT_RANDOM")
        if master is None:
            result.errors.append(NO_KEY)
            return result
        keys = tls12_keys(suite, master, client_hello.random, server_hello.random)
        for direction, keys_of_side in zip((C2S, S2C), keys):
            _open_tls12(result, direction, keys_of_side)
    else:
        result.errors.append(f"cannot decrypt: {version_name(server_hello.version)} is not supported "
                             "(TLS 1.3, and TLS 1.2 with AEAD suites, are)")
    result.opened.sort(key=lambda o: (o.direction != C2S, o.index))
    return result


def _names(messages: list[tuple[int, bytes]]) -> tuple[str, ...]:
    return tuple(HANDSHAKE_TYPES.get(kind, f"type {kind}") for kind, _ in messages)


def _clear_handshake(direction: str, index: int, record: Record) -> Opened:
    names = _names(handshake_messages(record.fragment)[0])
    return Opened(direction, index, HANDSHAKE, record.fragment, encrypted=False, messages=names)


def _side(direction: str) -> str:
    return "client" if direction == C2S else "server"


def _open(keys: _Direction, nonce: bytes, ciphertext: bytes, additional: bytes) -> bytes | None:
    from cryptography.exceptions import InvalidTag

    try:
        return keys.cipher.decrypt(nonce, ciphertext, additional)
    except (InvalidTag, ValueError):
        return None  # a changed byte, a wrong key, or a record too short to hold its tag


def _failed(result: Decryption, direction: str, index: int) -> None:
    result.errors.append(f"cannot decrypt the {_side(direction)}'s record {index}: it fails its "
                         "authentication tag (a byte changed on the wire, or a wrong key)")


def _open_tls13(result: Decryption, direction: str, suite: Suite, handshake_secret: bytes,
                application_secret: bytes) -> None:
    """RFC 8446 section 5.2: open ``TLSCiphertext`` records, first with the handshake keys.

    The encrypted handshake ends with the side's Finished; the records after
    it use application_traffic_secret_0, and the next one after each KeyUpdate.
    """
    keys, secret, after_finished = tls13_keys(suite, handshake_secret), application_secret, False
    pending = b""  # handshake bytes of a message that spans records
    for index, record in enumerate(result.session.records(direction)):
        if record.content_type == HANDSHAKE:
            result.opened.append(_clear_handshake(direction, index, record))
            continue
        if record.content_type != APPLICATION_DATA:
            continue  # the dummy change_cipher_spec (appendix D.4), or a plaintext alert
        inner = _open(keys, keys.nonce(), record.fragment, record.header)
        if inner is None:
            _failed(result, direction, index)
            return
        keys.sequence += 1
        # TLSInnerPlaintext (section 5.2): content, the real type, then zero padding.
        content = inner.rstrip(b"\0")
        if not content:
            result.errors.append(f"the {_side(direction)}'s record {index} holds no content type")
            return
        kind, data = content[-1], content[:-1]
        if kind != HANDSHAKE:
            result.opened.append(Opened(direction, index, kind, data))
            continue
        messages, pending = handshake_messages(pending + data)
        result.opened.append(Opened(direction, index, kind, data, messages=_names(messages)))
        for message_type, _ in messages:
            if message_type == FINISHED and not after_finished:
                keys, after_finished = tls13_keys(suite, secret), True
            elif message_type == KEY_UPDATE and after_finished:
                secret = next_traffic_secret(suite, secret)
                keys = tls13_keys(suite, secret)


def _open_tls12(result: Decryption, direction: str, keys: _Direction) -> None:
    """RFC 5246 section 6.2.3.3: open the records after the side's ChangeCipherSpec.

    The additional data is the sequence number, the type, the version and
    the *plaintext* length. AES-GCM's nonce is the 4-byte salt and the 8
    bytes the record starts with (RFC 5288 section 3).
    """
    encrypting = False
    for index, record in enumerate(result.session.records(direction)):
        if record.content_type == CHANGE_CIPHER_SPEC:
            encrypting = True
            continue
        if not encrypting:
            if record.content_type == HANDSHAKE:
                result.opened.append(_clear_handshake(direction, index, record))
            continue
        fragment = record.fragment
        if keys.suite.aead == "AES-GCM":
            nonce, fragment = keys.iv + fragment[:8], fragment[8:]
        else:
            nonce = keys.nonce()
        length = len(fragment) - keys.suite.tag_length
        additional = (keys.sequence.to_bytes(8, "big") + bytes([record.content_type])
                      + record.version.to_bytes(2, "big") + max(length, 0).to_bytes(2, "big"))
        data = _open(keys, nonce, fragment, additional) if length >= 0 else None
        if data is None:
            _failed(result, direction, index)
            return
        keys.sequence += 1
        # The Finished of TLS 1.2 is the one handshake message that is encrypted (section 7.4.9).
        names = _names(handshake_messages(data)[0]) if record.content_type == HANDSHAKE else ()
        result.opened.append(Opened(direction, index, record.content_type, data, messages=names))


# -- a recorded connection: plaintext lines first (STARTTLS), then TLS -----------------------------------


def tls_start(data: bytes) -> int | None:
    """Where TLS begins in one direction's recorded bytes, or None if it does not.

    At the first byte (implicit TLS, RFC 8314), or at the start of a line
    after STARTTLS / STLS: the first handshake record header found at the
    start of a line. Byte 22 is a control character that no SMTP, POP3 or
    IMAP line starts with.
    """
    at = 0
    while at < len(data):
        if data[at] == HANDSHAKE and looks_like_record(data[at:at + 3]):
            return at
        newline = data.find(b"\n", at)
        if newline < 0:
            return None
        at = newline + 1
    return None


@dataclass(frozen=True)
class Piece:
    """One thing to show, with ``chunk``: the index of the recorded chunk that completed it.

    ``text`` is the eavesdropper's summary of a record ("" for plaintext
    before TLS); ``data`` what the endpoint read (the plaintext before TLS
    or a record's application data; None where nothing was read).
    """

    chunk: int
    direction: str
    text: str
    data: bytes | None


@dataclass
class Recording:
    """A recorded connection read both ways: ``wire`` as an eavesdropper, ``endpoints`` as the ends."""

    session: Session
    wire: list[Piece]
    endpoints: list[Piece]
    errors: list[str]

    @property
    def error(self) -> str | None:
        return "; ".join(self.errors) or None


def read_recording(chunks: Sequence[tuple[str, bytes]], keylog: str | None = None) -> Recording:
    """Read a recorded connection: ``chunks`` are ``(direction, bytes)`` in the order they crossed.

    The plaintext before TLS (up to STARTTLS and its positive reply) is
    passed on as it is, to both views. Each TLS record gives a summary line
    to the eavesdropper's view and, if the key log opens it, its
    application data to the endpoints' view. Each piece names the chunk that
    completed it, so that views can put the two sides' pieces in wire order.
    """
    streams = {direction: b"".join(data for d, data in chunks if d == direction) for direction in (C2S, S2C)}
    starts = {direction: tls_start(stream) for direction, stream in streams.items()}
    session = read_session(*(streams[d][starts[d]:] if starts[d] is not None else b"" for d in (C2S, S2C)))
    errors = list(session.errors)
    opened: dict[tuple[str, int], Opened] = {}
    if starts[C2S] is not None and keylog is None:
        errors.append(NO_KEY)
    elif starts[C2S] is not None and keylog is not None:
        decryption = decrypt(session, keylog)
        errors = decryption.errors
        opened = {(o.direction, o.index): o for o in decryption.opened}

    wire: list[Piece] = []
    endpoints: list[Piece] = []
    seen = {C2S: 0, S2C: 0}  # bytes of each direction up to the end of the current chunk
    next_record = {C2S: 0, S2C: 0}
    for number, (direction, data) in enumerate(chunks):
        before, seen[direction] = seen[direction], seen[direction] + len(data)
        start = starts[direction]
        clear = data if start is None else data[:max(0, start - before)]
        if clear:
            wire.append(Piece(number, direction, "", clear))
            endpoints.append(Piece(number, direction, "", clear))
        if start is None:
            continue
        records = session.records(direction)
        while next_record[direction] < len(records) and start + records[next_record[direction]].end <= seen[direction]:
            index = next_record[direction]
            next_record[direction] += 1
            wire.append(Piece(number, direction, session.summary(direction, index), None))
            found = opened.get((direction, index))
            if found is not None and found.encrypted:  # what only the endpoints could read
                data = found.data if found.content_type == APPLICATION_DATA else None
                endpoints.append(Piece(number, direction, found.summary(), data))
    return Recording(session, wire, endpoints, errors)


def application_lines(pieces: Sequence[Piece]) -> dict[str, list[str]]:
    """What the endpoints read, cut into lines, per direction: ``{C2S: [...], S2C: [...]}``."""
    lines: dict[str, list[str]] = {}
    for direction in (C2S, S2C):
        data = b"".join(p.data for p in pieces if p.direction == direction and p.data is not None)
        cut = data.split(b"\n")
        if cut[-1] == b"":
            cut.pop()  # the line break that ends the last line starts no new one
        lines[direction] = [line.rstrip(b"\r").decode("utf-8", "replace") for line in cut]
    return lines
