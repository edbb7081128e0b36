"""HTTP/1.1 message framing (RFC 9112), sans-I/O: the bytes of one direction in, messages out.

Theory of operation
-------------------
A connection carries HTTP messages one after the other, in each direction:
requests from the client, responses from the server (RFC 9112 section 9.3,
persistent connections). Each message is (RFC 9112 section 2.1)::

    start-line CRLF            GET /mailbox/INBOX HTTP/1.1   or   HTTP/1.1 200 OK
    *( field-line CRLF )       Host: 127.0.0.1:8080
    CRLF                       (the empty line: the header section ends)
    [ message-body ]           861 bytes of HTML, a form's fields, ...

The empty line says where the header section ends; nothing in the body says
where the body ends. The header fields do, as RFC 9112 section 6.3 orders it:

1. a response to HEAD, and any ``1xx``, ``204`` or ``304`` response, has no
   body, whatever its header fields say;
2. ``Transfer-Encoding: chunked``: the body comes in chunks, each after its
   size in hexadecimal, and a chunk of size 0 ends it (section 7.1);
3. ``Content-Length: n``: the body is the next n bytes;
4. otherwise a request has no body, and a response's body runs until the
   server closes the connection.

A `MessageReader` reads one direction of a connection. Feed it bytes as
they come (`feed`), take each message once it is complete (`next_message`),
and when the connection ends take what is left (`finish`)::

    >>> reader = MessageReader(REQUEST)
    >>> reader.feed(b"GET /login HTTP/1.1\\r\\nHost: x\\r\\n\\r\\nPOST /login HTTP/1.1\\r\\n")
    >>> reader.next_message().start, reader.next_message()
    ('GET /login HTTP/1.1', None)

It reads a *recording*, not live traffic it must answer, so it is tolerant
where a server would refuse: the lab's tap masks the password of a login
form (``password=********``), which makes that body shorter than its
Content-Length. A form body is one line of URL-encoded text, never a
request line, so a request line inside one means the body was shortened:
it ends where that request starts. And when the server has answered, the
request was complete as far as the server was concerned (`end_message`).

`mailcourse.protocols.exchanges` pairs each request with its response (responses come in the
order of the requests, RFC 9112 section 9.3.2). This module does no I/O.
"""
from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field

REQUEST, RESPONSE = "request", "response"
FORM = "application/x-www-form-urlencoded"  # what an HTML form sends (and the tap masks)

# request-line = method SP request-target SP HTTP-version (RFC 9112 section 3), with one of the
# methods of RFC 9110 section 9 (and PATCH, RFC 5789): found even right after a form's last byte.
_REQUEST_LINE = re.compile(rb"(?:GET|HEAD|POST|PUT|DELETE|CONNECT|OPTIONS|TRACE|PATCH) \S+ HTTP/\d\.\d\r?\n")
_END_OF_HEAD = re.compile(rb"\r?\n\r?\n")


@dataclass
class HttpMessage:
    """One HTTP request or response as it crossed the wire (RFC 9112 section 2.1).

    ``start`` is the request line (``GET /login HTTP/1.1``) or the status
    line (``HTTP/1.1 200 OK``); ``headers`` the field lines as (name, value)
    in order; ``body`` the content (chunks joined); ``size`` every byte on
    the wire, head and body. ``complete`` is False for a message the
    connection cut short.
    """

    start: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    size: int = 0
    complete: bool = True
    chunked: bool = False

    def header(self, name: str) -> str | None:
        """The first field called ``name`` (field names are case-insensitive, RFC 9110 section 5.1)."""
        return next((value for key, value in self.headers if key.lower() == name.lower()), None)

    @property
    def is_request(self) -> bool:
        return not self.start.startswith("HTTP/")

    @property
    def method(self) -> str:
        """A request's method (``GET``, ``POST``...), "" for a response."""
        return self.start.split(" ", 1)[0] if self.is_request else ""

    @property
    def target(self) -> str:
        """A request's target (``/mailbox/INBOX``), "" for a response."""
        parts = self.start.split(" ")
        return parts[1] if self.is_request and len(parts) > 1 else ""

    @property
    def status(self) -> int | None:
        """A response's status code (RFC 9110 section 15), None for a request."""
        parts = self.start.split(" ")
        if self.is_request or len(parts) < 2 or not parts[1].isdigit():
            return None
        return int(parts[1])

    @property
    def content_type(self) -> str:
        """The media type of the body, without parameters: ``text/html``."""
        return (self.header("Content-Type") or "").split(";")[0].strip().lower()

    @property
    def content_length(self) -> int | None:
        value = (self.header("Content-Length") or "").strip()
        return int(value) if value.isdigit() else None

    @property
    def is_form(self) -> bool:
        return self.content_type == FORM


def has_no_body(status: int | None, method: str) -> bool:
    """RFC 9112 section 6.3, rule 1: responses that never carry a body, whatever their fields say."""
    return method == "HEAD" or (status is not None and (100 <= status < 200 or status in (204, 304)))


@dataclass
class HttpExchange:
    """A request and the response to it: one round trip (RFC 9110 section 3.4, messages)."""

    request: HttpMessage
    response: HttpMessage | None  # None if the connection ended first

    @property
    def method(self) -> str:
        return self.request.method

    @property
    def target(self) -> str:
        return self.request.target

    @property
    def status(self) -> int | None:
        return self.response.status if self.response is not None else None


class MessageReader:
    """Frames one direction of an HTTP/1.1 connection into messages, as RFC 9112 section 6 says.

    ``kind`` is `REQUEST` (what a client sends) or `RESPONSE`. A response
    reader must know the method of each request (a response to HEAD has no
    body): call `request_sent` for each request, in order.
    """

    def __init__(self, kind: str) -> None:
        if kind not in (REQUEST, RESPONSE):
            raise ValueError(f"kind must be {REQUEST!r} or {RESPONSE!r}, not {kind!r}")
        self.kind = kind
        self._buffer = b""
        self._methods: deque[str] = deque()  # methods of requests not answered yet

    def request_sent(self, method: str) -> None:
        """(Response reader) The client sent a request with this method; its response comes in turn."""
        self._methods.append(method.upper())

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def next_message(self) -> HttpMessage | None:
        """The next complete message, or None if more bytes are needed for it."""
        return self._take(final=False)

    def end_message(self) -> HttpMessage | None:
        """Take the message being read as it is, even if shorter than announced (a masked form, say).

        Called when the other side has answered: the server replied, so as far
        as it was concerned the request was complete. Nothing happens (None)
        while the header section itself is unfinished, or while the client
        waits for ``100 Continue`` before it sends the body (RFC 9110 section 10.1.1).
        """
        head = _END_OF_HEAD.search(self._buffer)
        if head is None:
            return None
        _, headers = _parse_head(self._buffer[:head.start()])
        if any(k.lower() == "expect" and v.lower() == "100-continue" for k, v in headers):
            return None
        message = self._take(final=True)
        if message is not None:
            message.complete = True  # as complete as it will ever be: the server took it so
        return message

    def finish(self) -> HttpMessage | None:
        """The connection ended: what is left, as one message (``complete`` False if it was cut short)."""
        message = self._take(final=True)
        self._buffer = b""
        return message

    def _take(self, final: bool) -> HttpMessage | None:
        framed = self._frame(final)
        if framed is None:
            return None
        message, used = framed
        self._buffer = self._buffer[used:]
        self._answered(message)
        return message

    def _answered(self, message: HttpMessage) -> None:
        status = message.status
        if self.kind == RESPONSE and self._methods and status is not None and status >= 200:
            self._methods.popleft()  # a 1xx response is interim: the final one is still to come

    def _frame(self, final: bool) -> tuple[HttpMessage, int] | None:
        """The message at the start of the buffer and the bytes it takes; ``final``: no more bytes will come."""
        if self.kind == REQUEST:
            # An empty line before a request line is to be ignored (RFC 9112 section 2.2).
            self._buffer = self._buffer.lstrip(b"\r\n")
        data = self._buffer
        if not data:
            return None
        head_end = _END_OF_HEAD.search(data)
        if head_end is None:
            if not final:
                return None
            start, headers = _parse_head(data)
            return HttpMessage(start, headers, b"", len(data), complete=False), len(data)
        start, headers = _parse_head(data[:head_end.start()])
        message = HttpMessage(start, headers)
        i = head_end.end()
        if self.kind == RESPONSE and has_no_body(message.status, self._methods[0] if self._methods else "GET"):
            end, complete = i, True
        elif "chunked" in (message.header("Transfer-Encoding") or "").lower():
            message.chunked = True
            body, end, complete = _dechunk(data, i)
            message.body = body
        elif message.content_length is not None:
            end = i + message.content_length
            complete = end <= len(data)
            if self.kind == REQUEST and message.is_form:
                # A masked form is shorter than announced: the next request starts where it ends.
                again = _REQUEST_LINE.search(data, i)
                if again is not None and again.start() < end:
                    end, complete = again.start(), True
            end = min(end, len(data))
            message.body = data[i:end]
        elif self.kind == REQUEST:
            end, complete = i, True  # a request without a length has no body (section 6.3, rule 7)
        else:
            end, complete = len(data), final  # the body runs until the server closes (rule 8)
            message.body = data[i:end]
        if not complete and not final:
            return None
        message.complete = complete
        message.size = end
        return message, end


def _parse_head(head: bytes) -> tuple[str, list[tuple[str, str]]]:
    """The start line and the field lines of a header section (field values are Latin-1, RFC 9110 5.5)."""
    start, *lines = head.decode("iso-8859-1").replace("\r\n", "\n").split("\n")
    headers = [(name.strip(), value.strip()) for name, _, value in (line.partition(":") for line in lines)]
    return start, headers


def _dechunk(data: bytes, i: int) -> tuple[bytes, int, bool]:
    """The chunked body starting at ``i`` (RFC 9112 section 7.1): (content, end, complete)."""
    chunks = []
    while True:
        line_end = data.find(b"\n", i)
        if line_end < 0:
            return b"".join(chunks), len(data), False
        size = data[i:line_end].split(b";")[0].strip()  # a chunk size may carry extensions
        try:
            length = int(size or b"0", 16)
        except ValueError:
            return b"".join(chunks), len(data), False
        i = line_end + 1
        if length == 0:
            trailer = _END_OF_HEAD.search(data, i - 2)  # optional trailer fields, then the empty line
            if trailer is None:
                return b"".join(chunks), len(data), False
            return b"".join(chunks), trailer.end(), True
        if i + length + 2 > len(data):
            chunks.append(data[i:i + length])
            return b"".join(chunks), len(data), False
        chunks.append(data[i:i + length])
        i += length + 2  # the chunk's data, then CRLF


def read_messages(data: bytes, kind: str, methods: list[str] | None = None) -> list[HttpMessage]:
    """Every message in ``data``, one whole direction of a connection; the last may be cut short."""
    reader = MessageReader(kind)
    for method in methods or ():
        reader.request_sent(method)
    reader.feed(data)
    found = []
    while (message := reader.next_message()) is not None:
        found.append(message)
    rest = reader.finish()
    return found + ([rest] if rest is not None else [])


def body_summary(message: HttpMessage) -> str:
    """One line for a body: a form's fields as sent, anything else as ``[body: 861 bytes, text/html]``.

    A form body is one line of URL-encoded text (``username=jane%40...&password=...``),
    so it is shown as it is; a page is thousands of characters and is summed up.
    """
    if message.is_form and b"\n" not in message.body:
        return message.body.decode("ascii", "replace")
    parts = [f"{len(message.body):,} bytes"]
    announced = message.content_length
    if not message.complete and announced is not None and announced != len(message.body):
        parts[0] += f" of {announced:,}, cut short"
    if message.content_type:
        parts.append(message.content_type)
    if message.chunked:
        parts.append("chunked")
    return f"[body: {', '.join(parts)}]"


def message_lines(message: HttpMessage) -> list[str]:
    """A message as a transcript shows it: start line, field lines, the empty line, one line of body."""
    lines = [message.start] + [f"{name}: {value}" for name, value in message.headers]
    if message.complete or message.body:
        lines.append("")
    if message.body:
        lines.append(body_summary(message))
    return lines
