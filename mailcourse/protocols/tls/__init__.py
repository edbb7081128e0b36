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

This package does no I/O. `RecordReader` cuts one direction's bytes into
records, fed in whatever pieces the tap recorded. `read_session` reads both
directions of a connection (`Session`: the hellos and a summary line per
record, the eavesdropper's view); `decrypt` opens its records with a key log
(`Decryption`: each side's plaintext, or a clear reason why not).
`read_recording` does both for a recorded connection whose TLS begins after
plaintext lines (STARTTLS). Bad input is never an exception: garbage, a
truncated record or a missing key become an ``error`` to show.

The AEAD ciphers come from the ``cryptography`` package, imported only when
a record is opened; the key derivations are written out (in `keys`) on top
of the standard library's ``hmac``, because they are the lesson.

The modules, in the order a record meets them
---------------------------------------------

============== ==================================================================
module         what it holds
============== ==================================================================
`records`      `Record`, `RecordReader`, `read_records`; the content types,
               versions, alerts and cipher suites (`Suite`, `SUITES`)
`handshake`    `handshake_messages`; `ClientHello`, `ServerHello` and their parsers
`session`      `Session`, `read_session`: the eavesdropper's view, a line per record
`keys`         `parse_keylog`, `hkdf_expand_label`, `prf`, the traffic keys
`decryption`   `decrypt`, `Decryption`, `Opened`: the records opened, TLS 1.3 and 1.2
`recording`    `read_recording`, `Recording`, `Piece`: plaintext lines, then TLS
============== ==================================================================

Each imports only the ones above it. Everything public is re-exported here,
so ``from mailcourse.protocols import tls`` then ``tls.decrypt(...)`` is all
a lesson needs.
"""
from __future__ import annotations

from .decryption import NO_KEY, Decryption, Opened, decrypt
from .handshake import (
    ALPN, CLIENT_HELLO, FINISHED, GROUPS, HANDSHAKE_TYPES, HELLO_RETRY_RANDOM, KEY_SHARE,
    KEY_UPDATE, NEW_SESSION_TICKET, SERVER_HELLO, SERVER_NAME, SUPPORTED_VERSIONS, ClientHello,
    ServerHello, handshake_messages, parse_client_hello, parse_server_hello,
)
from .keys import (
    hkdf_expand, hkdf_expand_label, next_traffic_secret, parse_keylog, prf, tls12_keys, tls13_keys,
)
from .recording import (
    HANDSHAKE_LINE, Piece, Recording, application_lines, read_recording, record_line, record_size, tls_start,
)
from .records import (
    ALERT, ALERTS, APPLICATION_DATA, C2S, CHANGE_CIPHER_SPEC, CONTENT_TYPES, HANDSHAKE,
    MAX_FRAGMENT, OTHER_SUITES, S2C, SUITES, TLS12, TLS13, VERSIONS, Record, RecordReader, Suite,
    looks_like_record, read_records, suite_name, version_name,
)
from .session import Session, describe_client_hello, describe_server_hello, read_session

__all__ = [
    "ALERT", "ALERTS", "ALPN", "APPLICATION_DATA", "C2S", "CHANGE_CIPHER_SPEC", "CLIENT_HELLO",
    "CONTENT_TYPES", "ClientHello", "Decryption", "FINISHED", "GROUPS", "HANDSHAKE",
    "HANDSHAKE_LINE", "HANDSHAKE_TYPES", "HELLO_RETRY_RANDOM", "KEY_SHARE", "KEY_UPDATE", "MAX_FRAGMENT",
    "NEW_SESSION_TICKET", "NO_KEY", "OTHER_SUITES", "Opened", "Piece", "Record", "RecordReader",
    "Recording", "S2C", "SERVER_HELLO", "SERVER_NAME", "SUITES", "SUPPORTED_VERSIONS",
    "ServerHello", "Session", "Suite", "TLS12", "TLS13", "VERSIONS", "application_lines", "decrypt",
    "describe_client_hello", "describe_server_hello", "handshake_messages", "hkdf_expand",
    "hkdf_expand_label", "looks_like_record", "next_traffic_secret", "parse_client_hello",
    "parse_keylog", "parse_server_hello", "prf", "read_recording", "read_records", "read_session", "record_line",
    "record_size",
    "suite_name", "tls12_keys", "tls13_keys", "tls_start", "version_name",
]
