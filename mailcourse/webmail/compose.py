"""Writing mail: the reply and forward forms, and sending by SMTP submission.

A webmail is a mail *client* that happens to run on a server. It does not
drop a new message into the queue behind the SMTP server's back: like any
mail program it connects to the provider's submission port (RFC 6409),
authenticates as the user (RFC 4954, with the password she gave at login)
and hands the message over with MAIL, RCPT and DATA. So the trace shows the
hop, the submission server applies its rules (who may send, to whom, how
big), and a refused recipient is refused with the server's own words.

The webmail does not know the mail server: it is given a function that
returns an SMTP client connected to the submission port (`Webmail.smtp`).
smtplib blocks, and the lab's loop must never block (it serves every
session of every server), so `submit` runs in a worker thread (the lab's
relay pool); the HTTP request waits for it without holding up anybody else.

Replies and forwards (RFC 5322 section 3.6.4): a reply gets ``Re:`` in
front of the subject (once), ``In-Reply-To:`` the original's Message-ID and
``References:`` the original's references plus that Message-ID, which is
how mail programs thread a conversation. The quoted text is the original's
plain text with "> " before each line. A forward gets ``Fwd:``, the
original's main headers and text, and its attachments again. After sending,
the original gets ``\\Answered`` (a reply) or ``$Forwarded`` (RFC 5788) in
the store, as other mail programs set them over IMAP.
"""
from __future__ import annotations

import email.policy
import email.utils
import re
import smtplib
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage

from .attachments import content_bytes, is_attachment, leaves
from .mailbox import ReadMessage, plain_text

ANSWERED = "\\Answered"
FORWARDED = "$Forwarded"
USER_AGENT = "mailcourse webmail"


@dataclass
class Draft:
    """What the compose form shows."""

    to: str = ""
    cc: str = ""
    subject: str = ""
    body: str = ""
    reply: str = ""  # "<folder>/<uid>" of the message answered, or ""
    forward: str = ""  # "<folder>/<uid>" of the message forwarded, or ""


def _prefixed(prefix: str, subject: str) -> str:
    # "Re: Re: Re:" helps nobody: add the prefix only once.
    return subject if subject.lower().startswith(prefix.lower()) else f"{prefix} {subject}".strip()


def reply_draft(original: ReadMessage, ref: str) -> Draft:
    """A reply to the sender (Reply-To: if given, RFC 5322 section 3.6.2), the original quoted."""
    when = original.date.strftime("%a, %d %b %Y %H:%M") if original.date else "an unknown date"
    quoted = "\n".join(f"> {line}" if line else ">" for line in plain_text(original.message).splitlines())
    body = f"\n\nOn {when}, {original.sender} wrote:\n{quoted}\n"
    return Draft(to=original.reply_to or original.sender, subject=_prefixed("Re:", original.subject),
                 body=body, reply=ref)


def forward_draft(original: ReadMessage, ref: str) -> Draft:
    """The original's main headers and text below a separator, to be sent to someone new."""
    lines = ["", "", "---------- Forwarded message ----------", f"From: {original.sender}"]
    if original.date:
        lines.append(f"Date: {original.date.strftime('%a, %d %b %Y %H:%M:%S %z')}")
    lines += [f"Subject: {original.subject}", f"To: {original.recipients}"]
    if original.cc:
        lines.append(f"Cc: {original.cc}")
    lines += ["", plain_text(original.message)]
    return Draft(subject=_prefixed("Fwd:", original.subject), body="\n".join(lines), forward=ref)


def one_line(value: str) -> str:
    """A header value typed in a form: no CR or LF (they would start a header of their own)."""
    return " ".join(re.split(r"[\r\n]+", value)).strip()


def recipients(*fields: str) -> list[str]:
    """The addresses in To: and Cc: as typed ("Jane <jane@x>, joe@y")."""
    return [address for _, address in email.utils.getaddresses([one_line(f) for f in fields]) if address]


def build_message(sender: str, draft: Draft, message_id: str, original: ReadMessage | None = None) -> bytes:
    """The message to submit, in wire form (CRLF line ends, RFC 5322 section 2.1)."""
    msg = EmailMessage()
    msg["From"] = sender
    for name, value in (("To", draft.to), ("Cc", draft.cc)):
        pairs = email.utils.getaddresses([one_line(value)])
        if any(address for _, address in pairs):
            msg[name] = ", ".join(email.utils.formataddr(p) for p in pairs if p[1])
    msg["Subject"] = one_line(draft.subject)
    msg["Date"] = email.utils.formatdate(localtime=True)
    msg["Message-ID"] = message_id
    if original is not None and draft.reply and original.message_id:
        msg["In-Reply-To"] = original.message_id
        msg["References"] = " ".join(filter(None, [original.references, original.message_id]))
    msg["User-Agent"] = USER_AGENT
    # Browsers send a textarea's lines with CRLF (HTML, "form submission"); Python text uses "\n".
    msg.set_content(draft.body.replace("\r\n", "\n").replace("\r", "\n"))
    if original is not None and draft.forward:
        body = original.message.get_body(preferencelist=("html", "plain"))
        for part, parent in leaves(original.message):
            if is_attachment(part, parent, body):  # type: ignore[arg-type]
                maintype, _, subtype = part.get_content_type().partition("/")
                if maintype == "message":  # RFC 2046 5.2.1: never base64; sent on as a plain .eml file
                    maintype, subtype = "application", "octet-stream"
                msg.add_attachment(content_bytes(part), maintype=maintype, subtype=subtype,
                                   filename=part.get_filename() or None)
    return msg.as_bytes(policy=email.policy.SMTP)


@dataclass
class Submission:
    """What the submission server did with a message."""

    accepted: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # recipient -> the server's reply
    error: str = ""  # the whole message failed (server unreachable, login or MAIL refused, ...)
    reply: str = ""  # the reply to DATA, with the queue id

    @property
    def sent(self) -> bool:
        return bool(self.accepted) and not self.error


def submit(connect: Callable[[], smtplib.SMTP], hostname: str, login: str, password: str, sender: str,
           rcpts: list[str], raw: bytes) -> Submission:
    """One SMTP submission session to ``hostname`` on a client from ``connect`` (blocking: run it in a worker thread)."""
    result = Submission()
    try:
        with connect() as client:
            client.ehlo()
            client.login(login, password)
            try:
                refused = client.sendmail(sender, rcpts, raw)
            except smtplib.SMTPRecipientsRefused as e:
                refused = e.recipients
            result.refused = {r: f"{code} {text.decode('utf-8', 'replace')}" for r, (code, text) in refused.items()}
            result.accepted = [r for r in rcpts if r not in result.refused]
            # The lab's client keeps the reply to DATA, with the queue id (mailcourse.clients.smtp).
            result.reply = getattr(client, "data_reply", "")
    except smtplib.SMTPResponseException as e:
        result.error = f"{e.smtp_code} {e.smtp_error.decode('utf-8', 'replace')}"
    except (smtplib.SMTPException, OSError) as e:
        result.error = f"cannot reach {hostname}'s submission port: {e}"
    if result.error:
        result.accepted = []
    return result
