"""Handshake messages, and the two hellos that stay in the clear (RFC 8446 section 4, RFC 5246 section 7.4).

Each direction's handshake bytes are a sequence of messages: a one-byte
type, a three-byte length, the body (`handshake_messages`); a long message
may span records. Two of them an eavesdropper always reads. The ClientHello
(RFC 8446 section 4.1.2) offers versions (supported_versions, section
4.2.1), cipher suites, key shares (section 4.2.8), and names the server
(SNI, RFC 6066 section 3) and the application protocols (ALPN, RFC 7301).
The ServerHello (section 4.1.3) says which version and suite were chosen,
or, with a special random, asks for another key share (HelloRetryRequest).

`parse_client_hello` and `parse_server_hello` read the bodies with a cursor
over the vectors of the TLS presentation language (RFC 8446 section 3).
"""
from __future__ import annotations

from dataclasses import dataclass, field

# Handshake message types (RFC 8446 section 4, RFC 5246 section 7.4).
CLIENT_HELLO, SERVER_HELLO, NEW_SESSION_TICKET, FINISHED, KEY_UPDATE = 1, 2, 4, 20, 24
HANDSHAKE_TYPES = {
    1: "ClientHello", 2: "ServerHello", 4: "NewSessionTicket", 5: "EndOfEarlyData",
    8: "EncryptedExtensions", 11: "Certificate", 12: "ServerKeyExchange", 13: "CertificateRequest",
    14: "ServerHelloDone", 15: "CertificateVerify", 16: "ClientKeyExchange", 20: "Finished",
    24: "KeyUpdate",
}

# Extensions an eavesdropper reads in the hellos (IANA "TLS ExtensionType Values").
SERVER_NAME, ALPN, SUPPORTED_VERSIONS, KEY_SHARE = 0, 16, 43, 51
GROUPS = {23: "secp256r1", 24: "secp384r1", 25: "secp521r1", 29: "x25519", 30: "x448",
          256: "ffdhe2048", 257: "ffdhe3072"}

# A ServerHello with this random is a HelloRetryRequest (RFC 8446 section 4.1.3).
HELLO_RETRY_RANDOM = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")


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


