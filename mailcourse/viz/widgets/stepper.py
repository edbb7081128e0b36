"""`SMTPStepper`: speak SMTP one click at a time, on a real connection.

    >>> stepper = SMTPStepper(lab)            # joe-laptop -> joe's provider, submission
    >>> stepper                                # in a notebook: the buttons
    >>> stepper.send("connect")
    '220 mail.someplace.org ESMTP mailcourse'
    >>> _ = stepper.send("EHLO"), stepper.send("AUTH")
    >>> stepper.send("RCPT TO")                # before MAIL FROM, on purpose
    '503 5.5.1 Error: need MAIL command'

Each button sends exactly one thing on one TCP connection to a real lab
server and shows the server's real reply: EHLO, AUTH (PLAIN, RFC 4954 and
RFC 4616), MAIL FROM, RCPT TO, DATA, the message text, the "." that ends it
(RFC 5321 section 4.1.1.4), RSET and QUIT. Nothing checks your order: click
RCPT TO before MAIL FROM and the server answers 503, because that is what a
server does (section 4.1.4). The buttons only *hint*: the one a textbook
client would send next is blue, from the tables in `mailcourse.protocols.smtp_states`.

Two things cannot be sent at any moment. Between DATA's 354 and the final
"." every line is message text, so a command button would not send a
command (the server would keep the line as part of the message and answer
nothing); those buttons wait. And the message text means something only
after 354.

The transcript and the ladder diagram are drawn from the lab's trace, that
is from what crossed the wire, so the AUTH line shows as ``AUTH PLAIN
********``: the password never reaches any view.
"""
from __future__ import annotations

import base64
import smtplib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...clients.smtp import SMTPClient
from ...errors import LabError
from ...protocols.smtp_states import COMMANDS, IN_ORDER, SENDABLE, State, likely_next, next_state, outcome
from ...trace import C2S, Connection
from .common import WidgetView, classed, image, pre, show
from .static import StaticView

if TYPE_CHECKING:

    from ...lab import Lab

# Button label and CSS class (mc-stepper-<slug>) of each command.
LABELS = {"connect": "Connect", "EHLO": "EHLO", "AUTH": "AUTH PLAIN", "MAIL FROM": "MAIL FROM:",
          "RCPT TO": "RCPT TO:", "DATA": "DATA", "message": "message", ".": ".", "RSET": "RSET",
          "QUIT": "QUIT"}
SLUGS = {"connect": "connect", "EHLO": "ehlo", "AUTH": "auth", "MAIL FROM": "mail", "RCPT TO": "rcpt",
         "DATA": "data", "message": "message", ".": "dot", "RSET": "rset", "QUIT": "quit"}
# How a command is written on the wire: verb, then the argument field's text.
WIRE = {"EHLO": "EHLO ", "MAIL FROM": "MAIL FROM:", "RCPT TO": "RCPT TO:", "DATA": "DATA",
        "RSET": "RSET", "QUIT": "QUIT", ".": "."}
ALIASES = {"MAIL": "MAIL FROM", "RCPT": "RCPT TO", "DOT": ".", "RECONNECT": "connect", "TEXT": "message"}


@dataclass
class Exchange:
    """One click: what went on the wire (as the trace recorded it) and what came back."""

    command: str
    sent: list[str]  # client lines, credentials masked
    reply: str  # the server's reply lines, "\n"-joined; "" when none is expected
    state: State  # the state after the reply
    note: str = ""  # a word from the stepper, e.g. "the server closed the connection"


class _Client(SMTPClient):
    """The lab's SMTP client, counting the bytes it sends (to wait until the tap has seen them)."""

    sent = 0

    def send(self, s: Any) -> None:
        data = s.encode("utf-8") if isinstance(s, str) else s
        super().send(data)
        self.sent += len(data)


class SMTPStepper(WidgetView):
    """An SMTP session driven by buttons; ``send(command, argument)`` is the same as a click.

    ``device`` is the lab device that connects (its name labels the
    connection in the trace); ``endpoint`` is where it connects: any object
    with ``.address``, or a (host, port) pair, by default the submission
    endpoint of the device's provider. AUTH logs in with the account named
    in its field, using the lab's password for that account; the password
    is never shown.
    """

    def __init__(self, lab: Lab, device: str = "joe-laptop", endpoint: Any = None, *,
                 timeout: float = 10.0) -> None:
        host = lab.clients.get(device)
        if endpoint is None:
            if host is None:
                raise LabError(f"{device!r} is not a client host of the lab: say which endpoint it connects to")
            endpoint = host.server.submission
        self.lab = lab
        self.device = device
        self.endpoint = endpoint
        self.timeout = timeout
        self.state = State.CLOSED
        self.authenticated = False
        self.offers_auth = False  # the last reply to EHLO listed AUTH
        self.connections: list[Connection] = []
        self.history: list[Exchange] = []
        self._client: _Client | None = None
        self._shown = False  # displayed at least once
        sender = host.address if host is not None else f"postmaster@{device}"
        others = [a for a in lab.users if a != sender]
        recipient = others[0] if others else sender
        self._defaults = {
            "EHLO": device,
            "AUTH": host.address if host is not None else "",
            "MAIL FROM": f"<{sender}>",
            "RCPT TO": f"<{recipient}>",
            "message": (f"From: {sender}\nTo: {recipient}\nSubject: Lunch tomorrow\n\n"
                        "Noon at the usual place?\n"),
        }
        self._build()
        self._refresh(None)

    # -- what a click does ---------------------------------------------------------

    def send(self, command: str, argument: str | None = None) -> str:
        """Send ``command`` as its button would, and return the server's reply text.

        ``command`` is a button's name: "connect", "EHLO", "AUTH", "MAIL FROM"
        (or "MAIL"), "RCPT TO" (or "RCPT"), "DATA", "message", ".", "RSET",
        "QUIT". ``argument`` replaces the text of the command's field first
        (for "message", the message text). Returns the reply's lines joined by
        newlines, or "" when none comes (after the message text, the server
        waits for "."). Raises `LabError` when the command cannot be sent now
        (see `smtp_states.SENDABLE`) or the server cannot be reached.
        """
        name = self._name(command)
        if argument is not None:
            field = self.fields.get(name)
            if field is None and name not in WIRE:
                raise LabError(f"{name} takes no argument")
            if field is not None:
                field.value = argument
        if name not in SENDABLE[self.state]:
            raise LabError(self._why_not(name))
        if name == "connect":
            exchange = self._connect()
        else:
            exchange = self._exchange(name, argument if name not in self.fields else None)
        self.history.append(exchange)
        self._refresh(exchange)
        return exchange.reply

    def _name(self, command: str) -> str:
        key = " ".join(command.split()).upper()
        key = ALIASES.get(key, key)
        for name in COMMANDS:
            if name.upper() == key.upper():
                return name
        raise LabError(f"unknown command {command!r}; the stepper knows {', '.join(COMMANDS)}")

    def _why_not(self, name: str) -> str:
        if self.state == State.CLOSED:
            return "not connected: connect first"
        if self.state in (State.DATA, State.MESSAGE):
            return (f"{name} cannot be sent now: after 354 every line is message text, until a line "
                    f"holding only \".\" ends it")
        return "the message text can be sent only after DATA got 354"

    def _connect(self) -> Exchange:
        if self._client is not None:
            self._client.close()  # "Reconnect": drop the old connection, as a crashed client would
        self._client = None
        client = _Client(self.device, self.lab.network.claim, self.timeout)
        try:
            code, _ = client.connect(*self._address())
        except OSError as error:
            raise LabError(f"could not connect to {self._server_name()}: {error.strerror or error}") from None
        self._client = client
        self.authenticated = self.offers_auth = False
        here = client.sock.getsockname()[:2]
        conn = next((c for c in reversed(self.lab.trace.sessions()) if tuple(c.client_addr) == tuple(here)),
                    None)
        if conn is None:  # pragma: no cover - every lab endpoint is behind a tap
            raise LabError("the connection does not appear in the lab's trace")
        self.connections.append(conn)
        return self._settle("connect", 0, code, closed=False)

    def _address(self) -> tuple[str, int]:
        """Where to connect; "connection refused" at once if the endpoint is switched off.

        (Not its old port: while it is off, another program may have been given that port.)
        """
        if hasattr(self.endpoint, "reachable_address"):
            return self.endpoint.reachable_address()
        return getattr(self.endpoint, "address", self.endpoint)

    def _exchange(self, name: str, extra: str | None) -> Exchange:
        client = self._client
        assert client is not None and self.connections
        before = len(self.lab.trace.lines(self.connections[-1]))
        if name == "message":
            data = smtplib.quotedata(self.fields["message"].value)  # CRLF line ends, leading dots doubled
            if not data.endswith("\r\n"):
                data += "\r\n"  # the "." must start a line of its own
            line = None
        elif name == "AUTH":
            line = "AUTH PLAIN " + self._plain(self.fields["AUTH"].value.strip())
        elif name in self.fields:
            line = WIRE[name] + self.fields[name].value
        else:
            line = WIRE[name] + (f" {extra}" if extra else "")
        if line is not None:
            if "\r" in line or "\n" in line:
                raise LabError("one command is one line: remove the line break")
            data = line + "\r\n"
        code: int | None = None
        closed = False
        try:
            client.send(data)
            if name != "message":
                code, _ = client.getreply()
        except smtplib.SMTPServerDisconnected:
            closed = True
        return self._settle(name, before, code, closed)

    def _settle(self, name: str, before: int, code: int | None, closed: bool) -> Exchange:
        client = self._client
        conn = self.connections[-1]
        if client is not None:
            # Every reply is recorded before the client can read it; the client's
            # own bytes may still be on their way through the tap: wait for them
            # (not long if the connection broke: they may never arrive).
            sent = client.sent
            self.lab.wait_for(lambda: sum(e.size for e in self.lab.trace.filter(conn, kind="data")
                                          if e.direction == C2S) >= sent, timeout=0.3 if closed else 2.0)
        lines = self.lab.trace.lines(conn)[before:]
        result = outcome(code, closed)
        note = ""
        if name == "AUTH" and code is not None and 200 <= code < 300:
            self.authenticated = True
        if name == "EHLO" and code == 250:
            self.offers_auth = any(line[4:].upper().startswith("AUTH") for d, line in lines if d != C2S)
        self.state = next_state(self.state, name, result)
        if result == "closed":
            if client is not None:
                client.close()
            self._client = None
            self.authenticated = self.offers_auth = False  # a login lasts as long as its connection
            note = "the connection is closed" if code in (221, 421) else "the server closed the connection"
        elif name == "message":
            note = "no reply: the server waits for more text, or a line holding only \".\""
        return Exchange(name, [line for d, line in lines if d == C2S],
                        "\n".join(line for d, line in lines if d != C2S), self.state, note)

    def _plain(self, login: str) -> str:
        """The SASL PLAIN initial response (RFC 4616): base64 of NUL login NUL password."""
        host = self.lab.clients.get(self.device)
        password = self.lab.users.get(login.lower(), "")
        if not password and host is not None and login.lower() == host.address:
            password = host.password
        return base64.b64encode(b"\0" + login.encode() + b"\0" + password.encode()).decode()

    # -- reading it back ----------------------------------------------------------

    def transcript(self) -> str:
        """Every connection of this stepper, as the classic C:/S: transcript."""
        blocks = []
        for number, conn in enumerate(self.connections, start=1):
            lines = [("C: " if d == C2S else "S: ") + line for d, line in self.lab.trace.lines(conn)]
            blocks.append("\n".join([f"--- connection {number}: {conn.label} ---", *lines]))
        return "\n\n".join(blocks)

    def ladder(self) -> Any:
        """The ladder diagram of this stepper's connections (a `Diagram`)."""
        from ..ladder import ladder

        return ladder(self.lab.trace, self.connections)

    def static(self) -> StaticView:
        """The transcript so far as text, and the ladder diagram (SVG)."""
        title = f"SMTP stepper: {self.device} -> {self._server_name()}"
        if not self.connections:
            return StaticView(f"{title}\n(not connected yet)")
        return StaticView(f"{title}\n\n{self.transcript()}", [self.ladder()])

    def _server_name(self) -> str:
        device = getattr(self.endpoint, "device", None)
        service = getattr(self.endpoint, "service", None)
        if device is None:
            return "the server"
        return f"{device} ({service})" if service else device

    def close(self) -> None:
        """Drop the connection (if any) and close the widget."""
        if self._client is not None:
            self._client.close()
            self._client = None
        super().close()

    # -- the widget -------------------------------------------------------------------

    def _build(self) -> None:
        import ipywidgets as w

        def button(name: str) -> w.Button:
            b = w.Button(description=LABELS[name], layout=w.Layout(width="110px"))
            b.on_click(lambda _: self._clicked(name))
            return classed(b, f"mc-stepper-{SLUGS[name]}")

        self.buttons: dict[str, w.Button] = {name: button(name) for name in COMMANDS}
        self.fields: dict[str, Any] = {}
        for name in ("EHLO", "AUTH", "MAIL FROM", "RCPT TO"):
            self.fields[name] = classed(w.Text(value=self._defaults[name], layout=w.Layout(width="320px")),
                                        f"mc-stepper-arg-{SLUGS[name]}")
        self.fields["message"] = classed(
            w.Textarea(value=self._defaults["message"], rows=6, layout=w.Layout(width="440px")),
            "mc-stepper-arg-message")
        self.status = classed(w.HTML(), "mc-stepper-state")
        self.reply = classed(w.HTML(), "mc-stepper-reply")
        self.transcript_view = classed(w.HTML(layout=w.Layout(max_height="260px", overflow="auto",
                                                              border="1px solid #ddd", padding="4px")),
                                       "mc-stepper-transcript")
        self.ladder_view = image(css_class="mc-stepper-ladder")
        auth_note = w.HTML('<span style="color:#666">password: the lab\'s, for this login; never shown</span>')
        b, f = self.buttons, self.fields
        self.widget = classed(w.VBox([
            w.HTML(f"<b>SMTP stepper</b>: {self.device} &rarr; {self._server_name()}"),
            w.HBox([b["connect"], self.status]),
            w.HBox([b["EHLO"], f["EHLO"]]),
            w.HBox([b["AUTH"], f["AUTH"], auth_note]),
            w.HBox([b["MAIL FROM"], f["MAIL FROM"]]),
            w.HBox([b["RCPT TO"], f["RCPT TO"]]),
            w.HBox([b["DATA"], b["message"], b["."], b["RSET"], b["QUIT"]]),
            w.HBox([w.HTML("message text:", layout=w.Layout(width="110px")), f["message"]]),
            w.HTML("<b>Last exchange</b>"), self.reply,
            w.HTML("<b>Transcript</b>"), self.transcript_view,
            self.ladder_view,
        ]), "mc-stepper")

    def _clicked(self, name: str) -> None:
        # A widget callback's exception would land in the log, not on the page: show it.
        try:
            self.send(name)
        except (LabError, OSError, smtplib.SMTPException, UnicodeError) as error:
            self.reply.value = pre(f"(not sent: {error})", "color:#a00;")

    def _refresh(self, exchange: Exchange | None) -> None:
        # The slowest view first and the "last exchange" last: whoever watches the
        # reply appear (a student, a browser test) then sees every other view updated.
        self._draw()
        self.transcript_view.value = pre(self.transcript() or "(not connected yet)")
        likely = likely_next(self.state, self.offers_auth and not self.authenticated)
        for name, b in self.buttons.items():
            b.disabled = name not in SENDABLE[self.state]
            b.button_style = "primary" if name == likely else ""
            if b.disabled:
                b.tooltip = self._why_not(name)
            elif name == likely:
                b.tooltip = "what a client usually sends next"
            elif name in IN_ORDER[self.state]:
                b.tooltip = "in order now"
            else:
                b.tooltip = "out of order now: expect a refusal (usually 503, bad sequence of commands)"
        self.buttons["connect"].description = "Connect" if self.state == State.CLOSED else "Reconnect"
        login = f" Logged in as {self.fields['AUTH'].value.strip()}." if self.authenticated else ""
        self.status.value = (f"<span>State: <b>{self.state.name}</b> ({self.state.value}).{login} "
                             f"Likely next: <b>{LABELS[likely]}</b></span>")
        if exchange is not None:
            shown = [f"C: {line}" for line in exchange.sent] + [f"S: {line}" for line in exchange.reply.split("\n")
                                                             if exchange.reply]
            if exchange.note:
                shown.append(f"({exchange.note})")
            self.reply.value = pre("\n".join(shown))

    def _displayed(self) -> None:
        self._shown = True
        self._draw()

    def _draw(self) -> None:
        # A ladder takes a tenth of a second to draw: only once the widget is on a page.
        if self._shown and self.connections:
            show(self.ladder_view, self.ladder())
