"""When things go wrong: each SMTP failure, provoked for real and explained.

Every failure in SMTP is a reply (RFC 5321 section 4.2). Its first digit
says what the client must do next (section 4.2.1):

    4yz  "not now":  keep the message and try again later
    5yz  "never":    give up, and tell the sender

Who hears the reply matters as much as the code. A mail program talks only
to its own provider's submission server, so it hears the failures of that
one session *at once* and shows them to its user; the message stays in its
outbox and there is no bounce. A failure further on (at the recipient's
server, while the provider's queue relays the message) comes long after the
mail program was told 250: then the provider's queue deals with it, and the
sender hears of it only through a bounce (RFC 5321 section 6.1, RFC 3464).

`FAILURE_MODES` lists the failures of lesson 05; `provoke` makes one of them
happen on a classic lab (`Lab.classic`) with real traffic and returns a
`FailureReport`: the replies that crossed the wire, what the client did
next, the queue's retries, and the bounce the sender got, parsed::

    report = provoke(lab, "mailbox_full", lifetime=3)
    print(report)                 # the same text on every run
    report.replies                # ['452 4.2.2 <jane@somewhereelse.com>: Mailbox full, ...']
    report.status                 # '4.4.7', from the bounce's delivery-status part

The failures between servers can also be provoked at the submission server,
to compare: ``provoke(lab, "too_large", at="submission")``.

A mailbox that stays full, or a server that keeps failing, ends in a bounce
once the message is older than the queue's lifetime. The lab's queue then
reports ``Status: 4.4.7`` (RFC 3463 "delivery time expired", as sendmail
does) with a Diagnostic-Code that quotes the last reply it got, for example
``452 4.2.2 <jane@...>: Mailbox full``. (Postfix would report the last
reply's own code, 4.2.2; both are in use and both are 4.x.x: "it was only
ever a temporary failure, but we stopped trying".)

`provoke` leaves the lab as it found it: fault switches, limits and queue
timing restored, the sender's outbox as it was (its own demo message
removed), and every server online (a demo needs them all, so it brings back
any that was switched off). Mail it delivered, and bounces, stay where they
arrived. It needs
seconds, not days: pass a small ``lifetime`` (the queue's, in seconds, for
the demo only; 3 by default) and build the lab with small retry intervals,
e.g. ``Lab.classic(seed=1, retry_intervals=(0.5,))``.
"""
from __future__ import annotations

import contextlib
import inspect
import re
import smtplib
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import TYPE_CHECKING, Callable, Iterator

from .clienthost import ClientHost, SendResult
from .errors import LabError
from .mailserver import MailServer
from .servers import MX, SUBMISSION
from .trace import C2S

if TYPE_CHECKING:
    from .lab import Lab
    from .trace import Connection

__all__ = ["FAILURE_MODES", "DeliveryStatus", "FailureMode", "FailureReport", "delivery_statuses",
           "modes_table", "provoke"]


@dataclass(frozen=True)
class FailureMode:
    """One way SMTP fails: the reply, who notices, and what the client does next."""

    name: str
    title: str
    codes: tuple[str, ...]  # basic and enhanced codes, e.g. "452 4.2.2"
    where: str  # which server says it, at which command
    noticed_by: str
    client_next: str
    rfc: str

    @property
    def temporary(self) -> bool:
        """4yz: the client keeps the message and tries again later."""
        return self.codes[0].startswith("4")

    def __str__(self) -> str:
        return f"{self.title} ({', '.join(self.codes)}): {self.client_next}"


_AT_ONCE = "the client, at once, in the same session"
_TELLS_USER = "gives up and tells the user; nothing was accepted, so there is no bounce"

FAILURE_MODES: dict[str, FailureMode] = {m.name: m for m in (
    FailureMode(
        "syntax_error", "Syntax error", ("500 5.5.2", "501 5.5.4"),
        "any SMTP server, at a command it cannot read (500) or whose arguments it cannot read (501)",
        _AT_ONCE, _TELLS_USER,
        "RFC 5321 sections 4.2.2 and 4.3.2; RFC 3463 X.5.2 and X.5.4"),
    FailureMode(
        "bad_sequence", "Bad sequence of commands", ("503 5.5.1",),
        "any SMTP server, at a command out of order (RCPT before MAIL, DATA before RCPT)",
        _AT_ONCE, _TELLS_USER,
        "RFC 5321 sections 4.1.4 and 4.3.2"),
    FailureMode(
        "unknown_user", "Unknown user", ("550 5.1.1",),
        "the recipient's server, at RCPT TO",
        "whoever sends the RCPT TO: the sending server while it relays, or the mail program "
        "when the recipient is on its own server",
        "gives up: a relaying server bounces the message to its sender; a mail program tells the user",
        "RFC 5321 sections 3.3, 4.2.2 and 6.1; RFC 3463 X.1.1; RFC 3464 (the bounce)"),
    FailureMode(
        "mailbox_full", "Mailbox full", ("452 4.2.2",),
        "the recipient's server, at RCPT TO",
        "the sending server's queue, while it relays",
        "keeps the message and retries later; bounces it only when it is too old (4.4.7)",
        "RFC 5321 sections 4.2.1 and 4.5.4.1; RFC 3463 X.2.2 and X.4.7"),
    FailureMode(
        "temporary_failure", "Temporary failure", ("451 4.3.0",),
        "any SMTP server, at the end of DATA (the message is not kept)",
        "whoever sent the message: the sending server's queue, or the mail program",
        "keeps the message and retries later",
        "RFC 5321 sections 4.2.1 and 4.5.4.1; RFC 3463 X.3.0"),
    FailureMode(
        "too_large", "Message too large", ("552 5.3.4",),
        "any SMTP server, at MAIL FROM with SIZE= or at the end of DATA; "
        "its limit is advertised as SIZE in the reply to EHLO",
        "the client of that server: the sending server while it relays, or the mail program",
        "gives up: a relaying server bounces the message; a mail program tells the user, "
        "who makes the message smaller",
        "RFC 1870 sections 4 and 6; RFC 3463 X.3.4"),
    FailureMode(
        "relay_refused", "Relay access denied", ("554 5.7.1",),
        "a server asked, by a client that has not logged in, to pass mail on to another domain, "
        "at RCPT TO",
        _AT_ONCE,
        "gives up and tells the user, who sets the mail program to the submission port with a login",
        "RFC 5321 section 3.6.1; RFC 6409; RFC 5068"),
    FailureMode(
        "auth_required", "Authentication required", ("530 5.7.0",),
        "the submission server, at MAIL FROM before AUTH",
        _AT_ONCE,
        "gives up and tells the user, who turns on the login in the mail program's settings",
        "RFC 4954 section 6; RFC 6409 section 4.3"),
    FailureMode(
        "auth_failed", "Authentication failed", ("535 5.7.8",),
        "the submission server, at AUTH",
        _AT_ONCE,
        "gives up and tells the user, who types the password again",
        "RFC 4954 sections 4 and 6"),
)}


def modes_table() -> str:
    """`FAILURE_MODES` as a plain text table (reply, who notices, what happens next)."""
    rows = [("mode", "reply", "what the client does next")]
    rows += [(m.name, ", ".join(m.codes), m.client_next) for m in FAILURE_MODES.values()]
    width = [max(len(r[i]) for r in rows) for i in range(2)]
    return "\n".join(f"{a:<{width[0]}}  {b:<{width[1]}}  {c}" for a, b, c in rows)


# -- the bounce, read as a program reads it ------------------------------------------------

@dataclass(frozen=True)
class DeliveryStatus:
    """One recipient's block of a bounce's message/delivery-status part (RFC 3464 section 2.3)."""

    recipient: str
    action: str  # "failed", "delayed", ...
    status: str  # RFC 3463 code, e.g. "5.1.1"
    diagnostic: str  # what the remote server said, e.g. "smtp; 550 5.1.1 ..."


def delivery_statuses(bounce: EmailMessage) -> list[DeliveryStatus]:
    """The per-recipient statuses of a bounce (a multipart/report, RFC 6522)."""
    statuses = []
    for part in bounce.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        for block in part.get_payload():
            if block.get("Final-Recipient") is None:
                continue  # the per-message block (Reporting-MTA, Arrival-Date)
            statuses.append(DeliveryStatus(
                recipient=_unfold(block["Final-Recipient"]).partition(";")[2].strip(),
                action=_unfold(block.get("Action", "")),
                status=_unfold(block.get("Status", "")),
                diagnostic=_unfold(block.get("Diagnostic-Code", ""))))
    return statuses


def _unfold(value: object) -> str:
    return " ".join(str(value).split())


def _original_headers(bounce: EmailMessage) -> str:
    for part in bounce.walk():
        if part.get_content_type() == "text/rfc822-headers":
            payload = part.get_payload(decode=True)
            return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else str(payload)
    return ""


# -- the report ---------------------------------------------------------------------------------

@dataclass
class FailureReport:
    """What `provoke` saw: the replies, what the client did, and the bounce.

    ``replies`` are the reply lines, as they crossed the wire, that show the
    failure; ``exchange`` pairs each with the client line it answered.
    ``relayed`` is True when the failure came between the servers, after
    joe's own server had accepted the message. ``outbox`` lists the subjects left in the sender's outbox right after the
    failure (None where no mail program was involved, only a bare SMTP
    client). ``attempts`` counts the sending server's delivery attempts (0 if
    nothing was queued) and ``queue_log`` is what its queue wrote about the
    message. ``bounce`` is the bounce the sender received, if any.
    """

    mode: FailureMode
    where: str  # which server said it, at which command
    exchange: list[tuple[str, str]]
    client_action: str
    bounce: EmailMessage | None = None
    delivered: bool = False
    sessions: list[Connection] = field(default_factory=list)
    outbox: list[str] | None = None
    attempts: int = 0
    queue_log: list[str] = field(default_factory=list)
    relayed: bool = False  # it failed between servers, after joe's server had said 250

    @property
    def replies(self) -> list[str]:
        return [reply for _, reply in self.exchange]

    @property
    def statuses(self) -> list[DeliveryStatus]:
        return delivery_statuses(self.bounce) if self.bounce is not None else []

    @property
    def status(self) -> str | None:
        """The bounce's Status: for the (first) failed recipient, e.g. "4.4.7"; None without a bounce."""
        return self.statuses[0].status if self.statuses else None

    @property
    def diagnostic(self) -> str | None:
        """The bounce's Diagnostic-Code: for the (first) failed recipient."""
        return self.statuses[0].diagnostic if self.statuses else None

    def __str__(self) -> str:
        # Only what is the same on every run: no ports, times, queue ids or Message-IDs.
        mode = self.mode
        out = [f"{mode.title} ({mode.name}): {', '.join(mode.codes)}", f"Where: {self.where}"]
        out.append("Sessions:")
        labels: list[str] = []
        for conn in self.sessions:
            if conn.label not in labels:
                labels.append(conn.label)
        out += [f"  {label}" for label in labels]
        out.append("On the wire:")
        for command, reply in self.exchange:
            out += [f"  C: {command}", f"  S: {reply}"]
        if self.relayed:
            out.append("Submission: accepted (250); the mail program is done with the message")
        if self.outbox is not None:
            held = ", ".join(repr(s) for s in self.outbox)
            out.append(f"Sender's outbox: {('still holds ' + held) if self.outbox else 'empty'}")
        out.append(f"Client: {self.client_action}")
        if self.attempts:
            log = []
            for entry in self.queue_log:
                entry = re.sub(r"^deferred, next attempt in .*$", "deferred, tries again later", entry)
                if not log or log[-1] != entry:
                    log.append(entry)
            retried = "yes" if self.attempts > 1 else "no"
            out.append(f"Queue of the sending server (retried: {retried}):")
            out += [f"  {entry}" for entry in log]
        if self.bounce is None:
            out.append("Bounce: none")
        else:
            out.append(f"Bounce to {self.bounce['To']}, from {self.bounce['From']}:")
            for st in self.statuses:
                out += [f"  Final-Recipient: rfc822; {st.recipient}", f"  Action: {st.action}",
                        f"  Status: {st.status}", f"  Diagnostic-Code: {st.diagnostic}"]
        out.append(f"Delivered: {'yes' if self.delivered else 'no'}")
        return "\n".join(out)


# -- the stage: the classic lab, put back as it was afterwards -----------------------------------

SENDER_DEVICE = "joe-laptop"
RECIPIENT_DOMAIN = "somewhereelse.com"
RECIPIENT = "jane"


class _Stage:
    """The classic lab's actors, and what `provoke` must put back when it is done."""

    def __init__(self, lab: Lab, lifetime: float, retry_intervals: tuple[float, ...] | None) -> None:
        self.lab = lab
        try:
            self.client: ClientHost = lab.client(SENDER_DEVICE)
            self.remote: MailServer = lab.server(RECIPIENT_DOMAIN)
        except LabError as e:
            raise LabError(f"provoke needs the classic lab (Lab.classic()): {e}") from None
        self.home: MailServer = self.client.server
        self.recipient = f"{RECIPIENT}@{self.remote.domain}"
        self.lifetime = lifetime
        self.retry_intervals = retry_intervals

    @contextlib.contextmanager
    def set(self) -> Iterator[_Stage]:
        lab, client, queue = self.lab, self.client, self.home.queue
        saved_faults = {d: (set(s.faults.mailbox_full), s.faults.temporary_failure)
                        for d, s in lab.servers.items()}
        saved_sizes = {d: s.limits.max_message_size for d, s in lab.servers.items()}
        saved_queue = (queue.lifetime, queue.retry_intervals)
        saved_client = (client.password, client.online)
        held = client.path / "outbox-held-by-provoke"
        for server in lab.servers.values():  # a failure demo needs the whole lab up
            server.faults.reset()
            if not server.is_online:
                server.go_online()
        client.go_online()
        spooled = sorted(client.outbox_path.iterdir())
        if spooled:  # the user's own unsent mail is not part of the demo
            held.mkdir(exist_ok=True)
            for path in spooled:
                path.rename(held / path.name)
        queue.lifetime = self.lifetime
        if self.retry_intervals:
            queue.retry_intervals = tuple(self.retry_intervals)
        self.mark = lab.trace.mark()
        self.log_start = len(queue.log)
        try:
            yield self
        finally:
            for domain, server in lab.servers.items():
                server.faults.reset()
                full, temporary = saved_faults.get(domain, (set(), False))
                server.faults.mailbox_full.update(full)
                server.faults.temporary_failure = temporary
                if domain in saved_sizes:
                    server.limits.max_message_size = saved_sizes[domain]
                if not server.is_online:
                    server.go_online()
            queue.lifetime, queue.retry_intervals = saved_queue
            client.password, client.online = saved_client
            for path in client.outbox_path.iterdir():  # what the demo left unsent
                path.unlink()
            if held.exists():
                for path in sorted(held.iterdir()):
                    path.rename(client.outbox_path / path.name)
                held.rmdir()

    # -- looking at what happened -------------------------------------------------------

    def sessions(self) -> list[Connection]:
        """Joe's sessions and the relays from his server to jane's, since the demo began."""
        return [c for c in self.lab.trace.sessions(since=self.mark)
                if c.client == self.client.name or self._is_relay(c)]

    def relays(self) -> list[Connection]:
        return [c for c in self.lab.trace.sessions(since=self.mark) if self._is_relay(c)]

    def _is_relay(self, conn: Connection) -> bool:
        return conn.client == self.home.hostname and conn.server == self.remote.hostname

    def exchange(self, sessions: list[Connection], also: Callable[[str], bool] | None = None
                 ) -> list[tuple[str, str]]:
        """(client line, reply) for each failure reply (4yz, 5yz) in ``sessions``, once each.

        The client line is the last one the client sent in the exchange before
        that reply: the command, a SASL response, or the "." that ends a
        message. A client that pipelines (RFC 2920) sends MAIL, RCPT and DATA
        before the first reply comes, so the reply is paired with the command
        it answers, not with the line that happened to go out last.
        """
        pairs: list[tuple[str, str]] = []
        for conn in sessions:
            for exchange in self.lab.trace.exchanges(conn):
                sent = ""
                for part in exchange.parts:
                    if part.direction == C2S:
                        sent = part.lines[-1]
                        continue
                    for line in part.lines:
                        failed = line[:1] in ("4", "5") or (also is not None and also(line))
                        if failed and (sent, line) not in pairs:
                            pairs.append((sent, line))
        return pairs

    def queue_log(self, queue_id: str) -> list[str]:
        prefix = f"{queue_id}: "
        return [e[len(prefix):] for e in self.home.queue.log[self.log_start:] if e.startswith(prefix)]

    def bounce_for(self, message_id: str) -> EmailMessage | None:
        """The bounce in the sender's mailbox whose returned header names ``message_id``."""
        for msg in self.home.mailbox(self.client.address):
            if msg.get_content_type() == "multipart/report" and message_id in _original_headers(msg):
                return msg
        return None

    def delivered(self, server: MailServer, user: str, message_id: str) -> bool:
        if user.lower() not in server.users:
            return False
        return any(str(m["Message-ID"]) == message_id for m in server.mailbox(user))

    # -- acting ------------------------------------------------------------------------

    def send(self, to: str, subject: str, body: str) -> tuple[str, SendResult | None, Exception | None]:
        """Joe writes a message and presses Send: (Message-ID, the result, or the error)."""
        msg = self.client.compose(to, subject, body)
        try:
            [result] = self.client.send_all()
        except (smtplib.SMTPException, LabError) as e:
            return str(msg["Message-ID"]), None, e
        return str(msg["Message-ID"]), result, None

    def outbox(self) -> list[str]:
        return [str(m["Subject"]) for m in self.client.outbox]

    def wait(self, condition: Callable[[], bool], what: str) -> None:
        if not self.lab.wait_for(condition, timeout=self.lifetime + 20):
            raise LabError(f"provoke gave up waiting for {what}")


def provoke(lab: Lab, name: str, *, lifetime: float = 3.0, retry_intervals: tuple[float, ...] | None = None,
            **options: object) -> FailureReport:
    """Make the failure ``name`` (a key of `FAILURE_MODES`) happen on a classic lab, and report.

    Joe (device "joe-laptop") writes to jane@somewhereelse.com, or talks SMTP
    by hand where a mail program would never misbehave that way. Options:

    * ``lifetime``: seconds the sending server's queue keeps trying before it
      bounces (for this demo only); ``retry_intervals`` likewise;
    * ``at="submission"`` (unknown_user, mailbox_full, temporary_failure,
      too_large): the failure happens at joe's own server, so his mail
      program hears it at once, instead of at jane's server while relaying;
    * ``clear_after=N`` (mailbox_full, temporary_failure at the MX): the fault
      is cleared after the queue's N-th attempt, so a later attempt delivers;
    * ``size`` (too_large): the smaller limit, in bytes (2000 by default).

    Returns when the story is over (delivered, bounced, or refused) and the
    lab is back as it was.
    """
    try:
        mode = FAILURE_MODES[name]
    except KeyError:
        raise LabError(f"no failure mode {name!r}; the modes are: {', '.join(FAILURE_MODES)}") from None
    run = _PROVOKERS[name]
    takes = [p for p in inspect.signature(run).parameters if p not in ("stage", "mode")]
    unknown = sorted(set(options) - set(takes))
    if unknown:
        raise LabError(f"{name} takes no option {', '.join(unknown)}; "
                       f"its options are: {', '.join(['lifetime', 'retry_intervals', *takes])}")
    clear_after = options.get("clear_after")
    if clear_after is not None and (not isinstance(clear_after, int) or clear_after < 1):
        raise LabError(f"clear_after is a number of delivery attempts (1 or more), not {clear_after!r}")
    stage = _Stage(lab, lifetime, retry_intervals)
    with stage.set():
        return run(stage, mode, **options)


# -- each mode ------------------------------------------------------------------------------

def _by_hand(stage: _Stage, mode: FailureMode, endpoint_service: str, where: str, action: str,
             steps: Callable[[smtplib.SMTP], None]) -> FailureReport:
    """A bare SMTP client on joe's laptop, for failures a good mail program would not cause."""
    endpoint = stage.home.endpoints[endpoint_service]
    with stage.lab.smtp(stage.client.name, endpoint) as client:
        steps(client)
    sessions = stage.sessions()
    return FailureReport(mode, where, stage.exchange(sessions), action, sessions=sessions)


def _syntax_error(stage: _Stage, mode: FailureMode) -> FailureReport:
    me, device = stage.client.address, stage.client.name

    def steps(client: smtplib.SMTP) -> None:
        client.docmd("EHOL", device)  # a typing error in the verb: 500
        client.ehlo(device)
        client.login(me, stage.client.password)
        client.docmd("MAIL", f"FROM {me}")  # the colon and brackets missing: 501
        client.mail(me)  # written properly, the same command is welcome: the session goes on
        client.rset()

    return _by_hand(stage, mode, SUBMISSION, f"{stage.home.hostname} (submission), at the bad commands",
                    "gives up on that command and tells the user: a 5yz is final for the command "
                    "(RFC 5321 section 4.2.1). The session goes on, and the command written properly "
                    "gets 250. Nothing was accepted, so there is no bounce; a mail program that "
                    "sent it has a bug, shows the error, and keeps the message in the outbox.", steps)


def _bad_sequence(stage: _Stage, mode: FailureMode) -> FailureReport:
    me, device = stage.client.address, stage.client.name

    def steps(client: smtplib.SMTP) -> None:
        client.ehlo(device)
        client.login(me, stage.client.password)
        client.docmd("RCPT", f"TO:<{stage.recipient}>")  # before MAIL FROM: 503
        client.docmd("DATA")  # before any RCPT TO: 503
        client.mail(me)
        client.rset()

    return _by_hand(stage, mode, SUBMISSION,
                    f"{stage.home.hostname} (submission), at the commands out of order",
                    "gives up and tells the user: the server answered 503 and did nothing. The "
                    "session goes on; in the right order (MAIL, RCPT, DATA) the transaction works. "
                    "Nothing was accepted, so there is no bounce.", steps)


def _relay_refused(stage: _Stage, mode: FailureMode) -> FailureReport:
    me, device = stage.client.address, stage.client.name

    def steps(client: smtplib.SMTP) -> None:
        client.ehlo(device)  # port 25, as a mail program set up without a login would use it
        client.mail(me)
        client.rcpt(stage.recipient)  # another domain, and no login: 554
        client.rset()

    return _by_hand(stage, mode, MX, f"{stage.home.hostname} (MX, no login), at RCPT TO",
                    "gives up and tells the user: this server passes mail on to other domains only "
                    "for users who have logged in on its submission port; otherwise it would be an "
                    "open relay. The message stays in the outbox; the user sets the mail program "
                    "to the submission port with a login. No bounce.", steps)


def _auth_required(stage: _Stage, mode: FailureMode) -> FailureReport:
    me, device = stage.client.address, stage.client.name

    def steps(client: smtplib.SMTP) -> None:
        client.ehlo(device)
        client.mail(me)  # no AUTH first: 530

    return _by_hand(stage, mode, SUBMISSION, f"{stage.home.hostname} (submission), at MAIL FROM",
                    "gives up and tells the user: the submission server takes mail only from users "
                    "who have logged in (AUTH). The message stays in the outbox; the user turns on "
                    "the login in the mail program's settings. No bounce.", steps)


def _auth_failed(stage: _Stage, mode: FailureMode, password: str = "not-the-password") -> FailureReport:
    stage.client.password = password  # the user mistyped it in the settings
    _, _, error = stage.send(stage.recipient, "Demo: a wrong password", "Sent with a mistyped password.\n")
    if not isinstance(error, smtplib.SMTPAuthenticationError):
        raise LabError(f"expected the login to fail, got {error!r}")
    sessions = stage.sessions()
    return FailureReport(
        mode, f"{stage.home.hostname} (submission), at AUTH", stage.exchange(sessions),
        "gives up and tells the user: the mail program shows \"authentication failed\" and asks for "
        "the password again. The message stays in the outbox until the user types the right "
        "password and presses Send again. No bounce.",
        sessions=sessions, outbox=stage.outbox())


# Failures that can happen at either end: at joe's own server (his mail program
# hears them at once) or at jane's server while joe's server relays (its queue
# hears them, and joe gets a bounce or nothing).

_ACCEPTED = re.compile(r"queued as (\S+)")


def _at_submission(stage: _Stage, mode: FailureMode, to: str, subject: str, body: str, where: str,
                   clear: Callable[[], None] | None) -> FailureReport:
    message_id, result, error = stage.send(to, subject, body)
    if error is not None or result is None or result.ok:
        raise LabError(f"expected joe's server to refuse the message, got {error or result!r}")
    outbox = stage.outbox()
    delivered = False
    if clear is None:
        action = ("gives up and tells the user: the mail program shows the server's reply; the "
                  "message stays in the outbox until the user changes it and presses Send again. "
                  "Nothing was accepted, so there is no bounce.")
    else:
        # 4yz: nothing is wrong with the message. Once the fault is gone, Send again works.
        clear()
        again = stage.client.send_all()
        if not all(r.ok for r in again):
            raise LabError(f"sending again did not work: {again!r}")
        stage.wait(lambda: all(not s.queue.items for s in stage.lab.servers.values()), "the queues to empty")
        server = stage.lab.directory.lookup(to.rpartition("@")[2])
        delivered = server is not None and stage.delivered(server, to.partition("@")[0], message_id)
        action = ("keeps the message in the outbox and tries again later: a 4yz means \"not now\". "
                  "Once the fault was cleared, pressing Send again delivered it. No bounce.")
    sessions = stage.sessions()
    mine = [c for c in sessions if c.client == stage.client.name]
    return FailureReport(mode, where, stage.exchange(mine), action,
                         delivered=delivered, sessions=sessions, outbox=outbox)


def _relayed(stage: _Stage, mode: FailureMode, to: str, subject: str, body: str, where: str,
             clear: Callable[[], None] | None = None, clear_after: int | None = None,
             also: Callable[[str], bool] | None = None) -> FailureReport:
    message_id, result, error = stage.send(to, subject, body)
    if error is not None or result is None or not result.ok:
        raise LabError(f"joe's server should have accepted the message, got {error or result!r}")
    found = _ACCEPTED.search(result.reply)
    if found is None:
        raise LabError(f"no queue id in {result.reply!r}")
    queue_id, queue = found.group(1), stage.home.queue
    item = queue.items.get(queue_id)
    if clear is not None and clear_after is not None:
        stage.wait(lambda: item is None or item.attempts >= clear_after or queue_id not in queue.items,
                   f"attempt {clear_after}")
        clear()
    stage.wait(lambda: queue_id not in queue.items, "the queue to deliver or bounce the message")
    log = stage.queue_log(queue_id)
    attempts = item.attempts if item is not None else 1
    bounce = stage.bounce_for(message_id)
    delivered = stage.delivered(stage.remote, to.partition("@")[0], message_id)
    if mode.temporary and delivered:
        action = ("keeps the message and retries later: the sending server's queue deferred it after "
                  "each 4yz; once the fault was cleared, the next attempt delivered it. No bounce.")
    elif mode.temporary:
        action = ("keeps the message and retries later: the sending server's queue deferred it after "
                  "each 4yz, until the message was older than the queue's lifetime; then it gave up "
                  "and sent the sender a bounce (Status 4.4.7, delivery time expired).")
    else:
        action = ("gives up at once: a 5yz is final, so the sending server did not retry; it sent "
                  "the sender a bounce. Joe's mail program had been told 250 long before.")
    sessions = stage.sessions()
    return FailureReport(mode, where, stage.exchange(stage.relays(), also), action,
                         bounce=bounce, delivered=delivered, sessions=sessions, outbox=stage.outbox(),
                         attempts=attempts, queue_log=log, relayed=True)


def _where(at: str) -> None:
    if at not in (MX, SUBMISSION):
        raise LabError(f"at= is {MX!r} (the recipient's server, while relaying) or {SUBMISSION!r}, not {at!r}")


def _unknown_user(stage: _Stage, mode: FailureMode, at: str = MX) -> FailureReport:
    _where(at)
    subject, body = "Demo: to nobody", "Is anybody there?\n"
    if at == SUBMISSION:
        to = f"nobody@{stage.home.domain}"
        return _at_submission(stage, mode, to, subject, body,
                              f"{stage.home.hostname} (submission), at RCPT TO", None)
    return _relayed(stage, mode, f"nobody@{stage.remote.domain}", subject, body,
                    f"{stage.remote.hostname} (MX), at RCPT TO, while {stage.home.hostname} relays")


def _mailbox_full(stage: _Stage, mode: FailureMode, at: str = MX,
                  clear_after: int | None = None) -> FailureReport:
    _where(at)
    subject, body = "Demo: a full mailbox", "Is there room for this?\n"
    if at == SUBMISSION:
        me = stage.client.address
        stage.home.faults.mailbox_full.add(me.partition("@")[0])
        return _at_submission(stage, mode, me, subject, body,
                              f"{stage.home.hostname} (submission), at RCPT TO",
                              lambda: stage.home.faults.mailbox_full.clear())
    stage.remote.faults.mailbox_full.add(RECIPIENT)
    return _relayed(stage, mode, stage.recipient, subject, body,
                    f"{stage.remote.hostname} (MX), at RCPT TO, while {stage.home.hostname} relays",
                    lambda: stage.remote.faults.mailbox_full.discard(RECIPIENT), clear_after)


def _temporary_failure(stage: _Stage, mode: FailureMode, at: str = MX,
                       clear_after: int | None = None) -> FailureReport:
    _where(at)
    subject, body = "Demo: a temporary failure", "Try me again later.\n"
    server = stage.home if at == SUBMISSION else stage.remote
    server.faults.temporary_failure = True

    def clear() -> None:
        server.faults.temporary_failure = False

    if at == SUBMISSION:
        return _at_submission(stage, mode, stage.recipient, subject, body,
                              f"{server.hostname} (submission), at the end of DATA", clear)
    return _relayed(stage, mode, stage.recipient, subject, body,
                    f"{server.hostname} (MX), at the end of DATA, while {stage.home.hostname} relays",
                    clear, clear_after)


def _too_large(stage: _Stage, mode: FailureMode, at: str = MX, size: int = 2000) -> FailureReport:
    _where(at)
    line = "This line is here to make the message larger than the server accepts.\n"
    body = line * (size // len(line) + 10)
    server = stage.home if at == SUBMISSION else stage.remote
    server.limits.max_message_size = size  # from the next session on: SIZE in EHLO, then 552
    subject = "Demo: a large message"
    if at == SUBMISSION:
        return _at_submission(stage, mode, stage.recipient, subject, body,
                              f"{server.hostname} (submission), at MAIL FROM (SIZE=)", None)
    return _relayed(stage, mode, stage.recipient, subject, body,
                    f"{server.hostname} (MX), at MAIL FROM (SIZE=), while {stage.home.hostname} relays",
                    also=lambda reply: reply[4:].upper().startswith("SIZE"))


_PROVOKERS: dict[str, Callable[..., FailureReport]] = {
    "syntax_error": _syntax_error,
    "bad_sequence": _bad_sequence,
    "unknown_user": _unknown_user,
    "mailbox_full": _mailbox_full,
    "temporary_failure": _temporary_failure,
    "too_large": _too_large,
    "relay_refused": _relay_refused,
    "auth_required": _auth_required,
    "auth_failed": _auth_failed,
}
