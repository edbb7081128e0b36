"""The IMAP client every lab device uses: the standard library's, labelled.

`imaplib.IMAP4` is what Python programs use to work on a mailbox that stays
on the server (RFC 3501), and what the lessons use. The lab adds one thing
only: the connection is named after the device that opens it, so the trace
says "jane-phone -> mail.somewhereelse.com" instead of a port number (see
`mailcourse.tap.Network.claim`), and its commands are tagged A001, A002, ...
as in RFC 3501's examples, where imaplib would draw four random letters for
each connection: a transcript then reads the same on every run. Every command
and response is imaplib's own.
"""
from __future__ import annotations

import imaplib
import re
import socket
from typing import Callable

TAG_PREFIX = b"A"

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

    def _new_tag(self) -> bytes:
        # RFC 3501 section 2.2.1: the client picks its tags, any it likes, as long as
        # each command of a session has its own. imaplib picked a random prefix in
        # _connect (and compiled the pattern that finds the tagged replies from it);
        # the first command switches both to the lab's prefix.
        if self.tagpre != TAG_PREFIX:
            self.tagpre = TAG_PREFIX
            self.tagre = re.compile(rb"(?P<tag>" + TAG_PREFIX + rb"\d+) (?P<type>[A-Z]+) (?P<data>.*)", re.ASCII)
        self.tagnum += 1
        tag = TAG_PREFIX + b"%03d" % self.tagnum
        self.tagged_commands[tag] = None
        return tag
