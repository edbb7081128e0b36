"""The checks of lesson 02 (The SMTP session and the mail transaction)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .common import _body_lines, _correct, _find, _transactions, _where_is, _wrong

if TYPE_CHECKING:
    from ..lab import Lab

__all__ = ["transcript_line", "two_recipients", "lone_dot"]


TWO_SUBJECT = "Two of us"


def two_recipients(lab: Lab) -> None:
    """Exercise: one transaction, two RCPT commands (jane and joe), one copy in each inbox."""
    lab.wait_for_delivery(timeout=5)
    wanted = {"jane@somewhereelse.com", "joe@someplace.org"}
    inboxes = {who for who, _, _ in _find(lab, TWO_SUBJECT)}
    transactions = [t for t in _transactions(lab) if t.accepted
                    and any(line.casefold() == f"subject: {TWO_SUBJECT}".casefold() for line in t.body)]
    if not transactions:
        stuck = _where_is(lab, TWO_SUBJECT)
        _wrong(f"The trace holds no accepted message with the subject {TWO_SUBJECT!r}. "
               + (stuck or "Did the server answer 250 after the final '.'? Look at the replies."))
    if not any(wanted <= {r.lower() for r in t.rcpts} for t in transactions):
        counts = sorted({len(t.rcpts) for t in transactions})
        _wrong(f"Your message went out, but no single transaction named both jane and joe: the "
               f"transactions for it had {' or '.join(map(str, counts))} accepted RCPT command(s). "
               "One transaction can carry several recipients.")
    missing = wanted - inboxes
    if missing:
        _wrong(f"The transaction was right, but the inbox of {', '.join(sorted(missing))} has no copy yet.")
    _correct("one transaction, two RCPT commands, and a copy in each inbox.")


def transcript_line(answer: Any) -> None:
    """Exercise: copy the server's reply that lets the client send the message text."""
    if answer is ...:
        _wrong("You have not answered yet: replace the ... with a line copied from the transcript.")
    line = str(answer).strip()
    side, _, rest = line.partition(":")
    if side in ("C", "S") and rest:
        if side == "C":
            _wrong("That line starts with C:, so the client sent it. The go-ahead comes from the server.")
        line = rest.strip()
    code = line[:3]
    if not code.isdigit():
        _wrong(f"{line!r} is not a server reply: every reply starts with a three-digit code.")
    if code == "354":
        _correct("354 is the go-ahead for the message text.")
        return
    if code.startswith("2"):
        _wrong(f"{code} is a positive completion reply: something is done. The one you want says "
               "'go on, I am waiting for more': its first digit is different.")
    if code == "334":
        _wrong("334 is a go-ahead too, but for the next step of logging in (AUTH), not for the message.")
    _wrong(f"{code} is not that reply. Find the reply that comes right after the client's DATA command.")


def lone_dot(lab: Lab) -> None:
    """Exercise: a body line that is a single "." crosses the wire doubled and arrives intact."""
    lab.wait_for_delivery(timeout=5)
    inbox = lab.server("somewhereelse.com").mailbox("jane")
    arrived = [m for m in inbox if "." in _body_lines(m)]
    stuffed = any(".." in t.body for t in _transactions(lab) if t.accepted)
    if arrived and stuffed:
        _correct("the lone dot went over the wire as '..' and arrived as '.'.")
        return
    if not stuffed:
        _wrong("No message on the wire had a body line that is just a dot (the client would have "
               "doubled it to '..'). A line that merely starts with a dot is not enough, and a "
               "dot at the very end of the text is the end-of-data mark, not part of your message.")
    _wrong("A lone dot crossed the wire, but no message in jane's inbox holds that line. "
           "Was the message addressed to jane?")
