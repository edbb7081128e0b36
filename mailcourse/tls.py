"""The lab's TLS: a course CA made at run time, one certificate per server, and the session keys.

Real mail servers prove who they are with a certificate that a certificate
authority (CA) signed; a mail program trusts a few hundred CAs and checks
that the certificate names the host it meant to reach (RFC 6125). The lab
has its own CA, made on this machine the first time something needs TLS
(with trustme, a library made for exactly this): no private key is ever
shipped with the course, so nobody else can pose as a lab server.

    >>> lab.tls.ca_file                      # give this file to a mail program to trust the lab
    PosixPath('/tmp/mailcourse-.../tls/ca.pem')
    >>> lab.tls.server_context("mail.someplace.org")   # what the servers use
    <ssl.SSLContext ...>

Each server gets a certificate for its host name (``mail.someplace.org``)
and for 127.0.0.1 and ``localhost``: every program reaches the lab's
servers at 127.0.0.1 (there is no DNS for mail.someplace.org outside the
lab), and a certificate must name what the client connected to.

Everything lives in the workspace's ``tls/`` folder: a kept workspace keeps
its CA, so a mail program told once to trust it goes on trusting it. The CA's
private key is there too, readable by its owner only (the workspace is the
lab's own folder, never part of the course's repository).

The session keys. Every server context writes the secrets of each TLS
session it makes to ``keylog.txt``, in the NSS key log format that Wireshark
reads (``SSLContext.keylog_filename``). The lab holds them on purpose: the
tap records only ciphertext, as a wire capture would, and with these keys
the lab can show what was inside. A real server never writes them.

Nothing here is imported with ``mailcourse``: trustme and cryptography load
when the first certificate is made.
"""
from __future__ import annotations

import os
import ssl
import threading
from pathlib import Path
from typing import Any

LOOPBACK_NAMES = ("127.0.0.1", "localhost")  # where every program reaches a lab server


class LabTLS:
    """The TLS material of one lab (``lab.tls``): its CA, server contexts, client contexts, key log.

    Made lazily and thread-safe: the lab's loop (a server about to answer
    STARTTLS), a relay worker and a notebook cell may all ask first.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._lock = threading.RLock()
        self._ca: Any = None  # trustme.CA, once made or loaded
        self._servers: dict[str, ssl.SSLContext] = {}

    # -- the CA ---------------------------------------------------------------------------

    @property
    def ca_file(self) -> Path:
        """The CA's certificate (PEM): what a client must trust to verify the lab's servers."""
        self._authority()
        return self.directory / "ca.pem"

    @property
    def ca_pem(self) -> bytes:
        """The CA's certificate itself, in PEM."""
        return self.ca_file.read_bytes()

    def _authority(self) -> Any:
        with self._lock:
            if self._ca is not None:
                return self._ca
            import trustme

            cert, key = self.directory / "ca.pem", self.directory / "ca.key"
            if cert.exists() and key.exists():  # a kept workspace: the CA its clients already trust
                self._ca = trustme.CA.from_pem(cert.read_bytes(), key.read_bytes())
            else:
                self.directory.mkdir(parents=True, exist_ok=True)
                self._ca = trustme.CA(organization_name="mailcourse",
                                      organization_unit_name="the lab's course CA")
                _write_private(key, self._ca.private_key_pem.bytes())
                cert.write_bytes(self._ca.cert_pem.bytes())
            return self._ca

    # -- servers ---------------------------------------------------------------------------

    @property
    def keylog_file(self) -> Path:
        """Where the servers write each TLS session's secrets (NSS key log format)."""
        return self.directory / "keylog.txt"

    def keylog(self) -> str:
        """The key log so far: one ``CLIENT_RANDOM``-style line per secret ("" before any TLS session)."""
        try:
            return self.keylog_file.read_text()
        except FileNotFoundError:
            return ""

    def server_context(self, hostname: str) -> ssl.SSLContext:
        """The context of the server ``hostname``: its certificate, and the key log.

        The same context for every endpoint of that server (STARTTLS and
        implicit TLS alike). TLS 1.2 at least, as RFC 8996 and RFC 8314
        section 4.1 ask.
        """
        with self._lock:
            if hostname not in self._servers:
                cert = self._authority().issue_cert(hostname, *LOOPBACK_NAMES)
                context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
                context.minimum_version = ssl.TLSVersion.TLSv1_2
                # No TLS 1.3 session tickets (RFC 8446 section 4.6.1): the lab's clients never
                # resume a session, and a server sends its tickets just after the handshake, at a
                # moment that races the client's first command; so the records of a session would
                # come in a different order from run to run, and so would its transcript and ladder.
                context.num_tickets = 0
                cert.configure_cert(context)
                self.directory.mkdir(parents=True, exist_ok=True)
                _write_private(self.keylog_file, b"", append=True)  # the owner's only, like the CA key
                context.keylog_filename = str(self.keylog_file)
                self._servers[hostname] = context
            return self._servers[hostname]

    # -- clients ---------------------------------------------------------------------------

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts the lab's CA and nothing else, and checks host names."""
        return ssl.create_default_context(cafile=str(self.ca_file))


def _write_private(path: Path, data: bytes, append: bool = False) -> None:
    """Write a file only its owner may read (a private key, session secrets)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "ab" if append else "wb") as f:
        f.write(data)
