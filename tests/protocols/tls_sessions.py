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


def recorded_in_subprocess(suite: str, tmp: Path, padding: int | None = None) -> Recorded:
    """A TLS 1.3 session with ``suite``, made by a new Python whose OpenSSL allows only that suite.

    ``padding``: OpenSSL pads each TLS 1.3 record's plaintext with zeros up
    to a multiple of that many bytes (RFC 8446 section 5.4), so that the
    record sizes on the wire no longer give the exact lengths away.
    """
    conf = tmp / "openssl.cnf"
    conf.write_text(OPENSSL_CONF.format(suite=suite) + (f"RecordPadding = {padding}\n" if padding else ""))
    env = dict(os.environ, OPENSSL_CONF=str(conf))
    done = subprocess.run([sys.executable, __file__], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return Recorded.from_json(done.stdout)


if __name__ == "__main__":
    print(converse(make_ca()).to_json())


def converse_with_openssl(ca: trustme.CA, tmp: Path, openssl: str = "openssl") -> Recorded:
    """A TLS 1.3 session in which each side updates its keys (RFC 8446 section 4.6.3).

    Python has no call that sends a KeyUpdate; ``openssl s_client`` does,
    when a line typed to it is ``K`` (a KeyUpdate that asks the peer to
    update too; our server's OpenSSL answers with its own). The client talks
    to this process's server over a Unix socket, so no port is needed, and
    the server side is an `ssl.SSLObject` whose bytes are recorded here.
    """
    import select
    import socket
    import time

    ca.cert_pem.write_to_path(str(tmp / "ca.pem"))
    keylog = tmp / "keys.log"
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert(SERVER_NAME).configure_cert(server_ctx)
    server_ctx.keylog_filename = str(keylog)
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(tmp / "tls.sock"))
    listener.listen()
    client = subprocess.Popen([openssl, "s_client", "-unix", str(tmp / "tls.sock"),
                               "-servername", SERVER_NAME, "-CAfile", str(tmp / "ca.pem"), "-crlf"],
                              stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    listener.settimeout(30)
    conn, _ = listener.accept()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    server = server_ctx.wrap_bio(incoming, outgoing, server_side=True)
    chunks: list[tuple[str, bytes]] = []
    read = b""

    def pump_until(done, seconds: float = 20.0) -> None:
        nonlocal read
        deadline = time.monotonic() + seconds
        while not done():
            assert time.monotonic() < deadline, f"openssl s_client: nothing more after {chunks[-1:]!r}"
            if select.select([conn], [], [], 0.05)[0]:
                data = conn.recv(65536)
                if not data:
                    return  # the client closed
                chunks.append((C2S, data))
                incoming.write(data)
            _step(server.do_handshake)
            try:
                read += server.read(65536)
            except (ssl.SSLWantReadError, ssl.SSLZeroReturnError):
                pass
            if reply := outgoing.read():
                chunks.append((S2C, reply))
                conn.sendall(reply)

    def type_line(line: bytes) -> None:
        assert client.stdin is not None
        client.stdin.write(line + b"\n")
        client.stdin.flush()

    def written(data: bytes) -> None:
        server.write(data)
        pump_until(lambda: outgoing.pending == 0)

    try:
        pump_until(lambda: _handshake_done(server) and outgoing.pending == 0)  # the tickets sent too
        type_line(b"EHLO x")
        pump_until(lambda: read.endswith(b"EHLO x\r\n"))
        written(b"250 mail.someplace.org\r\n")
        before = len(chunks)
        type_line(b"K")  # s_client sends a KeyUpdate, update_requested
        pump_until(lambda: any(d == C2S for d, _ in chunks[before:]))
        written(b"250 after the key update\r\n")
        type_line(b"NOOP")  # not QUIT: a line starting with Q makes s_client quit
        pump_until(lambda: read.endswith(b"NOOP\r\n"))
        assert client.stdin is not None
        client.stdin.close()  # s_client sends close_notify and leaves
        pump_until(lambda: False)
    finally:
        client.kill()
        client.wait()
        conn.close()
        listener.close()
    sent = {C2S: b"EHLO x\r\nNOOP\r\n", S2C: b"250 mail.someplace.org\r\n250 after the key update\r\n"}
    return Recorded(chunks, keylog.read_text(), {C2S: read}, server.version() or "", server.cipher()[0], sent)


def _handshake_done(server: ssl.SSLObject) -> bool:
    try:
        server.do_handshake()
        return True
    except ssl.SSLError:
        return False
