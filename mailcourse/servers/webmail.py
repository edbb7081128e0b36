"""The webmail endpoint of a mail server: HTTP on the lab's loop, behind the tap.

The application is `mailcourse.webmail` (aiohttp, jinja2). Here it is put
on the network like POP3 and IMAP: aiohttp's `web.AppRunner` is set up, and
its low-level server, which makes one asyncio protocol per connection
(``runner.server()``), becomes the endpoint's factory. So the tap sits
between the socket and aiohttp's HTTP parser and records every request and
response, as in a capture. (Nothing is sent with sendfile, which would go
around the tap.)

The endpoint listens from the start, but the application is built at its
first connection: aiohttp, jinja2 and nh3 take some 10 MB in a kernel, and
only one lesson of ten opens the webmail. The tap holds that connection
unread until `WebmailEndpoint.prepare` is done (`Endpoint.prepare`); the
browser sees a first page that is a fraction of a second slower.

HTTPS (RFC 9110 section 4.2.2, RFC 8446): a second endpoint, TLS from the
first byte with the server's certificate (`mailcourse.tls`), serves the same
application (`https_endpoint`); its tap records ciphertext, as a capture of
port 443 would show. The notebook's embed, through jupyter-server-proxy on
loopback, stays plain HTTP.

The trace hides the password of the login form (the ``password=`` field of
the form body, HTML's application/x-www-form-urlencoded), as it hides the
passwords of SMTP AUTH, POP3 PASS and IMAP LOGIN.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from . import WEBMAIL, WEBMAILS
from .host import Host
from ..limits import Limits
from ..tap import Endpoint
from ..trace import CredentialMask, FormPasswordMask

if TYPE_CHECKING:
    from aiohttp import web

    from ..webmail import Webmail


BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Length: 0\r\n"
        b"Connection: close\r\n\r\n")


class WebmailEndpoint(Endpoint):
    """An `Endpoint` whose factory is aiohttp's server, made at the endpoint's first connection.

    ``webmail`` gives the server's `Webmail` (made when first asked for).
    """

    def __init__(self, host: Host, webmail: Callable[[], Webmail], limits: Limits) -> None:
        super().__init__(host.network, host.hostname, WEBMAIL, "HTTP", self._not_built,
                         max_connections=limits.max_connections, busy_reply=BUSY)
        self._webmail = webmail
        self._idle_timeout = limits.idle_timeout
        self._runner: web.AppRunner | None = None
        self._building: asyncio.Task[None] | None = None

    @property
    def webmail(self) -> Webmail:
        return self._webmail()

    @staticmethod
    def _not_built() -> asyncio.Protocol:
        raise RuntimeError("the webmail application is not built yet (the tap awaits prepare first)")

    def new_mask(self) -> CredentialMask:
        return FormPasswordMask()

    @property
    def ready(self) -> bool:
        return self._runner is not None

    async def prepare(self) -> None:
        """Build the application once; connections that come meanwhile all wait for this one build."""
        if self._building is None:
            self._building = asyncio.get_running_loop().create_task(self._build())
        building = self._building
        try:
            await asyncio.shield(building)  # a connection that goes away does not cancel the build
        except BaseException:
            if self._building is building and building.done():
                self._building = None  # the next connection tries again
            raise

    async def _build(self) -> None:
        from aiohttp import web

        from ..webmail.views import build_app

        # keepalive_timeout: an idle connection is closed after the server's idle timeout.
        runner = web.AppRunner(build_app(self.webmail), access_log=None, keepalive_timeout=self._idle_timeout)
        await runner.setup()
        self._runner = runner
        self.factory = runner.server  # type: ignore[assignment]


class HttpsEndpoint(WebmailEndpoint):
    """The webmail over TLS (RFC 9110 section 4.2.2): the ``plain`` endpoint's application, behind a handshake.

    It builds nothing of its own: its factory is the plain endpoint's aiohttp
    server, once that one is built, so both ports serve one application
    (one set of sessions: a login on one is not a login on the other only
    because the browser keeps cookies per origin, RFC 6265 section 8.5).
    """

    def __init__(self, host: Host, plain: WebmailEndpoint, limits: Limits) -> None:
        super().__init__(host, plain._webmail, limits)
        self.service = WEBMAILS
        self.tls = host.tls  # the server's context, made when the first client connects (`Endpoint.prepare`)
        self.plain = plain

    @property
    def ready(self) -> bool:
        return self.plain.ready and self.tls_context is not None

    async def prepare(self) -> None:
        await self.plain.prepare()
        self.factory = self.plain.factory
        if self.tls_context is None:
            await Endpoint.prepare(self)


def https_endpoint(host: Host, plain: WebmailEndpoint, limits: Limits) -> HttpsEndpoint:
    """The webmail of ``plain`` served over TLS on ``host`` too (the host must have TLS)."""
    if host.tls is None:
        raise ValueError(f"{host.hostname} has no TLS certificate to serve HTTPS with")
    return HttpsEndpoint(host, plain, limits)


def webmail_endpoint(host: Host, webmail: Webmail | Callable[[], Webmail],
                     limits: Limits | None = None) -> WebmailEndpoint:
    """``webmail`` served on ``host``, behind a tap like every endpoint of the lab.

    ``webmail`` is a `Webmail`, or a function that makes one when it is
    first needed (a mail server's ``lambda: server.webmail``; then ``limits``
    are the server's).
    """
    if callable(webmail):
        if limits is None:
            raise TypeError("webmail_endpoint: give the server's limits with a function that makes the webmail")
        return WebmailEndpoint(host, webmail, limits)
    made = webmail
    endpoint = WebmailEndpoint(host, lambda: made, made.limits)
    made.endpoint = endpoint
    return endpoint
