"""Real TLS sessions for the TLS reader's tests, recorded as a tap records them.

Two of Python's own TLS endpoints (`ssl.SSLObject` over `ssl.MemoryBIO`, so no
socket is needed) talk through a "wire" that this module pumps by hand: every
chunk one side wrote is recorded, in order, before the other side reads it.
The server's context writes an NSS key log (``keylog_filename``), as the
lab's servers do. The certificate comes from a CA made at test time (trustme);
no private key is ever committed.

Python cannot choose among TLS 1.3's cipher suites (``set_ciphers`` sets
those of TLS 1.2 and below; there is no ``set_ciphersuites``). OpenSSL reads
them from its configuration file, so `recorded_in_subprocess` runs this
module as a script under ``OPENSSL_CONF`` naming the one suite to use.
"""
from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import trustme

C2S, S2C = "c2s", "s2c"
SERVER_NAME = "mail.someplace.org"
PASSWORD = "joe-s3cret-passw0rd"
# An SMTP-like dialogue after the handshake (implicit TLS, RFC 8314): who says what, in order.
# "AUTH PLAIN" carries "\0joe\0<password>" in base64 (RFC 4616); the test looks for both forms.
DIALOGUE = [
    (S2C, b"220 mail.someplace.org ESMTP\r\n"),
    (C2S, b"EHLO x\r\n"),
    (S2C, b"250-mail.someplace.org\r\n250 AUTH PLAIN\r\n"),
    (C2S, b"AUTH PLAIN AGpvZQBqb2UtczNjcmV0LXBhc3N3MHJk\r\n"),  # base64 of "\0joe\0" + PASSWORD
    (S2C, b"235 2.7.0 Authentication successful\r\n"),
    (C2S, b"MAIL FROM:<joe@someplace.org>\r\n"),
    (S2C, b"250 OK\r\n"),
    (C2S, b"QUIT\r\n"),
    (S2C, b"221 Bye\r\n"),
]


@dataclass
class Recorded:
    """One session: the chunks as the tap would record them, the key log, and what each end read."""

    chunks: list[tuple[str, bytes]]
    keylog: str
    read: dict[str, bytes]  # direction -> what the receiving application read
    version: str  # as the client's SSLObject says: "TLSv1.3"
    cipher: str  # OpenSSL's name of the suite: "TLS_AES_256_GCM_SHA384", "ECDHE-RSA-AES128-GCM-SHA256"
    sent: dict[str, bytes] = field(default_factory=dict)

    def stream(self, direction: str) -> bytes:
        return b"".join(data for d, data in self.chunks if d == direction)

    def to_json(self) -> str:
        return json.dumps({"chunks": [(d, data.hex()) for d, data in self.chunks], "keylog": self.keylog,
                           "read": {d: v.hex() for d, v in self.read.items()},
                           "sent": {d: v.hex() for d, v in self.sent.items()},
                           "version": self.version, "cipher": self.cipher})

    @classmethod
    def from_json(cls, text: str) -> Recorded:
        o = json.loads(text)
        return cls([(d, bytes.fromhex(h)) for d, h in o["chunks"]], o["keylog"],
                   {d: bytes.fromhex(v) for d, v in o["read"].items()}, o["version"], o["cipher"],
                   {d: bytes.fromhex(v) for d, v in o["sent"].items()})


def make_ca() -> trustme.CA:
    return trustme.CA()


class _Wire:
    """Moves what each end wrote to the other, recording each chunk as a tap would."""

    def __init__(self, client: ssl.SSLObject, server: ssl.SSLObject, bios: dict[str, tuple[ssl.MemoryBIO, ssl.MemoryBIO]]):
        self.client, self.server, self.bios = client, server, bios
        self.chunks: list[tuple[str, bytes]] = []

    def pump(self) -> bool:
        moved = False
        for direction in (C2S, S2C):
            outgoing, incoming = self.bios[direction]
            data = outgoing.read()
            if data:
                self.chunks.append((direction, data))
                incoming.write(data)
                moved = True
        return moved


def _step(action) -> None:
    try:
        action()
    except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
        pass


def converse(ca: trustme.CA, dialogue=DIALOGUE, *, maximum_version: ssl.TLSVersion | None = None,
             ciphers: str | None = None, server_name: str = SERVER_NAME, alpn: list[str] | None = None,
             close: bool = True) -> Recorded:
    """Run ``dialogue`` over a fresh TLS session; the server writes the key log."""
    with tempfile.TemporaryDirectory() as tmp:
        keylog = Path(tmp, "keys.log")
        server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        # An RSA key, so that the TLS 1.2 ECDHE-RSA suites can be chosen (trustme's default is ECDSA).
        ca.issue_cert(server_name, key_type=trustme.KeyType.RSA).configure_cert(server_ctx)
        server_ctx.keylog_filename = str(keylog)
        client_ctx = ssl.create_default_context()
        ca.configure_trust(client_ctx)
        if alpn is not None:
            client_ctx.set_alpn_protocols(alpn)
        for ctx in (server_ctx, client_ctx):
            if maximum_version is not None:
                ctx.maximum_version = maximum_version
            if ciphers is not None:
                ctx.set_ciphers(ciphers)
        c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
        client = client_ctx.wrap_bio(c_in, c_out, server_hostname=server_name)
        server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
        wire = _Wire(client, server, {C2S: (c_out, s_in), S2C: (s_out, c_in)})
        for _ in range(20):  # the handshake: a few flights each way
            _step(client.do_handshake)
            _step(server.do_handshake)
            if not wire.pump():
                break
        ends = {C2S: (client, server), S2C: (server, client)}
        read = {C2S: b"", S2C: b""}
        sent = {C2S: b"", S2C: b""}
        for direction, data in dialogue:
            writer, reader = ends[direction]
            writer.write(data)
            sent[direction] += data
            wire.pump()
            got = b""
            while len(got) < len(data):
                got += reader.read(65536)  # NewSessionTicket messages are read (and kept) on the way
            read[direction] += got
        if close:  # each side's close_notify alert (RFC 8446 section 6.1)
            for _ in range(4):
                _step(client.unwrap)
                wire.pump()
                _step(server.unwrap)
                wire.pump()
        version, cipher = client.version(), client.cipher()[0]
        return Recorded(wire.chunks, keylog.read_text(), read, version, cipher, sent)


OPENSSL_CONF = """\
openssl_conf = openssl_init
[openssl_init]
ssl_conf = ssl_sect
[ssl_sect]
system_default = system_default_sect
[system_default_sect]
Ciphersuites = {suite}
"""


def recorded_in_subprocess(suite: str, tmp: Path) -> Recorded:
    """A TLS 1.3 session with ``suite``, made by a new Python whose OpenSSL allows only that suite."""
    conf = tmp / "openssl.cnf"
    conf.write_text(OPENSSL_CONF.format(suite=suite))
    env = dict(os.environ, OPENSSL_CONF=str(conf))
    done = subprocess.run([sys.executable, __file__], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return Recorded.from_json(done.stdout)


if __name__ == "__main__":
    print(converse(make_ca()).to_json())
