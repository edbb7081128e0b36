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

import re
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
    # 03 · Envelope versus content
    "refused_at_rcpt",
    "blind_copy_sent",
    "header_says_jane",
    # 04 · When things go wrong
    "bounce_status",
    "arrived_after_retry",
    # 05 · Offline access with POP3
    "size_line",
    "phone_keeps_mail",
    "only_new_messages",
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


@dataclass
class _Exchange:
    """One command and the server's final reply to it, as the trace shows them."""

    verb: str  # "MAIL", "RCPT", ...; "END-OF-DATA" for the message text and its final "."
    argument: str
    reply: str  # the final line of the reply, e.g. "550 5.1.1 <bob@...>: ..."
    body: list[str] = field(default_factory=list)  # for END-OF-DATA: the lines as they crossed


def _exchanges(lab: Lab, conn: Connection) -> list[_Exchange]:
    """The commands of one session, each with its reply, in order.

    Replies are matched to commands in order, one final reply (``250 ...``,
    not ``250-...``) per command, which is what RFC 5321 section 4.2 and
    pipelining (RFC 2920) guarantee. A command still waiting for its reply
    is left out.
    """
    found: list[_Exchange] = []
    waiting: deque[_Exchange] = deque()  # commands sent, reply not yet seen
    body: list[str] | None = None  # the message text, while inside DATA
    for direction, line in lab.trace.lines(conn):
        if direction == C2S:
            if body is not None:
                if line == ".":
                    waiting.append(_Exchange("END-OF-DATA", "", "", body))
                    body = None
                else:
                    body.append(line)
                continue
            verb, _, argument = line.partition(" ")
            waiting.append(_Exchange(verb.upper(), argument, ""))
            continue
        if (len(line) > 3 and line[3] == "-") or not waiting:
            continue  # a continuation line, or the greeting
        exchange = waiting.popleft()
        exchange.reply = line
        found.append(exchange)
        if exchange.verb == "DATA" and line.startswith("354"):
            body = []
    return found


def _transactions(lab: Lab) -> list[_Transaction]:
    """Every mail transaction that reached its final ".", accepted or not, in order."""
    found: list[_Transaction] = []
    for conn in lab.trace.sessions(protocol="SMTP"):
        current: _Transaction | None = None
        for exchange in _exchanges(lab, conn):
            verb, positive = exchange.verb, exchange.reply[:1] == "2"
            if verb == "MAIL":
                current = _Transaction(conn, _address(exchange.argument)) if positive else None
            elif verb == "RCPT" and current is not None:
                (current.rcpts if positive else current.refused).append(_address(exchange.argument))
            elif verb == "END-OF-DATA" and current is not None:
                current.body = exchange.body
                current.accepted = exchange.reply.startswith("250")
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


# -- 03 · Envelope versus content ---------------------------------------------------------------

JOE, JANE, ANN = "joe@someplace.org", "jane@somewhereelse.com", "ann@elsewhere.net"


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
        for exchange in _exchanges(lab, conn):
            rcpt = _address(exchange.argument).lower()
            if exchange.verb == "RCPT" and rcpt.endswith("@someplace.org") and not ours.has_user(rcpt):
                tried.append((conn, rcpt, exchange.reply))
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


# -- 04 · When things go wrong -------------------------------------------------------------------

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


PATIENCE = "Patience"


def arrived_after_retry(lab: Lab) -> None:
    """Exercise: jane's mailbox full (452), the message retried, delivered once the fault is cleared."""
    jane_server = lab.server("somewhereelse.com")
    ours = lab.server("someplace.org")
    if jane_server.faults.active:
        _wrong(f"jane's server still has a fault switched on ({jane_server.faults}). Clear it, and "
               "give joe's provider a moment for its next attempt.")
    lab.wait_for_delivery(timeout=5)
    copies = [msg for who, _, msg in _find(lab, PATIENCE) if who == JANE]
    if not copies:
        stuck = _where_is(lab, PATIENCE)
        _wrong(f"jane's inbox holds no message called {PATIENCE!r}. "
               + (stuck or "Check the subject, and that joe sent it to jane."))
    queue_ids = []
    for value in copies[-1].get_all("Received", []):
        found = re.search(rf"by {re.escape(ours.hostname)} \(mailcourse\) with \S+ id (\w+)", str(value))
        if found:
            queue_ids.append(found.group(1))
    deferred = any(line.startswith(f"{qid}: deferred") for qid in queue_ids for line in ours.queue.log)
    if not deferred:
        _wrong("jane has the message, but joe's provider delivered it at the first attempt: her mailbox "
               "was not full when it tried. Switch it to full before joe sends.")
    full = any(exchange.verb == "RCPT" and _address(exchange.argument).lower() == JANE
               and exchange.reply.startswith("452")
               for conn in lab.trace.sessions(protocol="SMTP", service="mx")
               if conn.server == jane_server.hostname for exchange in _exchanges(lab, conn))
    if not full:
        _wrong("The message was retried, but jane's server never answered 452 to it: something else "
               "delayed it (was a server offline?). Switch jane's mailbox to full.")
    _correct("the queue kept the message through the 452s and delivered it once there was room.")


# -- 05 · Offline access with POP3 ---------------------------------------------------------------


@dataclass
class _Pop3Exchange:
    """One POP3 command and the server's response to it, as the trace shows them.

    The greeting is an exchange too, with an empty ``verb``: the server's
    first words answer no command (RFC 1939 section 4).
    """

    verb: str  # "STAT", "LIST", ...; "" for the greeting
    argument: str
    status: str = ""  # the status line, "+OK ..." or "-ERR ..."
    lines: list[str] = field(default_factory=list)  # a multi-line response, as on the wire, without its "."

    @property
    def ok(self) -> bool:
        return self.status.startswith("+OK")

    @property
    def number(self) -> int | None:
        """The message number the command names (``RETR 2``, ``LIST 2``...), if any."""
        first = self.argument.split()[:1]
        return int(first[0]) if first and first[0].isdigit() else None


def _multi_line(exchange: _Pop3Exchange) -> bool:
    """Does a positive answer to this command go on over several lines?

    RETR and TOP send a message, CAPA a list of capabilities; LIST and UIDL
    send a listing only when asked about every message (RFC 1939 sections
    5 and 7, RFC 2449 section 5). Everything else is one line.
    """
    if exchange.verb in ("RETR", "TOP", "CAPA"):
        return True
    return exchange.verb in ("LIST", "UIDL") and not exchange.argument.strip()


def _pop3_exchanges(lab: Lab, conn: Connection) -> list[_Pop3Exchange]:
    """The greeting and the commands of one POP3 session, each with its response, in order.

    A server answers commands in the order they came, pipelined or not
    (RFC 2449 section 6.6), so responses are matched to commands in order. A
    ``+ `` line is a SASL challenge (RFC 5034 section 4): the client's next
    line answers it and is no command. A command still waiting for its
    response is left out.
    """
    found: list[_Pop3Exchange] = []
    waiting: deque[_Pop3Exchange] = deque()
    reading: _Pop3Exchange | None = None  # the multi-line response being read
    challenged = greeted = False
    for direction, line in lab.trace.lines(conn):
        if direction == C2S:
            if challenged:
                challenged = False  # the answer to a challenge (masked by the tap)
                continue
            verb, _, argument = line.partition(" ")
            waiting.append(_Pop3Exchange(verb.upper(), argument.strip()))
            continue
        if reading is not None:
            if line == ".":
                reading = None
            else:
                reading.lines.append(line)
            continue
        if not greeted:
            greeted = True
            found.append(_Pop3Exchange("", "", line))
            continue
        if line == "+" or line.startswith("+ "):
            challenged = True
            continue
        if not waiting:
            continue
        exchange = waiting.popleft()
        exchange.status = line
        found.append(exchange)
        if exchange.ok and _multi_line(exchange):
            reading = exchange
    return found


def _deleted_at_quit(exchanges: list[_Pop3Exchange]) -> list[int]:
    """The message numbers a session really deleted: marked by DELE, not undone by RSET, then QUIT.

    RFC 1939 section 6: the server removes marked messages only in the
    UPDATE state, which a session reaches by QUIT and by nothing else.
    """
    marked: list[int] = []
    for exchange in exchanges:
        if exchange.verb == "DELE" and exchange.ok and exchange.number is not None:
            marked.append(exchange.number)
        elif exchange.verb == "RSET" and exchange.ok:
            marked = []
        elif exchange.verb == "QUIT" and exchange.ok:
            return marked
    return []


def _ended(exchanges: list[_Pop3Exchange]) -> bool:
    return any(e.verb == "QUIT" for e in exchanges)


def _server_line(answer: Any, source: str, client_sent: str) -> str:
    """A server line the student copied from ``source``, without its ``S:`` prefix; a ``C:`` line is wrong."""
    if answer is ...:
        _wrong(f"You have not answered yet: replace the ... with a line copied from {source}.")
    line = str(answer).strip()
    side = re.match(r"^([CS]):\s?(.*)$", line)
    if side:
        if side.group(1) == "C":
            _wrong(f"That line starts with C:, so {client_sent}")
        line = side.group(2).strip()
    return line


def size_line(lab: Lab, answer: Any) -> None:
    """Exercise: copy the server's line that gives the size of message 2 before it is downloaded."""
    line = _server_line(answer, "the transcript", "the client sent it. The size comes from the server.")
    sent = False
    contexts: list[tuple[_Pop3Exchange, str]] = []  # (exchange, "greeting" | "status" | "listing")
    for conn in lab.trace.sessions(protocol="POP3"):
        for exchange in _pop3_exchanges(lab, conn):
            if exchange.verb and line.casefold() == f"{exchange.verb} {exchange.argument}".strip().casefold():
                sent = True
            if exchange.status.strip() == line:
                contexts.append((exchange, "status" if exchange.verb else "greeting"))
            if line in (item.strip() for item in exchange.lines):
                contexts.append((exchange, "listing"))
    if not contexts:
        if sent:
            _wrong(f"{line!r} is a command: the client sent it. The size comes back from the server.")
        _wrong(f"{line!r} is not a line the server sent in any POP3 session of the trace. Copy one "
               "line exactly as the transcript shows it (with or without the 'S: ' in front).")
    for exchange, where in contexts:
        words = line.split()
        if exchange.verb == "LIST" and where == "listing" and words[:1] == ["2"]:
            _correct("the scan listing gives each message's number and its size in octets, before any download.")
            return
        if exchange.verb == "LIST" and where == "status" and exchange.number == 2 and exchange.ok:
            _correct("LIST 2 answers with the message number and its size in octets, before any download.")
            return
    exchange, where = contexts[0]
    if where == "greeting":
        _wrong("That is the server's greeting: it answers no command and says nothing about messages.")
    if line.startswith("-ERR"):
        _wrong("That is a negative response, -ERR: the server refused a command. Look for a +OK answer.")
    if exchange.verb == "STAT":
        _wrong("That is the answer to STAT: how many messages the maildrop holds, and their size all "
               "together. You want the size of message 2 alone.")
    if exchange.verb == "LIST":
        other = line.split()[1] if where == "status" else line.split()[0]  # "+OK 1 120" or "1 120"
        _wrong(f"Right command, wrong message: that line is about message {other}. Find the one for message 2.")
    if exchange.verb == "UIDL":
        _wrong("That line comes from UIDL: a message number and its unique id, a name that never "
               "changes. It says nothing about size.")
    if exchange.verb in ("RETR", "TOP") and where == "status":
        _wrong(f"That is the first line of the answer to {exchange.verb}: the message is already on its "
               "way. Which command asks for sizes without downloading anything?")
    if exchange.verb in ("RETR", "TOP"):
        _wrong(f"That line is part of a message's text, sent in answer to {exchange.verb}. The size "
               "comes in a line of its own, before the download.")
    _wrong(f"That is the server's answer to {exchange.verb or 'a command'}. Which command asks for "
           "the size of each message?")


PHONE = "jane-phone"


def _retrieved(exchanges: list[_Pop3Exchange]) -> list[_Pop3Exchange]:
    return [e for e in exchanges if e.verb == "RETR" and e.ok]


def _message_ids(lines: list[str]) -> list[str]:
    """The Message-ID of a message as it crossed the wire (its header lines only)."""
    header = lines[: lines.index("")] if "" in lines else lines
    return [line.split(":", 1)[1].strip() for line in header if line.lower().startswith("message-id:")]


def phone_keeps_mail(lab: Lab) -> None:
    """Exercise: jane-phone fetches by POP3 and leaves the messages on the server for the laptop."""
    phone = lab.clients.get(PHONE)
    if phone is None:
        _wrong(f"The lab has no device called {PHONE!r}. Run the cell that gives jane her phone.")
    sessions = [conn for conn in lab.trace.sessions(protocol="POP3") if conn.client == PHONE]
    if not sessions:
        _wrong(f"{PHONE} has not opened a POP3 session yet: ask it to fetch jane's mail.")
    fetched = [(conn, exchanges) for conn in sessions
               if _retrieved(exchanges := _pop3_exchanges(lab, conn))]
    if not fetched:
        waiting = len(lab.server("somewhereelse.com").mailbox("jane"))
        _wrong(f"{PHONE} connected, but downloaded nothing (no RETR): "
               + ("the maildrop was empty. Let joe send jane something first."
                  if not waiting else f"{waiting} message(s) wait on the server. Fetch again."))
    _, exchanges = fetched[-1]
    deleted = _deleted_at_quit(exchanges)
    if deleted:
        _wrong(f"{PHONE} downloaded {len(_retrieved(exchanges))} message(s), then sent DELE for "
               f"{len(deleted)} and QUIT: the server removed them, and the laptop will never see them. "
               "Ask the phone to leave the messages where they are (to try again, let joe send jane "
               "a new message first).")
    if not _ended(exchanges):
        _wrong(f"{PHONE}'s session is still open: it holds the lock on jane's maildrop. End it with QUIT.")
    ids = [mid for e in _retrieved(exchanges) for mid in _message_ids(e.lines)]
    on_server = {str(m["Message-ID"]) for m in lab.server("somewhereelse.com").mailbox("jane")}
    on_phone = {str(m["Message-ID"]) for m in phone.local_messages()}
    gone = [mid for mid in ids if mid not in on_server]
    if gone:
        _wrong(f"{PHONE} kept the messages on the server, but {len(gone)} of them are gone from it now: "
               "another session deleted them after the phone's. Let joe send a new one and fetch again.")
    if any(mid not in on_phone for mid in ids):
        _wrong(f"The messages stayed on the server, but {PHONE} has no copy of them in its local store: "
               "use the phone's own mail program, not poplib by hand.")
    _correct(f"{PHONE} has its own copies, and the messages are still on the server for the laptop.")


def only_new_messages(lab: Lab, already: Any, new_messages: Any = None, since: int = 0) -> None:
    """Exercise: a poplib session that retrieves exactly the messages whose UIDL is not in ``already``.

    ``since`` is a `Trace.mark` taken at the top of the student's cell: only
    the sessions opened after it count. ``new_messages``, if given, should
    hold one item per message retrieved.
    """
    if not isinstance(already, (set, frozenset, list, tuple)):
        _wrong("`already` should be the set of UIDLs the device has seen; run the cell that makes it again.")
    seen = {str(uidl) for uidl in already}
    sessions = lab.trace.sessions(protocol="POP3", since=since)
    if not sessions:
        _wrong("No POP3 session started in your cell. Open one with lab.pop3(...) and log in as jane.")
    runs = [(conn, _pop3_exchanges(lab, conn)) for conn in sessions]
    listed = [(conn, exchanges) for conn, exchanges in runs
              if any(e.verb == "UIDL" and e.ok and not e.argument for e in exchanges)]
    if not listed:
        if not any(e.verb == "PASS" and e.ok for _, exchanges in runs for e in exchanges):
            _wrong("Your session never logged in: send USER and then PASS (poplib's user() and pass_()).")
        _wrong("Your session never asked for the unique ids of the messages (UIDL without a number): "
               "without them it cannot tell old messages from new ones.")
    _, exchanges = listed[-1]
    uidls: dict[int, str] = {}
    for e in exchanges:
        if e.verb == "UIDL" and e.ok and not e.argument:
            for item in e.lines:
                number, _, uidl = item.partition(" ")
                if number.isdigit():
                    uidls[int(number)] = uidl.strip()
    wanted = {n for n, uidl in uidls.items() if uidl not in seen}
    got = {e.number for e in _retrieved(exchanges)}
    if not wanted and not got:
        _wrong("Every message in the maildrop has a UIDL in `already`: there was nothing new to fetch. "
               "Run the cell before yours, where joe sends two new messages, then run yours again.")
    extra = sorted(n for n in got if n not in wanted)
    if extra:
        _wrong(f"Your session downloaded message(s) {', '.join(map(str, extra))}, whose UIDL is in "
               "`already`: the device has them. Compare each UIDL with the set before you ask for the message.")
    missing = sorted(wanted - got)
    if missing:
        _wrong(f"Message(s) {', '.join(map(str, missing))} have a UIDL that is not in `already`, but your "
               "session never retrieved them (RETR).")
    if _deleted_at_quit(exchanges):
        _wrong("Your session downloaded the right messages but also deleted some (DELE, then QUIT). "
               "This device leaves mail on the server.")
    if not _ended(exchanges):
        _wrong("The right messages came down, but your session is still open: it holds the lock on "
               "jane's maildrop, and no other device can log in. End it with quit().")
    if new_messages is not None and len(new_messages) != len(wanted):
        _wrong(f"Your session retrieved the {len(wanted)} right message(s), but `new_messages` holds "
               f"{len(new_messages)} item(s): keep each message you retrieve, once.")
    _correct(f"your session downloaded the {len(wanted)} new message(s) and left the rest alone.")


# -- 06 · Disconnected access with IMAP ------------------------------------------------------------

__all__ += ["archived_offline", "idle_news", "unread_uids"]

JANE_ACCOUNT = "jane"
ARCHIVE, TAX_RETURN = "Archive", "Tax return"
_LITERAL = re.compile(r"\{(\d+)\+?\}$")  # a line that announces a literal of n octets (RFC 3501 section 4.3)
_COPYUID = re.compile(r"\[COPYUID (\d+) ([\d:,]+) ([\d:,]+)\]", re.IGNORECASE)  # RFC 4315 section 3


@dataclass
class _ImapExchange:
    """One IMAP command, what the server said while it ran, and how it ended (RFC 3501 section 2.2).

    ``untagged`` are the ``*`` lines that came before the tagged completion
    (a literal inside one is folded into its line); for IDLE, ``pushed``
    are the ones that came while the client was idling, after the ``+``
    (RFC 2177 section 3). ``status`` is "OK", "NO" or "BAD"; "" while the
    command has no completion yet.
    """

    tag: str
    command: str  # "SELECT", "UID MOVE", "IDLE" ...: the UID prefix is kept (RFC 3501 section 6.4.8)
    argument: str
    untagged: list[str] = field(default_factory=list)
    pushed: list[str] = field(default_factory=list)
    status: str = ""
    text: str = ""  # the rest of the tagged completion line


def _imap_lines(lab: Lab, conn: Connection) -> list[tuple[str, str]]:
    """The session's lines with every literal folded into the line that announced it.

    A literal is n octets sent right after a line ending in ``{n}`` (RFC
    3501 section 4.3): a message body in a FETCH response, a message given
    to APPEND. Folded, each line of the result is one command or one
    response, and a body line that happens to start with ``*`` or a tag is
    never mistaken for one.
    """
    folded: list[tuple[str, str]] = []
    remaining: dict[str, int] = {}  # octets of a literal still to come, per direction
    unfinished: dict[str, int] = {}  # per direction: the folded line that goes on after its literal
    for direction, line in lab.trace.lines(conn):
        if remaining.get(direction, 0) > 0:
            remaining[direction] -= len(line.encode("utf-8")) + 2  # the line and its CRLF
            continue
        # The other side may speak meanwhile (the "+" that lets a client send its literal), so
        # the rest of a line is found by direction, not as the line before.
        index = unfinished.pop(direction, None)
        if index is not None:  # the rest of a line after its literal, e.g. ")" closing a FETCH response
            folded[index] = (direction, f"{folded[index][1]} {line}".rstrip())
        else:
            index = len(folded)
            folded.append((direction, line))
        announced = _LITERAL.search(line)
        if announced:
            remaining[direction] = int(announced.group(1))
            unfinished[direction] = index
    return folded


def _imap_exchanges(lab: Lab, conn: Connection) -> list[_ImapExchange]:
    """The commands of one IMAP session, each with its responses, in the order they were sent.

    Untagged responses belong to the oldest command still running (a
    client that pipelines may have several). A client line that answers a
    ``+`` continuation (the DONE that ends IDLE, an AUTHENTICATE response)
    is no command.
    """
    found: list[_ImapExchange] = []
    running: list[_ImapExchange] = []
    answer_next = False  # the client's next line answers a "+" (AUTHENTICATE)
    for direction, line in _imap_lines(lab, conn):
        if direction == C2S:
            idling = next((e for e in running if e.command == "IDLE"), None)
            if idling is not None and line.strip().upper() == "DONE":
                continue
            if answer_next:
                answer_next = False
                continue
            tag, _, rest = line.partition(" ")
            verb, _, argument = rest.partition(" ")
            command = verb.upper()
            if command == "UID":
                sub, _, argument = argument.partition(" ")
                command = f"UID {sub.upper()}"
            exchange = _ImapExchange(tag, command, argument)
            found.append(exchange)
            running.append(exchange)
            continue
        if line.startswith("+"):
            if running and running[0].command == "AUTHENTICATE":
                answer_next = True
            continue
        if line.startswith("* "):
            if running:
                current = running[0]
                # While a client idles, untagged responses answer nothing: the server pushes them.
                (current.pushed if current.command == "IDLE" else current.untagged).append(line)
            continue
        tag, _, rest = line.partition(" ")
        done = next((e for e in running if e.tag == tag), None)
        if done is not None:
            status, _, text = rest.partition(" ")
            done.status, done.text = status.upper(), text
            running.remove(done)
    return found


def _uid_set(text: str) -> set[int]:
    """``1:3,7`` as {1, 2, 3, 7} (RFC 4315's uid-set)."""
    found: set[int] = set()
    for part in text.split(","):
        first, _, last = part.partition(":")
        if first.isdigit() and (not last or last.isdigit()):
            low, high = sorted((int(first), int(last or first)))
            found.update(range(low, high + 1))
    return found


def _numbers(answer: Any) -> list[int] | None:
    """Whole numbers from what imaplib or a student may give: 5, "4 5", b"4 5", [b"4 5"], [4, 5]..."""
    items = answer if isinstance(answer, (list, tuple, set, frozenset)) else [answer]
    found: list[int] = []
    for item in items:
        if isinstance(item, bool):
            return None
        if isinstance(item, int):
            found.append(item)
            continue
        if isinstance(item, bytes):
            item = item.decode("ascii", "replace")
        if not isinstance(item, str):
            return None
        for word in item.replace(",", " ").split():
            if not word.isdigit():
                return None
            found.append(int(word))
    return found


def _jane_inbox(lab: Lab) -> list[tuple[int, frozenset[str]]]:
    """(UID, flags) of each message in jane's INBOX on her server, in UID order: sequence number n is item n."""
    store = lab.server("somewhereelse.com").store
    return [(info.uid, info.flags) for info in store.list(JANE_ACCOUNT)]


def _marked_seen_by_fetch(lab: Lab) -> bool:
    """Did some IMAP session fetch a message's text without .PEEK, which sets \\Seen (RFC 3501 section 6.4.5)?"""
    for conn in lab.trace.sessions(protocol="IMAP"):
        for exchange in _imap_exchanges(lab, conn):
            if exchange.command in ("FETCH", "UID FETCH"):
                items = exchange.argument.upper()
                if re.search(r"\bBODY\[|\bRFC822(?![.](HEADER|SIZE))\b", items):
                    return True
    return False


def unread_uids(lab: Lab, uids: Any) -> None:
    """Exercise: the UIDs of jane's unread messages in her INBOX, found with imaplib."""
    if uids is ...:
        _wrong("You have not answered yet: replace the ... with the UIDs you found, as a list of numbers.")
    answer = _numbers(uids)
    if answer is None:
        _wrong(f"{uids!r} is not a list of numbers. imaplib answers with bytes such as b'4 5': "
               "split them and turn each into an int.")
    inbox = _jane_inbox(lab)
    unread = {uid for uid, flags in inbox if "\\Seen" not in flags}
    given = set(answer)
    if given == unread and unread:
        _correct(f"UIDs {', '.join(map(str, sorted(unread)))}: the messages without \\Seen, named as they "
                 "will be named in every session.")
        return
    if not unread:
        hint = (" A FETCH of BODY[] (without .PEEK) sets \\Seen: yours may have marked them read."
                if _marked_seen_by_fetch(lab) else "")
        _wrong("jane's INBOX has no unread message now: every one has \\Seen." + hint
               + " Mark one unread again (STORE -FLAGS (\\Seen)) and look again.")
    sequence = {n for n, (uid, flags) in enumerate(inbox, 1) if "\\Seen" not in flags}
    if given == sequence:
        _wrong(f"{', '.join(map(str, sorted(given)))} are the *sequence numbers* of the unread messages: their "
               "places in the mailbox in this session. They change when a message above them goes. Ask for "
               "the UIDs instead.")
    every = {uid for uid, _ in inbox}
    unknown = sorted(given - every)
    if unknown:
        _wrong(f"No message in jane's INBOX has the UID {', '.join(map(str, unknown))}. Did you give sequence "
               "numbers, or look in another folder?")
    read = sorted(given - unread)
    if read:
        hint = (" (A FETCH of BODY[] without .PEEK marks a message read: did yours?)"
                if _marked_seen_by_fetch(lab) else "")
        _wrong(f"UID {', '.join(map(str, read))} has the \\Seen flag: jane has read it.{hint} Which search key "
               "finds the messages without \\Seen?")
    missing = sorted(unread - given)
    _wrong(f"Right so far, but incomplete: UID {', '.join(map(str, missing))} is unread too. Search every "
           "message of the INBOX, not only some.")


PHONE_DEVICE = "jane-phone"


def idle_news(lab: Lab, line: Any) -> None:
    """Exercise: copy the untagged response that told the idling phone about joe's new message."""
    text = _server_line(line, "the output above, in quotes", "the phone sent it. The news came from the server.")
    exchanges = [e for conn in lab.trace.sessions(protocol="IMAP")
                 if conn.client == PHONE_DEVICE for e in _imap_exchanges(lab, conn)]
    idles = [e for e in exchanges if e.command == "IDLE"]
    if not idles:
        _wrong(f"{PHONE_DEVICE} has not idled yet: run the cell where it sends IDLE and joe writes.")
    if any(text in e.pushed and re.fullmatch(r"\* \d+ EXISTS", text, re.IGNORECASE) for e in idles):
        _correct("* n EXISTS: the mailbox holds n messages now, one more than the phone knew. It came "
                 "while the phone was idling, without a command: pushed, not polled.")
        return
    if any(text in e.pushed for e in idles):
        if re.fullmatch(r"\* \d+ RECENT", text, re.IGNORECASE):
            _wrong("Close: RECENT came with the news, but it counts the messages that no other session has "
                   "seen yet, and IMAP4rev2 dropped it. Which line says how many messages the mailbox holds now?")
        if "FETCH" in text.upper():
            _wrong("That line reports flags that changed, not a new message.")
        if "EXPUNGE" in text.upper():
            _wrong("EXPUNGE says a message has gone. You want the one that says the mailbox has grown.")
        _wrong("That line came while the phone was idling, but it is not the news of a new message.")
    if text.startswith("+"):
        _wrong("That is the continuation request: the server's go-ahead, 'I am idling, tell me when to "
               "stop'. It came before joe wrote. Look at what came after it.")
    if text.upper() == "DONE" or any(text == f"{e.tag} {e.command} {e.argument}".strip() for e in exchanges):
        _wrong("That is a line the phone sent. The news came from the server.")
    if any(text == f"{e.tag} {e.status} {e.text}".strip() for e in idles):
        _wrong("That is the tagged completion of IDLE: the server says OK after the phone's DONE. The news "
               "came before it, untagged.")
    if any(text in e.untagged for e in exchanges):
        if re.fullmatch(r"\* \d+ EXISTS", text, re.IGNORECASE):
            _wrong("That EXISTS answered a command (SELECT, say): the phone asked. The one you want arrived "
                   "while the phone was idling, without being asked.")
        _wrong("That untagged line answered one of the phone's commands. The news arrived while the phone "
               "was idling, between the '+' and the DONE.")
    _wrong(f"{text!r} is not a line the server sent to {PHONE_DEVICE}. Copy one line exactly as printed "
           "(with or without the 'S: ' in front).")


def _subjects_in(lab: Lab, folder: str) -> dict[int, str]:
    store = lab.server("somewhereelse.com").store
    return {info.uid: str(parse(store.get(JANE_ACCOUNT, info.uid, folder)).get("Subject", ""))
            for info in store.list(JANE_ACCOUNT, folder)}


def archived_offline(lab: Lab) -> None:
    """Exercise: jane-laptop moves "Tax return" to Archive while offline; its sync does the move on the server."""
    store = lab.server("somewhereelse.com").store
    if not store.has_folder(JANE_ACCOUNT, ARCHIVE):
        _wrong(f"jane has no folder {ARCHIVE!r} on her server yet: run the cell that creates it, then sync the laptop.")
    where = {folder: [uid for uid, subject in _subjects_in(lab, folder).items() if _same(subject, TAX_RETURN)]
             for folder in store.folders(JANE_ACCOUNT)}
    laptop = lab.clients.get("jane-laptop")
    pending = [c for c in (laptop.imap.pending if laptop else []) if c.action == "MOVE" and _same(c.subject, TAX_RETURN)]
    if where.get("INBOX") and not where.get(ARCHIVE):
        if pending and pending[-1].to_folder != ARCHIVE:
            _wrong(f"jane-laptop's journal moves {TAX_RETURN!r} to {pending[-1].to_folder!r}, not to {ARCHIVE!r}.")
        if pending and laptop is not None and not laptop.online:
            _wrong(f"The move is in jane-laptop's journal, but the laptop is still offline, so the server has "
                   f"not heard of it: {TAX_RETURN!r} is still in the INBOX there. Bring the laptop back online "
                   "and sync.")
        if pending:
            _wrong(f"The move is in jane-laptop's journal, but the laptop has not synced since: on the server "
                   f"{TAX_RETURN!r} is still in the INBOX.")
        _wrong(f"{TAX_RETURN!r} is still in jane's INBOX on the server, and jane-laptop's journal holds no move "
               "for it. Move it with the laptop's own mail program (its IMAP mailbox) while the laptop is offline.")
    if not any(where.values()):
        _wrong(f"{TAX_RETURN!r} is in none of jane's folders on the server: deleted, or never arrived? "
               "Run the cell where joe sends it, and try again with the new one.")
    if not where.get(ARCHIVE):
        folder = next(f for f, uids in where.items() if uids)
        _wrong(f"{TAX_RETURN!r} is in {folder!r} on the server, not in {ARCHIVE!r}.")
    if where.get("INBOX"):
        _wrong(f"{ARCHIVE!r} holds a copy of {TAX_RETURN!r}, but the INBOX still has it too: that was a copy, "
               "not a move.")
    archived = set(where[ARCHIVE])
    validity = store.uidvalidity(JANE_ACCOUNT, ARCHIVE)
    mover: tuple[Connection, list[_ImapExchange], int] | None = None
    for conn in lab.trace.sessions(protocol="IMAP"):
        exchanges = _imap_exchanges(lab, conn)
        for index, e in enumerate(exchanges):
            if e.command not in ("MOVE", "UID MOVE", "COPY", "UID COPY") or e.status != "OK":
                continue
            for said in [*e.untagged, e.text]:
                code = _COPYUID.search(said)
                if code and int(code.group(1)) == validity and _uid_set(code.group(3)) & archived:
                    mover = (conn, exchanges, index)
    if mover is None:
        _wrong(f"{TAX_RETURN!r} is in {ARCHIVE!r}, but no IMAP session in the trace moved it there: it was moved "
               "on the server itself. The exercise asks jane-laptop to move it offline and sync.")
    conn, exchanges, index = mover
    if conn.client != "jane-laptop":
        _wrong(f"It was {conn.client}'s session that moved {TAX_RETURN!r}, not jane-laptop's. Let the laptop do "
               "it, offline, and let its sync carry the move to the server.")
    if not any(e.command == "LIST" for e in exchanges[index + 1:]):
        _wrong("jane-laptop moved it with IMAP commands of its own, online (by hand?). The exercise asks for the "
               "disconnected way: the laptop offline, the move in its journal, then a sync.")
    if laptop is None or not any(_same(m.subject, TAX_RETURN) for m in laptop.imap.messages(ARCHIVE)):
        _wrong(f"The server has {TAX_RETURN!r} in {ARCHIVE!r}, but jane-laptop's cache does not show it there yet. "
               "Sync the laptop once more.")
    verb = exchanges[index].command
    _correct(f"jane-laptop's sync replayed the move ({verb}): {TAX_RETURN!r} is in {ARCHIVE!r}, on the server and "
             "in the laptop's cache, and no longer in the INBOX.")


def _same(a: str, b: str) -> bool:
    return a.strip().casefold() == b.strip().casefold()


# -- 07 · Webmail ------------------------------------------------------------------------------------

WEB_USER, WEB_PASSWORD = "jane@somewhereelse.com", "jane-password"
WEB_DOMAIN = "somewhereelse.com"
OFFICE = "jane-office"  # the old PC that fetches jane's mail by POP3


def _http_sessions(lab: Lab) -> list[Connection]:
    return lab.trace.sessions(protocol="HTTP")


def _set_cookies(lab: Lab) -> list[str]:
    """Every Set-Cookie value the webmail sent, in order (RFC 6265 section 4.1)."""
    from .viz.webmail import http_exchanges

    found = []
    for conn in _http_sessions(lab):
        for exchange in http_exchanges(lab.trace, conn):
            if exchange.response is not None:
                found += [v for k, v in exchange.response.headers if k.lower() == "set-cookie"]
    return found


def _header_names(lab: Lab) -> tuple[set[str], set[str]]:
    """The header field names the browser sent, and those the webmail sent, lower case."""
    from .viz.webmail import http_exchanges

    sent: set[str] = set()
    got: set[str] = set()
    for conn in _http_sessions(lab):
        for exchange in http_exchanges(lab.trace, conn):
            sent.update(k.lower() for k, _ in exchange.request.headers)
            if exchange.response is not None:
                got.update(k.lower() for k, _ in exchange.response.headers)
    return sent, got


def set_cookie_line(lab: Lab, answer: Any) -> None:
    """Exercise: copy the header line with which the webmail gives the browser its session cookie.

    The transcript masks every token; a line with a real token in it is
    refused, and the check never repeats it.
    """
    line = _server_line(answer, "the transcript", "the browser sent it. The cookie comes from the server first.")
    cookies = _set_cookies(lab)
    if not cookies:
        _wrong("No webmail response in the trace has set a cookie yet: run the cells that log jane in.")
    name, colon, value = line.partition(":")
    name, value = name.strip().lower(), value.strip()
    if re.match(r"^HTTP/\d\.\d \d{3}", line):
        _wrong("That is a status line: it says how the request went. The cookie travels in a header field "
               "of a response, on a line of its own below it.")
    if re.match(r"^(GET|POST|HEAD|PUT|DELETE) \S+", line):
        _wrong("That is a request line: the browser sent it. The cookie comes from the server.")
    if not colon:
        _wrong(f"{line!r} is not a header line (a header line is 'Name: value'). Copy one line of the "
               "transcript as it is printed.")
    sent, got = _header_names(lab)
    if name == "cookie":
        _wrong("Close: with the Cookie header the browser sends the cookie *back*, with every request after the "
               "login. Which header of the server's response gave it to the browser in the first place?")
    if name != "set-cookie":
        if name == "location":
            _wrong("Location tells the browser where to go next (the redirect after the login). The cookie "
                   "comes in another header field of the same response.")
        if name in got:
            _wrong(f"The server did send a {line.partition(':')[0].strip()} header, but it does not carry the "
                   "cookie. Look for the one whose name says so.")
        if name in sent:
            _wrong(f"{line.partition(':')[0].strip()} is a header the browser sent. The cookie comes from the server.")
        _wrong(f"No response in the trace has a header called {line.partition(':')[0].strip()!r}. Copy one line "
               "of the transcript exactly as it is printed.")
    cookie, _, rest = value.partition(";")
    cookie_name, _, token = cookie.partition("=")
    real = {c.partition(";")[0].partition("=")[2].strip() for c in cookies} - {""}
    if token.strip() in real:
        _wrong("That line holds a real session token: whoever has it is logged in as jane, as with her "
               "password. Never copy a token anywhere. Copy the line as the transcript prints it, masked.")
    names = {c.partition("=")[0].strip() for c in cookies}
    if cookie_name.strip() not in names:
        _wrong(f"The webmail set no cookie called {cookie_name.strip()!r}. Copy the line as the transcript prints it.")
    if not token.strip() or re.search(r"max-age\s*=\s*0", rest, re.IGNORECASE):
        _wrong("That Set-Cookie has no value and Max-Age=0: it tells the browser to *forget* the cookie, at "
               "log out. Find the one that gives the browser a session.")
    _correct("Set-Cookie gives the browser its session; from then on the browser sends it back in a Cookie "
             "header with every request, and that is how a stateless protocol remembers that jane is logged in.")


def _jane_browser(lab: Lab) -> Any:
    from .viz.webmail import WebmailBrowser

    web = WebmailBrowser(lab, lab.server(WEB_DOMAIN), device="jane-laptop")
    page = web.login(WEB_USER, WEB_PASSWORD)
    if page.status != 200:
        web.close()
        _wrong(f"The check could not log in to jane's webmail ({page.status} {page.reason}). "
               "Run the set-up cell again?")
    return web


def _views(lab: Lab) -> dict[str, str]:
    """The views added to jane's webmail: slug -> title."""
    webmail = getattr(lab.server(WEB_DOMAIN), "webmail", None)
    views = getattr(webmail, "views", None) or {}
    if isinstance(views, dict):
        return {str(slug): str(getattr(view, "title", view)) for slug, view in views.items()}
    return {str(getattr(v, "slug", v)): str(getattr(v, "title", v)) for v in views}


def flagged_view(lab: Lab) -> None:
    """Exercise: add a "Flagged" view to the webmail that lists exactly jane's flagged INBOX messages.

    The check asks the webmail for the page of each view over HTTP, as a
    browser would, and compares its rows with the server's store.
    """
    views = _views(lab)
    if not views:
        _wrong("The webmail has no view of yours yet: add one with theirs.webmail.add_view(slug, title, select).")
    store = lab.server(WEB_DOMAIN).store
    inbox = {info.uid: info.flags for info in store.list(JANE_ACCOUNT)}
    flagged = {uid for uid, flags in inbox.items() if "\\Flagged" in flags}
    if not flagged:
        _wrong("jane has no flagged message in her INBOX now: run the cell that flags one by IMAP.")
    web = _jane_browser(lab)
    try:
        verdicts = []
        for slug, title in views.items():
            page = web.get(f"view/{slug}")
            if page.status != 200:
                verdicts.append((3, (f"The page of your view {title!r} (view/{slug}) answered {page.status} "
                                    f"{page.reason}: did your select function fail? Try it on "
                                    "a MailboxView by hand.")))
                continue
            shown = {(row.folder or "INBOX", row.uid) for row in page.messages}
            in_inbox = {uid for folder, uid in shown if folder == "INBOX"}
            others = {(folder, uid) for folder, uid in shown if folder != "INBOX"}
            unflagged = sorted(in_inbox - flagged) + sorted(
                uid for folder, uid in others
                if "\\Flagged" not in next((i.flags for i in store.list(JANE_ACCOUNT, folder) if i.uid == uid), set()))
            missing = sorted(flagged - in_inbox)
            if not unflagged and not missing:
                verdicts.append((0, title))
            elif not shown:
                verdicts.append((2, (f"Your view {title!r} lists no message at all, but jane has "
                                    f"{len(flagged)} flagged one(s) in her INBOX. Which flag does your selection "
                                    "look for? (A Summary has .flags, a set such as {'\\\\Seen'}, and .flagged.)")))
            elif in_inbox >= set(inbox) and len(inbox) > len(flagged):
                verdicts.append((1, (f"Your view {title!r} lists every message of the INBOX: it selects nothing. "
                                    "Keep only the messages with the \\Flagged flag.")))
            elif unflagged:
                verdicts.append((1, (f"Your view {title!r} lists UID {', '.join(map(str, unflagged))}, which "
                                    "is not flagged. Keep only the messages with the \\Flagged flag.")))
            else:
                verdicts.append((1, (f"Your view {title!r} misses UID {', '.join(map(str, missing))}, flagged in "
                                    "jane's INBOX. Look at every message of the INBOX.")))
    finally:
        web.close()
    best = min(verdicts, key=lambda v: v[0])
    if best[0]:
        _wrong(best[1])
    _correct(f"the webmail's view {best[1]!r} lists exactly the {len(flagged)} flagged message(s) of jane's INBOX, "
             "read from the same store that IMAP changed: the feature was missing, not the data.")


def kept_for_webmail(lab: Lab) -> None:
    """Exercise: jane's office PC fetches by POP3 and leaves the mail on the server, so the webmail still shows it."""
    office = lab.clients.get(OFFICE)
    if office is None:
        _wrong(f"The lab has no device called {OFFICE!r}. Run the cell that gives jane her office PC.")
    sessions = [conn for conn in lab.trace.sessions(protocol="POP3") if conn.client == OFFICE]
    fetched = [exchanges for conn in sessions if _retrieved(exchanges := _pop3_exchanges(lab, conn))]
    if not fetched:
        waiting = len(lab.server(WEB_DOMAIN).mailbox(JANE_ACCOUNT))
        _wrong(f"{OFFICE} has downloaded nothing by POP3 yet: "
               + ("jane's INBOX is empty. Run the cell where joe writes to her first."
                  if not waiting else f"{waiting} message(s) wait on the server. Fetch them with the PC."))
    exchanges = fetched[-1]
    if _deleted_at_quit(exchanges):
        _wrong(f"{OFFICE} downloaded the messages and then deleted them on the server (DELE, then QUIT): the "
               "webmail has nothing left to show. Let joe write again, and fetch so that the mail stays on "
               "the server.")
    if not _ended(exchanges):
        _wrong(f"{OFFICE}'s POP3 session has not ended with QUIT yet.")
    subjects = []
    for exchange in _retrieved(exchanges):
        header = exchange.lines[: exchange.lines.index("")] if "" in exchange.lines else exchange.lines
        subjects += [line.split(":", 1)[1].strip() for line in header if line.lower().startswith("subject:")]
    web = _jane_browser(lab)
    try:
        listed = {row.subject for row in web.get("mailbox/INBOX").messages}
    finally:
        web.close()
    gone = [s for s in subjects if s not in listed]
    if gone:
        _wrong(f"{OFFICE} kept the mail on the server, but the webmail's INBOX does not list "
               f"{', '.join(map(repr, gone))}: another device deleted it since. Let joe write again and fetch once more.")
    _correct(f"{OFFICE} has its copies, and the webmail still lists all {len(subjects)} message(s): "
             "the mailbox on the server is what the webmail shows.")
