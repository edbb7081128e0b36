"""The IMAP client every lab device uses: the standard library's, labelled.

`imaplib.IMAP4` is what Python programs use to work on a mailbox that stays
on the server (RFC 3501), and what the lessons use. The lab adds one thing
only: the connection is named after the device that opens it, so the trace
says "jane-phone -> mail.somewhereelse.com" instead of a port number (see
`mailcourse.tap.Network.claim`). Every command and response is imaplib's own.
"""
from __future__ import annotations

import imaplib
import socket
from typing import Callable


class IMAP4Client(imaplib.IMAP4):
    """`imaplib.IMAP4` on behalf of one lab device.

    Like `imaplib.IMAP4`, it connects in the constructor and reads the
    server's greeting (``welcome``). ``local_address`` is the client end of
    the TCP connection, which is how the trace tells connections apart.
    """

    def __init__(self, device: str, claim: Callable[[socket.socket, str], None], host: str, port: int,
                 timeout: float | None = 10.0) -> None:
        self.device = device
        self._claim = claim
        self.local_address: tuple[str, int] = ("", 0)
        super().__init__(host, port, timeout)

    def _create_socket(self, timeout: float | None) -> socket.socket:
        sock = super()._create_socket(timeout)
        # Claimed before the greeting is read, so the whole session carries the device's name.
        self._claim(sock, self.device)
        self.local_address = sock.getsockname()[:2]
        return sock
