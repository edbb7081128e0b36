"""The SMTP client every lab device uses: the standard library's, labelled.

`smtplib.SMTP` is what mail programs written in Python use, and what the
lessons use. The lab adds three small things and nothing else:

* the connection is named after the device that opens it, so the trace says
  "joe-laptop -> mail.someplace.org" instead of a port number;
* commands go out in capitals, as RFC 5321 writes them ("MAIL FROM:").
  Verbs are case-insensitive (RFC 5321 section 2.4) and smtplib sends
  "mail FROM:"; capitals make the transcripts read like the textbook;
* the server's reply to DATA (which `sendmail` does not return) is kept in
  ``data_reply``: it holds the queue id, the server's receipt for the message;
* `starttls` can check the certificate against the host name the client
  meant (``server_hostname``), not the address it connected to: a relay
  reaches mail.somewhereelse.com at 127.0.0.1 and must check for the name.
"""
from __future__ import annotations

import smtplib
import socket
import ssl
from typing import Any, Callable

_VERBS = {"HELO", "EHLO", "MAIL", "RCPT", "DATA", "BDAT", "RSET", "VRFY", "EXPN", "HELP", "NOOP",
          "QUIT", "AUTH", "STARTTLS"}


class SMTPClient(smtplib.SMTP):
    """`smtplib.SMTP` on behalf of one lab device; connect with ``connect(host, port)``."""

    def __init__(self, device: str, claim: Callable[[socket.socket, str], None],
                 timeout: float = 10.0) -> None:
        self.device = device
        self._claim = claim
        self.data_reply = ""
        super().__init__(local_hostname=device, timeout=timeout)

    def _get_socket(self, host: str, port: int, timeout: float) -> Any:
        sock = super()._get_socket(host, port, timeout)
        self._claim(sock, self.device)
        return sock

    def putcmd(self, cmd: str, args: str = "") -> None:
        # Only verbs: smtplib also sends AUTH responses (base64, case matters) through here.
        super().putcmd(cmd.upper() if cmd.upper() in _VERBS else cmd, args)

    def starttls(self, *args: Any, context: ssl.SSLContext | None = None,
                 server_hostname: str | None = None, **kwargs: Any) -> tuple[int, bytes]:
        """STARTTLS (RFC 3207), checking the certificate for ``server_hostname`` if given."""
        if server_hostname is not None:
            self._host = server_hostname  # what smtplib hands to wrap_socket as the name to check
        return super().starttls(*args, context=context, **kwargs)

    def data(self, msg: Any) -> tuple[int, bytes]:
        code, text = super().data(msg)
        self.data_reply = f"{code} {text.decode('utf-8', 'replace')}"
        return code, text
