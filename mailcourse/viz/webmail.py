"""The webmail in a notebook: where the student's browser finds it, snapshots of its pages, HTTP masked.

A webmail is one more way to reach a mailbox: a web server reads the
mailbox where it lives, on the mail server, and sends each view of it to a
browser as an HTML page, over HTTP. Every click is one HTTP *request* and
its *response* (RFC 9110 sections 3.4 and 6; the bytes on the wire, RFC 9112).

This module holds what lesson 08 shows of it:

- `webmail_url` and `show_webmail`: the address where *the student's
  browser* reaches the webmail, and the live page in the notebook. A
  kernel on a laptop serves on ``http://127.0.0.1:<port>/``, which the
  browser on that laptop can open. A kernel on JupyterHub or Binder runs on
  another machine: its 127.0.0.1 is not the student's. There,
  jupyter-server-proxy forwards ``<hub prefix>proxy/<port>/`` on the
  notebook's own origin to the kernel's port, and the kernel finds the
  prefix in ``JUPYTERHUB_SERVICE_PREFIX``. Detected, never configured.
- `snapshot`: a `Page` of the kernel's browser (`mailcourse.clients.browser`)
  as a cleaned picture of itself: no scripts, no live links, and every
  secret (session cookie, CSRF token) and date replaced by fixed text, so
  two runs of a lesson show the same page.
- `http_transcript`: an HTTP session of the trace, request by request, as
  `Trace.transcript` shows it but with cookies, CSRF tokens, passwords,
  dates and the port masked, for a notebook's committed output. (The ladder
  needs no help: `mailcourse.viz.ladder` draws HTTP sessions one arrow per
  request and one per response.)

The kernel's browser lives in `mailcourse.clients.browser`, HTTP framing in
`mailcourse.protocols.http`, and the reading comparison (`ReadingRun`,
`reading_table`, `compare_reading`, `round_trips`, `http_cycles`) in
`mailcourse.viz.access`; their names are importable from here too.

``import mailcourse`` does not import this module; it imports IPython and
ipywidgets only inside `show_webmail`.
"""
from __future__ import annotations

import html
import importlib.util
import os
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode

from ..protocols.http import HttpExchange, HttpMessage, message_lines
from ..trace import C2S, S2C, Connection, Trace
from ..clients.browser import (
    CSRF_FIELD,
    WEBMAIL,
    Form,
    Link,
    MessageRow,
    Page,
    WebmailBrowser,
    webmail_endpoint,
)
from ..clients.snapshot import HTTP_DATE, DATE, SECRET, SNAPSHOT_CLASS, scope_css, snapshot
from .access import (
    HttpCount,
    ReadingRun,
    compare_reading,
    http_cycles,
    reading_table,
    round_trips,
)

# Defined here, and re-exported from the modules named in the docstring (lesson 08 imports them from here).
__all__ = [
    "CSRF_FIELD", "DATE", "PROXY_PREFIX_VARIABLE", "SECRET", "SNAPSHOT_CLASS", "WEBMAIL", "Form", "HttpCount",
    "HttpExchange", "HttpMessage", "Link", "MessageRow", "Page", "ReadingRun", "WebmailBrowser", "compare_reading",
    "http_cycles", "http_exchanges", "http_transcript", "masked_lines", "proxy_installed", "reading_table",
    "round_trips", "scope_css", "show_webmail", "snapshot", "webmail_endpoint", "webmail_url",
]

PROXY_PREFIX_VARIABLE = "JUPYTERHUB_SERVICE_PREFIX"  # set by JupyterHub, and so on Binder


# -- where the student's browser finds the webmail -------------------------------------------


def proxy_installed() -> bool:
    """Is jupyter-server-proxy installed here? (``make lab`` puts it next to Jupyter and the kernel.)"""
    return importlib.util.find_spec("jupyter_server_proxy") is not None


def webmail_url(server_or_endpoint: Any, path: str = "") -> str:
    """Where the student's browser reaches the webmail of a server (or of an endpoint), at ``path``.

    Through jupyter-server-proxy whenever it is there: ``<base>proxy/<port>/<path>``,
    on the same origin as the notebook, so it works wherever the notebook
    does. The base is ``JUPYTERHUB_SERVICE_PREFIX`` on JupyterHub and Binder
    (they set it), else ``/``, Jupyter's own default. Same origin matters even
    on a laptop: JupyterLab opened at ``localhost:8888`` and a frame showing
    ``127.0.0.1:<port>`` are two different *sites* to the browser, which then
    keeps the webmail's ``SameSite=Strict`` session cookie out of the frame,
    and the login never sticks (RFC 6265bis section 5.2). Without the proxy
    (a kernel in an environment of its own) the address is the direct one,
    ``http://127.0.0.1:<port>/<path>``: the frame works when JupyterLab itself
    was opened at 127.0.0.1, and the link under it always does. The webmail
    uses relative links only, so it works under either address.
    """
    port = webmail_endpoint(server_or_endpoint).address[1]
    path = path.lstrip("/")
    prefix = os.environ.get(PROXY_PREFIX_VARIABLE)
    if not prefix and proxy_installed():
        prefix = "/"
    if prefix:
        return f"{prefix.rstrip('/')}/proxy/{port}/{path}"
    return f"http://127.0.0.1:{port}/{path}"


def show_webmail(server: Any, path: str = "", height: int = 420) -> None:
    """Show the live webmail of ``server`` in the notebook, with its address as a link to click.

    The page appears in a frame, and the address under it as text: a
    student whose hub has no jupyter-server-proxy can still copy it. Both
    come in one ipywidgets ``HTML`` widget, a live view like the course's
    other widgets: a notebook saved with its outputs keeps only a hint in
    its place (the address of a lab that is gone would help nobody), and
    the lesson's next cell shows the same page as a snapshot.
    """
    import ipywidgets
    from IPython.display import display

    url = html.escape(webmail_url(server, path), quote=True)
    name = html.escape(str(getattr(server, "hostname", "the lab's server")))
    frame = (f'<iframe src="{url}" title="The webmail of {name}" width="100%" height="{int(height)}" '
             'style="border: 1px solid #999; border-radius: 4px;"></iframe>')
    link = (f'<p>The webmail of {name}: <a href="{url}" target="_blank" rel="noopener">{url}</a> '
            "(opens in a new tab)</p>")
    display(ipywidgets.HTML(value=frame + link, layout=ipywidgets.Layout(width="100%")))


# -- HTTP read back from the trace, masked ---------------------------------------------------------


def http_exchanges(trace: Trace, conn: Connection) -> list[HttpExchange]:
    """The requests of one HTTP session, each with its response, in order (`Trace.http_exchanges`)."""
    return trace.http_exchanges(conn)


_SECRET_FIELDS = ("password", CSRF_FIELD)


def _masked_header(name: str, value: str) -> str:
    lower = name.lower()
    if lower == "cookie":
        return "; ".join(f"{part.split('=', 1)[0].strip()}={SECRET}" for part in value.split(";") if part.strip())
    if lower == "set-cookie":
        first, _, attributes = value.partition(";")
        cookie = first.split("=", 1)[0].strip()
        shown = f"{cookie}={SECRET if first.split('=', 1)[1:] != [''] else ''}"
        return shown + (";" + HTTP_DATE.sub(DATE, attributes) if attributes else "")
    if lower == "host":
        return re.sub(r":\d+$", ":(port)", value)  # the lab's port is new on every run
    if lower in ("date", "expires", "last-modified"):
        return DATE
    if lower in ("etag",):
        return SECRET
    return value


def _masked_form(body: bytes) -> str:
    """A form's fields as sent (``a=1&b=2``), with the password and the CSRF token masked."""
    text = body.decode("utf-8", "replace")
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        return text
    return "&".join(f"{k}={SECRET}" if k in _SECRET_FIELDS else urlencode([(k, v)]) for k, v in pairs)


def masked_lines(message: HttpMessage) -> list[str]:
    """A message's transcript lines (`message_lines`), with secrets, dates and the lab's port masked."""
    lines = message_lines(message)
    lines[1:1 + len(message.headers)] = [f"{k}: {_masked_header(k, v)}" for k, v in message.headers]
    if message.body and message.is_form and lines[-1] == message.body.decode("ascii", "replace"):
        lines[-1] = _masked_form(message.body)  # the form's fields, shown as sent
    return lines


def http_transcript(trace: Trace, conn: Connection, exchanges: Sequence[int] | None = None) -> str:
    """One HTTP session as `Trace.transcript` shows it, with every secret and the clock masked.

    ``C:`` lines were sent by the browser, ``S:`` lines by the server: each
    message's start line, its header fields, the empty line, and one line
    for the body (a form's fields, or what the body is and how big). The
    values of cookies, CSRF tokens, passwords and dates are masked: they are
    secrets, or they change from run to run. ``exchanges`` picks some of
    the request/response pairs, by index.
    """
    found = trace.http_exchanges(conn)
    chosen = range(len(found)) if exchanges is None else exchanges
    out = [f"--- session {conn.id}: {conn.label} ---"]
    for index in chosen:
        exchange = found[index]
        for direction, message in ((C2S, exchange.request), (S2C, exchange.response)):
            side = "C" if direction == C2S else "S"
            if message is None:
                out.append(f"{side}: (no response: the connection closed)")
                continue
            out += [f"{side}: {line}".rstrip() for line in masked_lines(message)]
    return "\n".join(out)
