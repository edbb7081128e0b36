"""The checks of lesson 03 (Envelope versus content)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from .common import (ANN, JANE, JOE, _address, _correct, _find, _Transaction, _transactions, _where_is,
                     _wrong, reads_the_wire)

if TYPE_CHECKING:
    from ..lab import Lab
    from ..trace import Connection

__all__ = ["refused_at_rcpt", "blind_copy_sent", "header_says_jane"]


def _header_lines(body: list[str]) -> list[str]:
    """The header section of a message as it crossed the wire (up to the first empty line)."""
    return body[: body.index("")] if "" in body else list(body)


@reads_the_wire
def refused_at_rcpt(lab: Lab) -> None:
    """Exercise: RCPT TO an unknown user of someplace.org at joe's provider gets 550, before any DATA."""
    ours = lab.server("someplace.org")
    tried: list[tuple[Connection, str, str]] = []  # (session, recipient, reply)
    for conn in lab.trace.sessions(protocol="SMTP"):
        for exchange in lab.trace.exchanges(conn):
            rcpt = _address(exchange.argument).lower()
            if (exchange.verb == "RCPT" and exchange.complete and rcpt.endswith("@someplace.org")
                    and not ours.has_user(rcpt)):
                tried.append((conn, rcpt, exchange.final))
    if not tried:
        _wrong("The trace shows no RCPT TO for an address at someplace.org that has no account. "
               "Name bob@someplace.org as a recipient, in a session you open yourself.")
    if any(conn.server == ours.hostname and reply.startswith("550") for conn, _, reply in tried):
        _correct(f"{ours.hostname} refused the unknown user at RCPT TO, before any message was sent.")
        return
    conn, rcpt, reply = tried[-1]
    if conn.server != ours.hostname:
        _wrong(f"You asked {conn.server} about <{rcpt}>, and it answered {reply!r}. Only the server "
               f"of someplace.org, {ours.hostname}, knows who has an account there.")
    if reply.startswith("530"):
        _wrong(f"RCPT TO:<{rcpt}> got {reply!r}: on the submission endpoint, joe must log in "
               "before the server answers questions about its users.")
    if reply.startswith("503"):
        _wrong(f"RCPT TO:<{rcpt}> got {reply!r}: no transaction was open. MAIL FROM must be "
               "accepted first, and on the submission endpoint that needs a login.")
    _wrong(f"RCPT TO:<{rcpt}> got {reply!r}, not a refusal of an unknown user. Look at the replies "
           "before it in the transcript.")


GUESTS_SUBJECT = "Guest list"


@reads_the_wire
def blind_copy_sent(lab: Lab) -> None:
    """Exercise: To: jane, Bcc: ann, sent with an envelope built from the header, no Bcc: on the wire."""
    lab.wait_for_delivery(timeout=5)
    wanted = f"subject: {GUESTS_SUBJECT}".casefold()
    sent = [t for t in _transactions(lab) if t.accepted and t.session.client == "joe-laptop"
            and any(line.casefold() == wanted for line in _header_lines(t.body))]
    if not sent:
        stuck = _where_is(lab, GUESTS_SUBJECT)
        _wrong(f"No message with the subject {GUESTS_SUBJECT!r} left joe-laptop and was accepted. "
               + (stuck or "Check the subject, and that you logged in on joe's submission endpoint."))
    t = sent[-1]
    rcpts = {r.lower() for r in t.rcpts}
    header = _header_lines(t.body)
    if ANN not in rcpts:
        _wrong(f"The envelope named {', '.join(sorted(rcpts))}, not ann. A blind copy still needs its "
               "own RCPT TO: was ann in the Bcc: line of the message you sent?")
    if JANE not in rcpts:
        _wrong("ann was in the envelope, but jane was not. The message is for jane (To:), with a blind copy to ann.")
    leaked = [line for line in header if line.lower().startswith("bcc:")]
    if leaked:
        _wrong(f"The envelope is right, but this line crossed the wire: {leaked[0]!r}. The submission "
               "server removed it this time; the program that builds the envelope should have.")
    shown = [line for line in header if line.lower().startswith(("to:", "cc:")) and ANN in line.lower()]
    if shown:
        _wrong(f"ann is named in the header ({shown[0]!r}), so she is not a blind copy. Name her in Bcc: only.")
    copies = {who: msg for who, _, msg in _find(lab, GUESTS_SUBJECT)}
    missing = [who for who in (JANE, ANN) if who not in copies]
    if missing:
        _wrong(f"The message went out right, but no copy has reached {' or '.join(missing)} yet.")
    if any(msg.get("Bcc") is not None for msg in copies.values()):
        _wrong("A delivered copy has a Bcc: line.")
    _correct("ann was in the envelope and nowhere in the message; jane cannot see her.")


NOT_FOR_JANE = "Not for jane"


def _subject_is(t: _Transaction, subject: str) -> bool:
    wanted = f"subject: {subject}".casefold()
    return any(" ".join(line.split()).casefold() == wanted for line in _header_lines(t.body))


def _header_field(t: _Transaction, name: str) -> str:
    """One header field of a message as it crossed the wire ("" if absent), folded lines joined."""
    value, inside = [], False
    for line in _header_lines(t.body):
        if inside and line[:1] in (" ", "\t"):
            value.append(line.strip())
            continue
        inside = line.lower().startswith(f"{name.lower()}:")
        if inside:
            value.append(line.split(":", 1)[1].strip())
    return " ".join(value)


@reads_the_wire
def header_says_jane(lab: Lab) -> None:
    """Exercise: typed by hand, an envelope for joe only and a header whose To: names jane.

    The check reads joe's submission sessions from the trace: the envelope
    (RFC 5321 section 3.3) against the To: line of the content (RFC 5322
    section 3.6.3), and whether the commands were typed (smtplib's
    ``sendmail`` adds ``size=`` to MAIL FROM; ``docmd`` and ``mail`` do not).
    """
    lab.wait_for_delivery(timeout=5)
    ours = lab.server("someplace.org")
    tried = [t for t in _transactions(lab) if t.session.client == "joe-laptop" and _subject_is(t, NOT_FOR_JANE)]
    if not tried:
        _wrong(f"The trace shows no message with the subject {NOT_FOR_JANE!r} sent from joe-laptop, up to its "
               "final \".\". Open a session on joe's submission endpoint, log in, and type MAIL FROM, "
               "RCPT TO and DATA.")
    t = tried[-1]
    if t.session.server != ours.hostname:
        _wrong(f"You sent it to {t.session.server}; send it through joe's own provider, {ours.hostname}.")
    if not t.accepted:
        _wrong("The server did not answer 250 after the final \".\": look at its reply to your DATA.")
    rcpts = sorted({r.lower() for r in t.rcpts})
    if JANE in rcpts:
        _wrong(f"Your envelope named {', '.join(rcpts)}: RCPT TO:<{JANE}> puts jane in the envelope, so she "
               "receives the message. The envelope decides who receives it.")
    if JOE not in rcpts:
        _wrong(f"Your envelope named {', '.join(rcpts) or 'nobody'}, not joe: the message should reach joe.")
    to = _header_field(t, "To")
    if JANE not in to.lower():
        _wrong(f"The header that crossed the wire says To: {to or '(nothing)'}. Its To: line should name jane, "
               "even though jane never receives it.")
    if JOE in to.lower() or JOE in _header_field(t, "Cc").lower():
        _wrong("The header names joe in To: or Cc:, so header and envelope agree about him. Name only jane there.")
    mail_from = next((e.command for e in lab.trace.exchanges(t.session) if e.verb == "MAIL"
                      and _address(e.argument).lower() == t.mail_from.lower()), "")
    if "size=" in mail_from.lower():
        _wrong(f"Your MAIL FROM went out as {mail_from!r}: the size= comes from smtplib's sendmail or "
               "send_message, which wrote the commands for you. Type them yourself, one command at a time (docmd, or "
               "mail, rcpt and data).")
    if not any(who == JOE for who, _, _ in _find(lab, NOT_FOR_JANE)):
        _wrong("The server accepted the message, but joe's inbox does not hold it yet: run the check again.")
    _correct(f"the envelope said RCPT TO:<{JOE}>, the header said To: {to}; joe received it, jane nothing.")
