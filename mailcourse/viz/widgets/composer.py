"""`Composer`: write a message, see its envelope beside its headers, send it, read every copy.

    >>> composer = Composer(lab)                     # joe-laptop writes
    >>> composer.fill(to="jane@somewhereelse.com", bcc="bob@somewhereelse.com", subject="Party")
    >>> print(composer.preview())                    # envelope | headers
    >>> copies = composer.send()                     # what each mailbox received

A message travels with two sets of addresses (RFC 5321 section 2.3.1 and
RFC 5322 section 3.6.3). The *envelope*, MAIL FROM and one RCPT TO per
recipient, tells the servers where to deliver; the *headers* From:, To:
and Cc: are part of the message, for people to read. A blind copy (Bcc) is
the case where they differ on purpose: its recipient is in the envelope
and in no header, so nobody, the Bcc recipient included, can see from the
message who else got it (RFC 5322 section 3.6.3 describes that way).

"Send" hands the message to the lab's client host (`ClientHost.compose` and
`send_all`: one authenticated submission session), waits for delivery, and
then opens each recipient's mailbox on its server to show what really
arrived.
"""
from __future__ import annotations

import email.utils
import smtplib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ...clienthost import SendResult
from ...errors import LabError
from .common import WidgetView, classed, pre
from .static import StaticView

if TYPE_CHECKING:
    from email.message import EmailMessage

    from ...lab import Lab

# The header fields a copy is shown with; anything else (Received:, Date:,
# Message-ID:) differs from run to run or is beside the point here.
SHOWN = ("From", "To", "Cc", "Subject")


@dataclass
class Copy:
    """What one recipient's mailbox holds of the message (``message`` None: nothing arrived)."""

    recipient: str
    via: str  # "To", "Cc" or "Bcc": how the sender addressed this recipient
    message: EmailMessage | None = None
    note: str = ""  # why nothing arrived, when nothing did
    headers: dict[str, str] = field(default_factory=dict)  # the SHOWN fields present in the copy

    @property
    def delivered(self) -> bool:
        return self.message is not None

    @property
    def has_bcc_header(self) -> bool:
        return self.message is not None and "Bcc" in self.message

    def __str__(self) -> str:
        if self.message is None:
            return f"{self.recipient} ({self.via}): nothing delivered: {self.note}"
        lines = [f"{self.recipient} ({self.via}) received:"]
        lines += [f"    {name}: {value}" for name, value in self.headers.items()]
        lines.append(f"    Bcc header: {'PRESENT: ' + str(self.message['Bcc']) if self.has_bcc_header else 'none'}")
        return "\n".join(lines)


class Composer(WidgetView):
    """A mail program's "new message" window for the lab device ``client``."""

    def __init__(self, lab: Lab, client: str = "joe-laptop", *, wait: float = 5.0) -> None:
        self.lab = lab
        self.client = lab.client(client)
        self.wait = wait  # seconds to wait for delivery after sending
        self.sent: EmailMessage | None = None
        self.result: SendResult | None = None
        self.copies: list[Copy] = []
        others = [a for a in lab.users if a != self.client.address]
        self._build(others[0] if others else "")

    # -- what the buttons do --------------------------------------------------------------

    def fill(self, *, to: str | None = None, cc: str | None = None, bcc: str | None = None,
             subject: str | None = None, body: str | None = None) -> None:
        """Type into the fields (None leaves a field as it is); addresses are comma-separated."""
        for name, value in (("to", to), ("cc", cc), ("bcc", bcc), ("subject", subject), ("body", body)):
            if value is not None:
                self.fields[name].value = value

    def addresses(self, name: str) -> list[str]:
        """The addresses in field ``name`` ("to", "cc" or "bcc")."""
        return [addr for _, addr in email.utils.getaddresses([self.fields[name].value]) if addr]

    def envelope(self) -> tuple[str, list[str]]:
        """MAIL FROM and the RCPT TO list: every To, Cc and Bcc address (RFC 5321 section 3.3)."""
        return self.client.address, self.addresses("to") + self.addresses("cc") + self.addresses("bcc")

    def headers(self) -> list[tuple[str, str]]:
        """The address and subject header fields this message will carry: no Bcc."""
        out = [("From", self.client.address)]
        for name in ("to", "cc"):
            if self.addresses(name):
                out.append((name.capitalize(), ", ".join(self.addresses(name))))
        out.append(("Subject", self.fields["subject"].value))
        return out

    def preview(self) -> str:
        """The envelope and the headers, as text; also shown side by side in the widget."""
        envelope, headers = self._envelope_text(), self._headers_text()
        self.preview_left.value = _box("Envelope: what the servers read", envelope)
        self.preview_right.value = _box("Headers: what people read", headers)
        return f"Envelope (SMTP, for the servers):\n{envelope}\n\nHeaders (in the message, for people):\n{headers}"

    def send(self) -> list[Copy]:
        """Compose, submit, wait for delivery, and return what each recipient received."""
        if not self.envelope()[1]:
            raise LabError("a message needs at least one recipient (To, Cc or Bcc)")
        self.preview()
        msg = self.client.compose(self.addresses("to"), self.fields["subject"].value, self.fields["body"].value,
                                  cc=self.addresses("cc"), bcc=self.addresses("bcc"))
        results = self.client.send_all()
        self.sent = msg
        self.result = next((r for r in results if r.message_id == msg["Message-ID"]), None)
        self.lab.wait_for(lambda: not self._queued(), timeout=self.wait)
        self.copies = self._copies()
        self.result_view.value = pre(self._result_text())
        return self.copies

    def _clicked(self, action: str) -> None:
        # Exceptions in a widget callback would land in the log: show them on the page.
        try:
            self.preview() if action == "preview" else self.send()
        except (LabError, OSError, smtplib.SMTPException) as error:
            # The message stays in the device's outbox, as in a real mail program.
            self.result_view.value = pre(f"(not sent: {error})", "color:#a00;")

    # -- finding the copies -----------------------------------------------------------------

    def _queued(self) -> list[str]:
        """The servers whose queue still holds the message (retrying, say)."""
        assert self.sent is not None
        needle = str(self.sent["Message-ID"]).encode()
        holding = []
        for server in self.lab.servers.values():
            for item in list(server.queue.items.values()):
                try:
                    if needle in server.queue.raw(item):
                        holding.append(server.hostname)
                        break
                except OSError:  # delivered and removed while we looked
                    continue
        return holding

    def _copies(self) -> list[Copy]:
        assert self.sent is not None
        message_id = str(self.sent["Message-ID"])
        refused = self.result.refused if self.result is not None else {"*": "the submission did not happen"}
        queued = self._queued()
        copies = []
        seen: set[str] = set()
        for name in ("to", "cc", "bcc"):
            for rcpt in self.addresses(name):
                if rcpt.lower() in seen:
                    continue
                seen.add(rcpt.lower())
                copy = Copy(rcpt, name.capitalize())
                server = self.lab.directory.lookup(rcpt.rpartition("@")[2])
                found = [m for m in server.mailbox(rcpt)
                         if str(m["Message-ID"]) == message_id] if server and server.has_user(rcpt) else []
                if found:
                    copy.message = found[0]
                    copy.headers = {h: str(found[0][h]) for h in SHOWN if found[0][h] is not None}
                elif rcpt in refused or "*" in refused:
                    copy.note = f"refused at submission: {refused.get(rcpt) or refused['*']}"
                elif queued:
                    copy.note = f"still in the queue of {', '.join(queued)} (the server keeps retrying)"
                else:
                    copy.note = "not delivered; the sender should find a bounce in their mailbox"
                copies.append(copy)
        return copies

    # -- words ------------------------------------------------------------------------------

    def _envelope_text(self) -> str:
        mail_from, rcpts = self.envelope()
        return "\n".join([f"MAIL FROM:<{mail_from}>", *[f"RCPT TO:<{r}>" for r in rcpts]])

    def _headers_text(self) -> str:
        lines = [f"{name}: {value}" for name, value in self.headers()]
        lines.append("(Date: and Message-ID: are added when the message is sent)")
        if self.addresses("bcc"):
            lines.append("(no Bcc: header: blind copies travel in the envelope only)")
        return "\n".join(lines)

    def _result_text(self) -> str:
        if self.sent is None:
            return "(not sent yet)"
        lines = ["What each mailbox received:"]
        lines += [str(copy) for copy in self.copies]
        delivered = [c for c in self.copies if c.delivered]
        if delivered:
            with_bcc = [c.recipient for c in delivered if c.has_bcc_header]
            lines.append(f"Bcc header in a delivered copy: {', '.join(with_bcc)}" if with_bcc
                         else "No delivered copy has a Bcc header.")
        return "\n".join(lines)

    def static(self) -> StaticView:
        """The envelope, the headers and, once sent, what each mailbox received (plus the hops)."""
        text = self.preview() + "\n\n" + self._result_text()
        figures = []
        if self.sent is not None:
            from ..topology import topology

            figures.append(topology(self.lab, str(self.sent["Message-ID"])))
        return StaticView(text, figures)

    # -- the widget -------------------------------------------------------------------------

    def _build(self, recipient: str) -> None:
        import ipywidgets as w

        def text(name: str, label: str, value: str = "", placeholder: str = "") -> w.Text:
            return classed(w.Text(value=value, description=label, placeholder=placeholder,
                                  layout=w.Layout(width="460px")), f"mc-composer-{name}")

        self.fields: dict[str, Any] = {
            "from": text("from", "From", self.client.address),
            "to": text("to", "To", recipient, "addresses, comma-separated"),
            "cc": text("cc", "Cc", "", "visible copies"),
            "bcc": text("bcc", "Bcc", "", "blind copies: envelope only"),
            "subject": text("subject", "Subject", "Lunch tomorrow"),
            "body": classed(w.Textarea(value="Noon at the usual place?\n", description="Body", rows=4,
                                       layout=w.Layout(width="460px")), "mc-composer-body"),
        }
        self.fields["from"].disabled = True  # the device's own account
        preview = classed(w.Button(description="Preview", layout=w.Layout(width="110px")), "mc-composer-preview")
        send = classed(w.Button(description="Send", button_style="primary", layout=w.Layout(width="110px")),
                       "mc-composer-send")
        preview.on_click(lambda _: self._clicked("preview"))
        send.on_click(lambda _: self._clicked("send"))
        self.buttons = {"preview": preview, "send": send}
        box = w.Layout(width="50%", border="1px solid #ddd", padding="4px", margin="2px")
        self.preview_left = classed(w.HTML(layout=box), "mc-composer-envelope")
        self.preview_right = classed(w.HTML(layout=box), "mc-composer-headers")
        self.result_view = classed(w.HTML(), "mc-composer-result")
        self.widget = classed(w.VBox([
            w.HTML(f"<b>New message</b> on {self.client.name}"),
            *self.fields.values(),
            w.HBox([preview, send]),
            w.HBox([self.preview_left, self.preview_right]),
            self.result_view,
        ]), "mc-composer")


def _box(title: str, text: str) -> str:
    return f"<b>{title}</b>" + pre(text)
