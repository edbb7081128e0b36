"""From a key log to traffic keys: the NSS key log, HKDF-Expand-Label, the TLS 1.2 PRF.

An endpoint that sets ``SSLContext.keylog_filename`` writes its session's
secrets in the NSS key log format, keyed by the ClientHello's random
(`parse_keylog`). From a traffic secret, TLS 1.3 derives a write key and an
IV (RFC 8446 section 7.3, `tls13_keys`) with HKDF-Expand-Label (section 7.1,
on HKDF-Expand of RFC 5869 section 2.3), and after a KeyUpdate the next
traffic secret (section 7.2). From the master secret, TLS 1.2 derives a key
block with its PRF (RFC 5246 sections 5 and 6.3, `tls12_keys`).

The derivations are written out here on top of the standard library's
``hmac``, because they are the lesson. Only the AEAD cipher comes from the
``cryptography`` package, imported when the first keys are made to open a
record, so that ``import mailcourse`` stays light.
"""
from __future__ import annotations

import hashlib
import hmac

from .records import Suite


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


