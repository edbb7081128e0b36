"""The checks behind the exercises of the notebooks.

A lesson's set-up cell imports this module as ``check``::

    import mailcourse.exercises as check

and the cell after each exercise calls one function, for example
``check.hello_jane(lab)``. A check looks at the *live* lab (what arrived in
which mailbox, what waits in which queue, what the trace recorded) or at the
answer the student wrote, and then either

* prints one fixed line, ``✔ Correct: ...``, or
* raises `ExerciseError` with what is wrong, in plain words.

A check explains a wrong answer without giving the right one away: it says
what it found and what it expected to find, never the code that would get
there.

The functions are grouped by notebook, in course order. Helpers that read
the lab (`_find`, `_transactions`) come first.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any, NoReturn

from .devices import parse
from .trace import C2S

if TYPE_CHECKING:
    from .lab import Lab
    from .trace import Connection

__all__ = [
    "ExerciseError",
    # 00 · Start here
    "hello_jane",
    "who_received",
    # 01 · The e-mail model
    "waiting_for_joe",
    "several_in_one_session",
    # 02 · The SMTP session and the mail transaction
    "transcript_line",
    "two_recipients",
    "lone_dot",
]


class ExerciseError(AssertionError):
    """What is wrong with an answer, in plain words.

    An AssertionError, so that a grader (or pytest) counts it as a failed check.
    """

    def _render_traceback_(self) -> list[str]:
        """What IPython shows instead of a traceback: just the explanation.

        A traceback through this module would bury the one sentence that
        matters. The cell still ends in an error named ExerciseError, so
        "Run all" stops there and a grader sees the failure.
        """
        return [f"\x1b[1;31m✘ Not yet:\x1b[0m {self}"]


def _correct(what: str) -> None:
    print(f"✔ Correct: {what}")


def _wrong(why: str) -> NoReturn:
    raise ExerciseError(why)


# -- reading the lab -------------------------------------------------------------


def _same_subject(msg: EmailMessage, subject: str) -> bool:
    return str(msg.get("Subject", "")).strip().casefold() == subject.strip().casefold()


def _find(lab: Lab, subject: str) -> list[tuple[str, str, EmailMessage]]:
    """Every mailbox copy of a message with this subject: (address, server host name, message)."""
    found = []
    for server in lab.servers.values():
        for user in sorted(server.users):
            for msg in server.mailbox(user):
                if _same_subject(msg, subject):
                    found.append((f"{user}@{server.domain}", server.hostname, msg))
    return found


def _in_outboxes(lab: Lab, subject: str) -> list[str]:
    """The names of the devices whose outbox still holds a message with this subject."""
    return [name for name, client in lab.clients.items()
            if any(_same_subject(m, subject) for m in client.outbox)]


def _queued(lab: Lab, subject: str) -> list[tuple[str, list[str]]]:
    """Queued copies of a message with this subject: (server host name, pending recipients)."""
    found = []
    for server in lab.servers.values():
        for item in list(server.queue.items.values()):
            try:
                msg = parse(server.queue.raw(item))
            except FileNotFoundError:  # relayed while we looked
                continue
            if _same_subject(msg, subject):
                found.append((server.hostname, list(item.pending)))
    return found


def _bounced(lab: Lab, subject: str) -> bool:
    """Did a bounce that mentions this subject reach any mailbox?"""
    for server in lab.servers.values():
        for user in server.users:
            for msg in server.mailbox(user):
                if "Undelivered" in str(msg.get("Subject", "")) and subject.casefold() in str(msg).casefold():
                    return True
    return False


def _where_is(lab: Lab, subject: str) -> str:
    """A sentence on where a missing message got stuck, or "" if it is nowhere."""
    devices = _in_outboxes(lab, subject)
    if devices:
        return f"It is still in the outbox of {', '.join(devices)}: it was composed but never sent."
    queued = _queued(lab, subject)
    if queued:
        host, pending = queued[0]
        return (f"It waits in the queue of {host} for {', '.join(pending)}: "
                "that server cannot hand it on yet.")
    if _bounced(lab, subject):
        return "A bounce for it came back to the sender: look at the recipient's address for a typo."
    return ""


@dataclass
class _Transaction:
    """One mail transaction as the trace shows it (RFC 5321 section 3.3)."""

    session: Connection
    mail_from: str
    rcpts: list[str] = field(default_factory=list)  # accepted by the server (2yz)
    refused: list[str] = field(default_factory=list)
    body: list[str] = field(default_factory=list)  # lines as they crossed the wire
    accepted: bool = False  # the server answered 250 to the final "."


def _address(argument: str) -> str:
    start, end = argument.find("<"), argument.find(">")
    return argument[start + 1:end].strip() if 0 <= start < end else argument.split(":", 1)[-1].strip()


def _transactions(lab: Lab) -> list[_Transaction]:
    """Every mail transaction that reached its final ".", accepted or not, in order.

    Replies are matched to commands in order, one final reply (``250 ...``,
    not ``250-...``) per command, which is what RFC 5321 section 4.2 and
    pipelining (RFC 2920) guarantee.
    """
    found: list[_Transaction] = []
    for conn in lab.trace.sessions(protocol="SMTP"):
        waiting: deque[tuple[str, str]] = deque()  # commands sent, reply not yet seen
        current: _Transaction | None = None
        in_data = False
        for direction, line in lab.trace.lines(conn):
            if direction == C2S:
                if in_data:
                    if line == ".":
                        in_data = False
                        waiting.append(("END-OF-DATA", ""))
                    elif current is not None:
                        current.body.append(line)
                    continue
                verb, _, argument = line.partition(" ")
                waiting.append((verb.upper(), argument))
                continue
            if (len(line) > 3 and line[3] == "-") or not waiting:
                continue  # a continuation line, or the greeting
            verb, argument = waiting.popleft()
            positive = line[:1] == "2"
            if verb == "MAIL":
                current = _Transaction(conn, _address(argument)) if positive else None
            elif verb == "RCPT" and current is not None:
                (current.rcpts if positive else current.refused).append(_address(argument))
            elif verb == "DATA":
                in_data = line.startswith("354")
            elif verb == "END-OF-DATA" and current is not None:
                current.accepted = line.startswith("250")
                found.append(current)
                current = None
            elif verb in ("RSET", "EHLO", "HELO"):
                current = None
    return found


def _body_lines(msg: EmailMessage) -> list[str]:
    part = msg.get_body(preferencelist=("plain",)) or msg
    return str(part.get_content()).splitlines()


# -- 00 · Start here ----------------------------------------------------------------

HELLO_SUBJECT = "Hello, Jane"


def hello_jane(lab: Lab) -> None:
    """Exercise: joe sends jane a message with the subject "Hello, Jane"."""
    lab.wait_for_delivery(timeout=5)  # give mail in flight a moment to arrive
    found = [(who, msg) for who, _, msg in _find(lab, HELLO_SUBJECT)]
    for who, msg in found:
        if who == "jane@somewhereelse.com":
            if "joe@someplace.org" not in str(msg.get("From", "")):
                _wrong(f"jane has a message called {HELLO_SUBJECT!r}, but it comes from "
                       f"{msg.get('From')}. The exercise asks joe to send it, from joe-laptop.")
            _correct("jane's inbox holds your message.")
            return
    if found:
        _wrong(f"A message called {HELLO_SUBJECT!r} arrived, but in the inbox of {found[0][0]}, "
               "not jane's. Look at the address you wrote it to.")
    stuck = _where_is(lab, HELLO_SUBJECT)
    if stuck:
        _wrong(f"jane's inbox holds no message called {HELLO_SUBJECT!r} yet. {stuck}")
    subjects = [str(m["Subject"]) for m in lab.server("somewhereelse.com").mailbox("jane")]
    _wrong(f"No message called {HELLO_SUBJECT!r} exists anywhere in the lab. jane's inbox holds "
           f"{subjects or 'nothing'}. Check the spelling of the subject, and that joe composed it.")


REPLY_SUBJECT = "Re: Hello from the lab"


def who_received(lab: Lab, receiver: Any, server_name: Any) -> None:
    """Exercise: the address whose inbox holds jane's reply, and the server that keeps it."""
    if receiver is ... or server_name is ...:
        _wrong("You have not answered yet: replace each ... with your answer, as a string in quotes.")
    if not isinstance(receiver, str) or not isinstance(server_name, str):
        _wrong("Both answers are text: put them in quotes, like \"someone@example.org\".")
    lab.wait_for_delivery(timeout=5)
    found = _find(lab, REPLY_SUBJECT)
    if not found:
        _wrong(f"No inbox holds a message called {REPLY_SUBJECT!r}. Run the cell that makes jane "
               "reply, then try again.")
    where = {(who, host) for who, host, _ in found}
    answer = receiver.strip().lower()
    if "@" not in answer:
        _wrong(f"{receiver!r} is not a mail address. An address names a user *and* a domain, "
               "joined by @: mail goes to users, not to machines.")
    if answer not in {who for who, _ in where}:
        if answer == "jane@somewhereelse.com":
            _wrong("jane wrote the reply, so it left her laptop; it did not land in her own inbox. "
                   "Look in the other mailboxes.")
        _wrong(f"The inbox of {receiver!r} does not hold the reply. Read the mailboxes with "
               "lab.server(<domain>).mailbox(<user>) and look for its subject.")
    host = server_name.strip().lower().rstrip(".")
    if (answer, host) not in where:
        if host in lab.directory.domains:
            _wrong(f"{server_name!r} is a domain, not a server's host name. Which machine accepts "
                   "mail for that domain? The directory knows.")
        _wrong(f"The inbox of {receiver} does not live on {server_name!r}. An inbox lives on the "
               "mail server of its own domain.")
    _correct("that is the account and the server that hold jane's reply.")


# -- 01 · The e-mail model ---------------------------------------------------------------


def waiting_for_joe(lab: Lab) -> None:
    """Exercise: jane writes to joe while joe's server is off; the message waits in her server's queue."""
    joes_server = lab.server("someplace.org")
    janes_server = lab.server("somewhereelse.com")
    waiting = [item for item in list(janes_server.queue.items.values())
               if any(r.lower().endswith("@someplace.org") for r in item.pending)]
    if waiting and not joes_server.is_online:
        _correct("jane's message waits in somewhereelse.com's queue for joe's server to come back.")
        return
    if joes_server.is_online:
        _wrong("joe's server, mail.someplace.org, is online, so jane's server can hand the "
               "message on at once and nothing needs to wait. Switch joe's server off the "
               "network first, then send.")
    outboxes = [name for name, c in lab.clients.items() if c.outbox]
    if outboxes:
        _wrong(f"Nothing waits for joe in somewhereelse.com's queue, but the outbox of "
               f"{', '.join(outboxes)} holds mail that was never sent.")
    _wrong("somewhereelse.com's queue holds nothing for joe. The message must be sent from "
           "jane's laptop to jane's own server, addressed to joe.")


def several_in_one_session(lab: Lab) -> None:
    """Exercise: jane-laptop spools two or more messages and sends them in one SMTP session."""
    per_session: dict[int, int] = {}
    for t in _transactions(lab):
        if t.session.client == "jane-laptop" and t.accepted:
            per_session[t.session.id] = per_session.get(t.session.id, 0) + 1
    if any(n >= 2 for n in per_session.values()):
        _correct("jane-laptop sent several messages in one SMTP session.")
        return
    waiting = lab.client("jane-laptop").outbox
    if not per_session and waiting:
        _wrong(f"jane-laptop's outbox holds {len(waiting)} message(s), but none has been sent yet.")
    if per_session:
        _wrong(f"jane-laptop opened {len(per_session)} session(s) and each carried one message. "
               "Let the messages pile up in the outbox first, and send them all together.")
    _wrong("The trace shows no message sent from jane-laptop. Use jane's device, not joe's.")


# -- 02 · The SMTP session and the mail transaction ---------------------------------------------

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
