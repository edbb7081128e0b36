"""The POP3 client every lab device uses, and the offline model's download.

`poplib.POP3` is what Python programs use to fetch mail from a maildrop
(RFC 1939), and what the lessons use. The lab adds one thing only: the
connection is named after the device that opens it, so the trace says
"jane-laptop -> mail.somewhereelse.com" instead of a port number (see
`mailcourse.tap.Network.claim`). Every command, reply and multi-line
response is poplib's own, byte for byte.

`Download` is what a device's "get mail" button does with it (the offline
access model): one short session of USER, PASS, UIDL, RETR of what is new,
DELE unless told to keep, QUIT; the messages land in the device's own store.
"""
from __future__ import annotations

import poplib
import socket
from email.message import EmailMessage
from pathlib import Path
from typing import Callable

from ..durable import write_atomically
from ..message import parse
from ..store import MailStore


class POP3Client(poplib.POP3):
    """`poplib.POP3` on behalf of one lab device.

    Like `poplib.POP3`, it connects in the constructor and reads the
    server's greeting (``welcome``). ``local_address`` is the client end of
    the TCP connection, which is how the trace tells connections apart.
    """

    def __init__(self, device: str, claim: Callable[[socket.socket, str], None], host: str, port: int,
                 timeout: float = 10.0) -> None:
        self.device = device
        self._claim = claim
        self.local_address: tuple[str, int] = ("", 0)
        super().__init__(host, port, timeout)

    def _create_socket(self, timeout: float) -> socket.socket:
        sock = super()._create_socket(timeout)
        # Claimed before the first byte is read, so the whole session carries the device's name.
        self._claim(sock, self.device)
        self.local_address = sock.getsockname()[:2]
        return sock


class Download:
    """A device's POP3 download: its local store and the UIDLs it has already.

    A UIDL (RFC 1939 section 7) is the server's name for a message, the
    same in every session, so a client that keeps the list on its own disk
    can ask for only what is new, as fetchmail and getmail do.
    """

    def __init__(self, local_store: MailStore, account: str, uidls_path: Path) -> None:
        self.local_store = local_store
        self.account = account
        self.uidls_path = uidls_path

    @property
    def seen_uidls(self) -> set[str]:
        """The UIDLs of the messages on the server that this device has downloaded already."""
        try:
            return set(self.uidls_path.read_text().split())
        except FileNotFoundError:
            return set()

    def _save_uidls(self, uidls: set[str]) -> None:
        # A crash leaves the old list or the new one, never half.
        write_atomically(self.uidls_path, "".join(f"{uidl}\n" for uidl in sorted(uidls)))

    def run(self, client: poplib.POP3, login: str, password: str, *,
            keep_on_server: bool) -> tuple[list[EmailMessage], int, int]:
        """One session on ``client`` (connected, greeted); returns (downloaded, deleted, left on the server).

        Each message is saved in the local store before its UIDL is noted as
        seen, so a crash can at worst download a message twice, never lose
        it. Raises `DownloadFailed` (with what was saved so far) when the
        session breaks off.
        """
        seen = self.seen_uidls
        downloaded: list[EmailMessage] = []
        maildrop: dict[int, str] = {}
        to_delete: list[int] = []
        try:
            client.user(login)
            client.pass_(password)
            maildrop = uidl_listing(client)  # message number -> UIDL, for this session
            for number, uidl in maildrop.items():
                if uidl in seen:
                    continue
                # poplib has undone the byte-stuffing and split the lines: put the CRLFs back.
                _, lines, _ = client.retr(number)
                raw = b"".join(line + b"\r\n" for line in lines)
                self.local_store.deliver(self.account, raw)
                seen.add(uidl)
                self._save_uidls(seen)
                downloaded.append(parse(raw))
            to_delete = [] if keep_on_server else list(maildrop)
            for number in to_delete:
                client.dele(number)
            client.quit()
        except (poplib.error_proto, OSError) as e:
            # RFC 1939 section 6: the server removes messages marked by DELE only
            # in the UPDATE state, after QUIT. A session that ends any other way
            # (an error, a dropped connection) deletes nothing on the server, and
            # the copies saved so far stay on this device, known by their UIDLs.
            client.close()
            raise DownloadFailed(reason(e), downloaded) from e
        # The session ended well: forget UIDLs that are no longer on the server
        # (deleted now, or by another device), so the list does not grow forever.
        self._save_uidls(seen & {uidl for number, uidl in maildrop.items() if number not in to_delete})
        return downloaded, len(to_delete), len(maildrop) - len(to_delete)


class DownloadFailed(Exception):
    """A POP3 session that broke off: ``reason`` in words, and what was saved before."""

    def __init__(self, reason: str, downloaded: list[EmailMessage]) -> None:
        super().__init__(reason)
        self.reason = reason
        self.downloaded = downloaded


def reason(error: Exception) -> str:
    """poplib's errors carry the server's reply as bytes (b"-ERR ..."); socket errors are text."""
    first = error.args[0] if error.args else ""
    return first.decode("utf-8", "replace") if isinstance(first, bytes) else str(error)


def uidl_listing(client: poplib.POP3) -> dict[int, str]:
    """``UIDL`` without an argument (RFC 1939 section 7): message number -> unique id."""
    _, lines, _ = client.uidl()
    listing = {}
    for line in lines:
        number, uidl = line.decode("ascii", "replace").split(None, 1)
        listing[int(number)] = uidl.strip()
    return dict(sorted(listing.items()))
