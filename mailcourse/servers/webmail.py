"""The webmail endpoint of a mail server: HTTP on the lab's loop, behind the tap.

The application is `mailcourse.webmail` (aiohttp, jinja2). Here it is put
on the network like POP3 and IMAP: aiohttp's `web.AppRunner` is set up, and
its low-level server, which makes one asyncio protocol per connection
(``runner.server()``), becomes the endpoint's factory. So the tap sits
between the socket and aiohttp's HTTP parser and records every request and
response, as in a capture. (Nothing is sent with sendfile, which would go
around the tap.)

The trace hides the password of the login form (the ``password=`` field of
the form body, HTML's application/x-www-form-urlencoded), as it hides the
passwords of SMTP AUTH, POP3 PASS and IMAP LOGIN.
"""
from __future__ import annotations

import re

from aiohttp import web

from . import WEBMAIL
from .host import Host
from ..tap import Endpoint
from ..trace import MASK, CredentialMask
from ..webmail import Webmail
from ..webmail.views import build_app


BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Length: 0\r\n"
        b"Connection: close\r\n\r\n")


class FormPasswordMask(CredentialMask):
    """Hides the value of a ``password`` form field in what the client sends."""

    _FIELD = re.compile(rb"(?<![^&\r\n])password=[^&\r\n]*")

    def client(self, data: bytes) -> bytes:
        return self._FIELD.sub(b"password=" + MASK, data)


class WebmailEndpoint(Endpoint):
    """An `Endpoint` whose factory is aiohttp's server, made when the endpoint first starts."""

    def __init__(self, host: Host, webmail: Webmail) -> None:
        super().__init__(host.network, host.hostname, WEBMAIL, "HTTP", self._not_started,
                         max_connections=webmail.limits.max_connections, busy_reply=BUSY)
        self.webmail = webmail
        self._idle_timeout = webmail.limits.idle_timeout
        self._runner: web.AppRunner | None = None

    @staticmethod
    def _not_started() -> web.RequestHandler:
        raise RuntimeError("the webmail endpoint has not been started")

    def new_mask(self) -> CredentialMask:
        return FormPasswordMask()

    async def start(self) -> None:
        if self._runner is None:  # on the lab's loop, the first time only
            # keepalive_timeout: an idle connection is closed after the server's idle timeout.
            self._runner = web.AppRunner(build_app(self.webmail), access_log=None,
                                         keepalive_timeout=self._idle_timeout)
            await self._runner.setup()
            self.factory = self._runner.server  # type: ignore[assignment]
        await super().start()


def webmail_endpoint(host: Host, webmail: Webmail) -> WebmailEndpoint:
    """``webmail`` served on ``host``, behind a tap like every endpoint of the lab."""
    endpoint = WebmailEndpoint(host, webmail)
    webmail.endpoint = endpoint
    return endpoint
