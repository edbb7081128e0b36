"""The HTTP headers that tell the browser what the webmail's pages may do.

Every response gets (see `secure_headers`):

* ``Content-Security-Policy`` (CSP Level 3, W3C): the pages of the webmail
  load only from the webmail itself (``default-src 'self'``): one style
  sheet, no script at all, no fonts or images from elsewhere. ``form-action
  'self'``: forms submit only here. ``frame-src 'self'``: the only frame is
  our own sandboxed view of an HTML mail. ``base-uri 'none'`` and
  ``object-src 'none'`` close two old tricks.
* ``frame-ancestors``: who may show the webmail inside a frame (the defence
  against "clickjacking"). The webmail must be embeddable in JupyterLab:
  through jupyter-server-proxy it is on the same origin as the notebook
  (``'self'``); opened directly, the notebook is on another port of the
  same machine, another origin, so ``http://127.0.0.1:*`` and
  ``http://localhost:*`` are allowed too. Nobody else may frame it.
* ``Referrer-Policy: no-referrer``: a link clicked in a mail does not tell
  the linked site which webmail page (which folder, which message) it was
  clicked from.
* ``X-Content-Type-Options: nosniff``: the browser takes the Content-Type
  as given and never guesses "this text/plain looks like HTML, run it".
* ``Cache-Control: no-store`` on everything but the style sheet: mail is
  private, a shared computer's browser cache should not keep it (RFC 9111
  section 5.2.2.5).

The cleaned HTML of a mail gets a stricter policy still (`MAIL_CSP`): no
source at all except images embedded as ``data:`` URLs and inline styles,
and ``sandbox`` (a unique origin, no scripts, no forms, no popups).
"""
from __future__ import annotations

from aiohttp import web

# Who may put the webmail in a frame: itself (jupyter-server-proxy), and a JupyterLab
# on another port of this machine (the webmail opened directly from a notebook).
FRAME_ANCESTORS = "frame-ancestors 'self' http://127.0.0.1:* http://localhost:*"

PAGE_CSP = ("default-src 'self'; img-src 'self' data:; frame-src 'self'; form-action 'self'; "
            f"base-uri 'none'; object-src 'none'; {FRAME_ANCESTORS}")

MAIL_CSP = f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; sandbox; {FRAME_ANCESTORS}"

DOWNLOAD_CSP = "default-src 'none'; sandbox"  # an attachment opened in a tab anyway runs nothing

SERVER_NAME = "mailcourse-webmail"  # not "Python/3.x aiohttp/3.y": the same on every machine


def secure_headers(response: web.StreamResponse) -> None:
    """Add the headers of the module docstring, keeping any a handler chose itself."""
    headers = response.headers
    headers.setdefault("Content-Security-Policy", PAGE_CSP)
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Cache-Control", "no-store")
    headers["Server"] = SERVER_NAME
