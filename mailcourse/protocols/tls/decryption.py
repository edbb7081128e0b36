"""Opening recorded records with a key log: each side's plaintext, or a clear reason why not.

`decrypt` finds a `Session`'s secrets in a key log by its client random,
derives the traffic keys (`keys`) and opens each side's records with the
suite's AEAD cipher (AES-GCM, ChaCha20-Poly1305 or AES-CCM), whose tag
proves that not one byte was changed: a corrupted record fails to open, it
is never misread.

- TLS 1.3 (RFC 8446 section 5.2, `_open_tls13`): each encrypted record is a
  TLSInnerPlaintext that hides its real content type; the handshake keys
  serve until the side's Finished, the application keys after it, and the
  next ones after each KeyUpdate (section 7.2).
- TLS 1.2 with AEAD suites (RFC 5246 section 6.2.3.3, RFC 5288 section 3,
  RFC 7905; `_open_tls12`): the records after the side's ChangeCipherSpec.

The result is a `Decryption`: the `Opened` records in each side's order,
and the ``errors`` (no key, an unknown suite, a failed tag), never an
exception.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .handshake import FINISHED, HANDSHAKE_TYPES, KEY_UPDATE, handshake_messages
from .keys import _Direction, next_traffic_secret, parse_keylog, tls12_keys, tls13_keys
from .records import (
    ALERT,
    ALERTS,
    APPLICATION_DATA,
    C2S,
    CHANGE_CIPHER_SPEC,
    CONTENT_TYPES,
    HANDSHAKE,
    S2C,
    SUITES,
    TLS12,
    TLS13,
    Record,
    Suite,
    suite_name,
    version_name,
)
from .session import Session


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


