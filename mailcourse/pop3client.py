"""The POP3 client every lab device uses: the standard library's, labelled.

`poplib.POP3` is what Python programs use to fetch mail from a maildrop
(RFC 1939), and what the lessons use. The lab adds one thing only: the
connection is named after the device that opens it, so the trace says
"jane-laptop -> mail.somewhereelse.com" instead of a port number (see
`mailcourse.tap.Network.claim`). Every command, reply and multi-line
response is poplib's own, byte for byte.
"""
from __future__ import annotations

import poplib
import socket
from typing import Callable


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
