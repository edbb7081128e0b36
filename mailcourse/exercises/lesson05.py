"""The checks of lesson 05 (When things go wrong)."""
from __future__ import annotations

from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from ..message import parse

from .common import JANE, _correct, _find, _same_subject, _where_is, _wrong, reads_the_wire

if TYPE_CHECKING:
    from ..lab import Lab
    from ..trace import Connection

__all__ = ["bounce_status", "sent_again", "failures_by_hand"]


WRONG_DOOR = "Wrong door"


def _bounces_for(lab: Lab, subject: str) -> list[EmailMessage]:
    """Bounces in any mailbox whose copy of the original header has this subject."""
    found = []
    for server in lab.servers.values():
        for user in sorted(server.users):
            for msg in server.mailbox(user):
                if not str(msg.get("Subject", "")).startswith("Undelivered"):
                    continue
                for part in msg.walk():
                    if part.get_content_type() == "text/rfc822-headers":
                        header = parse(part.get_payload(decode=True) or b"")
                        if _same_subject(header, subject):
                            found.append(msg)
    return found


def _statuses(bounce: EmailMessage) -> list[str]:
    """The Status: field of each failed recipient of a bounce (RFC 3464 section 2.3.4)."""
    found = []
    for part in bounce.walk():
        if part.get_content_type() == "message/delivery-status":
            found += [" ".join(str(block["Status"]).split()) for block in part.get_payload()
                      if block.get("Status") is not None]
    return found


def bounce_status(lab: Lab, status: Any) -> None:
    """Exercise: a message to an unknown user bounces with 550; the answer is the bounce's Status field."""
    if status is ...:
        _wrong("You have not answered yet: replace the ... with the Status field of the bounce, as text.")
    lab.wait_for_delivery(timeout=5)
    bounces = _bounces_for(lab, WRONG_DOOR)
    if not bounces:
        delivered = [who for who, _, _ in _find(lab, WRONG_DOOR)]
        if delivered:
            _wrong(f"The message reached {', '.join(delivered)}: that user exists, so nothing bounced. "
                   "Write to a name nobody has at somewhereelse.com.")
        stuck = _where_is(lab, WRONG_DOOR)
        _wrong(f"No bounce for a message called {WRONG_DOOR!r} has arrived. "
               + (stuck or "Check the subject, and that joe sent it."))
    statuses = _statuses(bounces[-1])
    if not statuses or not statuses[0].startswith("5."):
        _wrong(f"The bounce says Status: {statuses[0] if statuses else 'nothing'}, a temporary failure "
               "that lasted too long. A user nobody has gets a permanent one: was jane's server online?")
    answer = str(status).strip()
    if answer.lower().startswith("status:"):
        answer = answer[len("status:"):].strip()
    if answer == statuses[0]:
        _correct(f"Status {answer}: permanent failure (5), addressing (1), bad mailbox (1).")
        return
    if answer[:3].isdigit() and "." not in answer:
        _wrong(f"{answer} is an SMTP reply code. The Status field holds the enhanced code: three "
               "numbers joined by dots.")
    _wrong(f"The bounce's Status field does not say {answer!r}. Print the message/delivery-status "
           "part of the bounce and read it again.")


def _students_sessions(lab: Lab, since: int) -> list[Connection]:
    """The SMTP sessions opened since the bookmark ``since`` by a device, not by a server's queue."""
    servers = {server.hostname for server in lab.servers.values()}
    return [c for c in lab.trace.sessions(protocol="SMTP", since=since) if c.client not in servers]


def _since(since: Any) -> int:
    if not isinstance(since, int) or isinstance(since, bool):
        _wrong("Pass the bookmark the exercise cell took first (start = lab.trace.mark()), not "
               f"{since!r}: the check reads only the sessions opened after it.")
    return since


def _ends_of_data(lab: Lab, sessions: list[Connection]) -> list[tuple[str, str]]:
    """(Subject, reply after the final ".") of each message sent in ``sessions``, in order."""
    found = []
    for conn in sessions:
        for exchange in lab.trace.exchanges(conn):
            if exchange.verb == "DATA" and exchange.data is not None and len(exchange.replies) > 1:
                header = exchange.data[:exchange.data.index("")] if "" in exchange.data else exchange.data
                subject = next((line.split(":", 1)[1].strip() for line in header
                                if line.lower().startswith("subject:")), "")
                found.append((subject, exchange.final))
    return found


@reads_the_wire
def sent_again(lab: Lab, since: Any) -> None:
    """Exercise: a 4yz after the final "." (RFC 5321 section 4.2.1), and the same message sent again.

    Read from the trace: the student's sessions since the bookmark, each
    message's subject and the reply to its final ".": a 451 first, then the
    same subject accepted with 250 (the client kept the message, section
    4.5.4.1), and a copy in jane's mailbox.
    """
    ours = lab.server("someplace.org")
    sent = _ends_of_data(lab, _students_sessions(lab, _since(since)))
    if not sent:
        _wrong("Since the bookmark, no message of yours reached its final \".\" on the wire. Send one with "
               "MAIL FROM, RCPT TO and DATA on joe's submission endpoint.")
    refused = [(subject, reply) for subject, reply in sent if reply[:1] == "4"]
    if not refused:
        replies = ", ".join(sorted({reply[:3] for _, reply in sent}))
        _wrong(f"Every message you sent got {replies} after its final \".\", never a 4yz: switch on "
               "the temporary failure of joe's provider before you send.")
    subject, reply = refused[0]
    later = sent[sent.index(refused[0]) + 1:]
    again = [r for s, r in later if s == subject and r.startswith("250")]
    if not again:
        if ours.faults.temporary_failure:
            _wrong(f"{subject!r} got {reply[:3]}, and joe's provider still has its temporary failure "
                   "switched on. Switch it off (the problem is over), then send the same message again.")
        tried = [r[:3] for s, r in later if s == subject]
        _wrong(f"{subject!r} got {reply[:3]} after its final \".\". "
               + (f"You sent it again, but got {', '.join(tried)}. " if tried else
                  "A 4yz means \"not now\": the client still owns the message and sends it again. ")
               + "Send the same message again once the failure is over.")
    lab.wait_for_delivery(timeout=5)
    if not any(_same_subject(msg, subject) for who, _, msg in _find(lab, subject) if who == JANE):
        _wrong(f"The second try of {subject!r} was accepted, but jane's mailbox does not hold it: "
               "was she the recipient?")
    _correct(f"{subject!r} got {reply[:3]} at the first try and 250 at the next: the client kept it and "
             "sent it again.")


# The failures the student is to cause by hand: what each looks like on the wire.
_BY_HAND = {
    "command out of order": "503 to a command sent before its turn",
    "message too large": "552 to MAIL FROM with a SIZE= above the server's limit",
    "unknown user": "550 to RCPT TO for a user the server does not have",
    "relaying refused": "554 to RCPT TO for another domain, on an MX endpoint without a login",
}


def _which_failure(conn: Connection, verb: str, code: str) -> str | None:
    """Which of the `_BY_HAND` failures a failure reply shows, or None."""
    if code == "503":
        return "command out of order"
    if code == "552" and verb in ("MAIL", "DATA"):
        return "message too large"
    if code == "550" and verb == "RCPT":
        return "unknown user"
    if code == "554" and verb == "RCPT" and conn.service == "mx":
        return "relaying refused"
    return None


def _codes(read: Any) -> list[str]:
    if read is ... or read is None:
        _wrong("codes_read is empty: keep the reply code of each failure you cause (codes_read.append(code)).")
    try:
        return [str(int(code)) for code in read]
    except (TypeError, ValueError):
        _wrong(f"codes_read should hold the reply codes as numbers, such as 250, not {read!r}.")


@reads_the_wire
def failures_by_hand(lab: Lab, since: Any, codes_read: Any) -> None:
    """Exercise: cause three of four failures by typing the commands, and read each reply code.

    Read from the trace: every command of the student's sessions since the
    bookmark with the reply it got; the failures are 503 (RFC 5321 section
    4.1.4), 552 (RFC 1870 section 6), 550 at RCPT TO and 554 relaying refused
    (RFC 5321 sections 3.6 and 7.9). ``codes_read`` must hold each of those
    codes, as the student read it from the reply.
    """
    sessions = _students_sessions(lab, _since(since))
    seen: dict[str, str] = {}  # failure -> the reply that showed it
    other: list[str] = []
    for conn in sessions:
        for exchange in lab.trace.exchanges(conn):
            code = exchange.status
            if not exchange.verb or code[:1] not in ("4", "5"):
                continue
            failure = _which_failure(conn, exchange.verb, code)
            if failure is None:
                other.append(f"{exchange.command.split(':')[0]} -> {code}")
            else:
                seen.setdefault(failure, code)
    codes = _codes(codes_read)
    if not sessions:
        _wrong("The trace shows no SMTP session of yours since the bookmark: open one with lab.smtp(...).")
    missing = [name for name in _BY_HAND if name not in seen]
    if len(seen) < 3:
        found = "; ".join(f"{name} ({code})" for name, code in seen.items()) or "none of them"
        also = f" Other failures you got: {', '.join(other)}." if other else ""
        _wrong(f"On the wire: {found}.{also} Cause at least three of the four; still to do: "
               + "; ".join(f"{name}: {_BY_HAND[name]}" for name in missing) + ".")
    came = {code for code in seen.values()} | {o.rsplit(" ", 1)[-1] for o in other}
    invented = [c for c in codes if c not in came]
    if invented:
        _wrong(f"codes_read holds {', '.join(invented)}, but no reply to your commands had that code "
               f"since the bookmark. Keep the code each reply really had.")
    unread = [f"{name} ({code})" for name, code in seen.items() if code not in codes]
    if unread:
        _wrong(f"The server refused {', '.join(unread)}, but codes_read does not hold "
               + ("that code" if len(unread) == 1 else "those codes") + ": read each reply, and keep its code.")
    _correct("you caused " + ", ".join(f"{name} ({code})" for name, code in seen.items())
             + ", and read each code from the reply.")
