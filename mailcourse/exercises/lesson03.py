"""The checks of lesson 03 (Envelope versus content)."""
from __future__ import annotations

from email.message import EmailMessage
from typing import TYPE_CHECKING

from .common import ANN, JANE, JOE, _address, _correct, _find, _transactions, _where_is, _wrong

if TYPE_CHECKING:
    from ..lab import Lab
    from ..trace import Connection

__all__ = ["refused_at_rcpt", "blind_copy_sent", "header_says_jane"]




def _header_lines(body: list[str]) -> list[str]:
    """The header section of a message as it crossed the wire (up to the first empty line)."""
    return body[: body.index("")] if "" in body else list(body)


def _names(msg: EmailMessage, address: str, fields: tuple[str, ...] = ("From", "To", "Cc", "Bcc")) -> bool:
    return any(address in str(value).lower() for name in fields for value in msg.get_all(name, []))


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


def header_says_jane(lab: Lab) -> None:
    """Exercise: a message whose To: names jane, delivered (by its envelope) to joe only."""
    lab.wait_for_delivery(timeout=5)
    copies = [(who, msg) for who, _, msg in _find(lab, NOT_FOR_JANE)]
    if not copies:
        stuck = _where_is(lab, NOT_FOR_JANE)
        _wrong(f"No inbox holds a message called {NOT_FOR_JANE!r}. " + (stuck or "Check the subject."))
    if any(who == JANE for who, _ in copies):
        _wrong("jane's inbox holds a copy, so jane was in the envelope. The envelope decides who "
               "receives a message: give smtplib the recipients yourself.")
    mine = [msg for who, msg in copies if who == JOE]
    if not mine:
        _wrong(f"The message reached {', '.join(who for who, _ in copies)}, not joe.")
    msg = mine[-1]
    if not _names(msg, JANE, ("To",)):
        _wrong(f"joe's copy says To: {msg.get('To')}. Its To: line should name jane, even though "
               "jane never receives it.")
    if _names(msg, JOE, ("To", "Cc")):
        _wrong("joe's copy names joe in its To: or Cc: line, so header and envelope agree about him. "
               "Name only jane in the header.")
    _correct("joe received a message addressed to jane, and jane received nothing.")
