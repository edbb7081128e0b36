"""The outgoing queue of a mail server: hold, relay, retry, bounce.

This is what makes e-mail "send and forget". When a server accepts a
message for another domain it writes it here first (on disk, fsynced), then
answers 250. A runner on the lab's loop relays what is due:

* it looks each recipient's domain up in the lab's directory (the MX lookup
  of RFC 5321 section 5.1), or, in a lab with DNS, asks for its MX and A
  records (`next_hop`), and groups the recipients by destination server;
* it opens one SMTP session per destination server and sends every due
  message for that server in it, one transaction each;
* after EHLO it decides, per message, what MAIL FROM must say and whether
  the receiver can take the message at all (`plan_transfer`): BODY=8BITMIME
  and SMTPUTF8 are passed on where the receiver offers them; an 8-bit body
  is converted to 7 bit for a receiver without 8BITMIME; mail that needs
  SMTPUTF8, or a conversion that is impossible, goes back to the sender;
* a 2yz reply for a recipient means done; a 4yz reply, or no connection at
  all, means "try again later" (RFC 5321 section 4.5.4.1): the next attempt
  waits a little longer each time (``retry_intervals``);
* a 5yz reply, or a message still undelivered after ``lifetime`` seconds
  (RFC 5321 section 4.5.4.1 suggests 4-5 days; the lab uses seconds so that a
  lesson can watch it), ends the attempt: the sender gets a bounce
  (`mailcourse.message.delivery_status_notification`). A bounce has the null
  sender ``<>``, so a bounce that cannot be delivered is dropped rather than
  bounced again (RFC 5321 section 6.1).

The SMTP client is the standard library's `smtplib`, run in a worker thread
so that the lab's loop keeps serving while it waits on the network.

TLS between servers (RFC 3207), by the server's ``relay_tls`` policy:

* ``"none"``: plain SMTP, as in the chapter's model (the lab's default, so
  that the lessons read the relay's dialogue in the trace);
* ``"opportunistic"``: STARTTLS when the receiver's EHLO offers it, checking
  its certificate against the lab's CA and the MX host name; plain text
  when it is not offered. That is how most of the Internet's mail travels,
  and why a man in the middle who strips STARTTLS from EHLO wins;
* ``"required"``: STARTTLS or nothing. A receiver that does not offer it
  gets no MAIL FROM: every recipient is deferred with ``4.7.4`` (RFC 3463
  "security features not supported", the code Postfix gives for "TLS is
  required, but was not offered"). Deferred, not bounced, because a
  stripped STARTTLS is usually someone on the path, for a while; the queue
  retries, and a message still held when its lifetime is over bounces with
  ``4.4.7`` and this last reason. A certificate that fails the check defers
  the same way, with ``4.7.5`` ("cryptographic failure"), under either policy.
"""
from __future__ import annotations

import asyncio
import json
import os
import smtplib
import ssl
import threading
import time
from concurrent.futures import Executor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

from .durable import write_atomically
from .errors import DNSTempError
from .eightbit import CannotConvert, has_utf8_header, is_8bit, is_utf8_address, needs_smtputf8, to_7bit
from .protocols.smtp_replies import is_permanent
from .clients.smtp import SMTPClient

if TYPE_CHECKING:
    from .lab import Lab
    from .mailserver import MailServer
    from .tap import Endpoint

NULL_SENDER = "<>"

# A server's ``relay_tls`` policy (see the module's docstring).
NO_TLS, OPPORTUNISTIC, REQUIRED = "none", "opportunistic", "required"
RELAY_TLS_POLICIES = (NO_TLS, OPPORTUNISTIC, REQUIRED)


@dataclass
class QueueItem:
    """One queued message: its envelope and how delivery is going, per recipient."""

    id: str
    mail_from: str
    pending: list[str]
    created: float
    next_attempt: float
    attempts: int = 0
    last_reply: dict[str, str] = field(default_factory=dict)  # recipient -> last 4yz
    # What MAIL FROM declared when the message came in, passed on by the relay. Queue files
    # written before these fields existed load with the defaults (7BIT, no SMTPUTF8); the
    # relay looks at the bytes as well (`plan_transfer`), so such a message still goes right.
    body: str = "7BIT"  # or "8BITMIME" (RFC 6152)
    smtputf8: bool = False  # MAIL FROM said SMTPUTF8 (RFC 6531)


@dataclass
class Outcome:
    """What one relay session said about each recipient of one message."""

    delivered: list[str] = field(default_factory=list)
    deferred: dict[str, str] = field(default_factory=dict)  # recipient -> reason
    failed: dict[str, str] = field(default_factory=dict)  # recipient -> 5yz reply
    notes: list[str] = field(default_factory=list)  # what the relay did on the way, for the queue's log


@dataclass
class Transfer:
    """How one queued message goes to one receiver, as `plan_transfer` decided it."""

    rcpts: list[str]  # the recipients to name in RCPT TO
    mail_options: list[str]  # the MAIL FROM parameters: BODY=8BITMIME, SMTPUTF8, or none
    data: bytes  # what follows DATA: the message as queued, or its 7-bit conversion
    refused: dict[str, str] = field(default_factory=dict)  # recipient -> why the relay gives up (5.6.x)
    converted: bool = False  # data is the 7-bit conversion of the queued message


def plan_transfer(item: QueueItem, raw: bytes, rcpts: list[str], extensions: Iterable[str],
                  receiver: str = "the receiving server") -> Transfer:
    """Decide how ``raw`` goes to ``rcpts`` at a receiver whose EHLO offered ``extensions``.

    Pure: the relay calls it after EHLO, with the names of the extensions
    the receiver listed (``smtplib``'s ``esmtp_features``), and does what it
    says. Three outcomes, per recipient:

    * **pass on**: MAIL FROM carries what the message needs and the receiver
      offers: ``BODY=8BITMIME`` for an 8-bit body or one the client declared
      so (RFC 6152 section 3), ``SMTPUTF8`` for UTF-8 in the envelope or the
      header, or when the client said it (RFC 6531 section 3.4);
    * **convert**: an 8-bit body for a receiver without 8BITMIME is made
      7-bit (`mailcourse.eightbit.to_7bit`) and goes without BODY=, as RFC
      6152 section 3 allows;
    * **return to the sender**, with the enhanced status code of RFC 3463
      that says why: 5.6.3 when the body needs converting and cannot be
      converted; 5.6.7 for a recipient (or a sender) address outside ASCII
      and a receiver without SMTPUTF8; 5.6.9 for UTF-8 header fields and a
      receiver without SMTPUTF8 (RFC 6531 section 4 defines 5.6.7 and 5.6.9).

    Why no conversion for UTF-8 header fields? An address in From: or To:
    has no 7-bit spelling (RFC 2047 section 5 forbids encoded words in an
    addr-spec), and in-transit downgrading was left out of the standard on
    purpose (RFC 6530 section 7): the relay would have to rewrite fields
    that the author, and a DKIM signature, vouch for. A Subject alone could
    be written as RFC 2047 encoded words, but a relay that edits some header
    fields and bounces for others would be harder to predict, and to teach.
    """
    offered = {name.lower() for name in extensions}
    refused: dict[str, str] = {}
    if "smtputf8" not in offered:
        no_utf8 = f"{receiver} does not offer SMTPUTF8 (RFC 6531)"
        if is_utf8_address(item.mail_from):
            refused = {r: f"5.6.7 {no_utf8}, which the non-ASCII sender address needs" for r in rcpts}
        else:
            refused = {r: f"5.6.7 {no_utf8}, which this non-ASCII address needs" for r in rcpts
                       if is_utf8_address(r)}
        rcpts = [r for r in rcpts if r not in refused]
        if rcpts and has_utf8_header(raw):
            why = f"5.6.9 {no_utf8}, which UTF-8 in the header fields needs (RFC 6532)"
            refused.update({r: why for r in rcpts})
            rcpts = []
    options: list[str] = []
    data = raw
    eight_bit = is_8bit(raw)
    if rcpts and (eight_bit or item.body == "8BITMIME"):
        if "8bitmime" in offered:
            options.append("BODY=8BITMIME")
        elif eight_bit:  # declared 8BITMIME but 7-bit after all: it goes as it is
            try:
                data = to_7bit(raw)
            except CannotConvert as e:
                why = f"5.6.3 {receiver} does not offer 8BITMIME (RFC 6152), and the message cannot be made 7-bit: {e}"
                refused.update({r: why for r in rcpts})
                rcpts = []
    if rcpts and "smtputf8" in offered and (item.smtputf8 or needs_smtputf8(item.mail_from, rcpts, raw)):
        options.append("SMTPUTF8")
    return Transfer(rcpts, options, data, refused, converted=data is not raw)


class _NoTLS(Exception):
    """The relay will not go on without TLS: ``reason`` (an enhanced code and why) defers every recipient."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def relay_session(endpoint: Endpoint, helo: str, batch: list[tuple[QueueItem, bytes, list[str]]],
                  claim: Callable, timeout: float, tls: str = NO_TLS,
                  tls_context: Callable[[], ssl.SSLContext] | None = None) -> list[Outcome]:
    """One SMTP session to one destination server, one transaction per message.

    ``tls`` is the sending server's policy, ``tls_context`` what gives the
    client context that trusts the lab's CA. Runs in a worker thread. Never
    raises: every failure becomes an outcome.
    """
    outcomes = [Outcome() for _ in batch]
    client = SMTPClient(helo, claim, timeout)
    try:
        client.connect(*endpoint.reachable_address())  # refused at once if it is switched off
        client.ehlo()
        if tls != NO_TLS:
            notes = _start_tls(client, endpoint.device, tls, tls_context)
            for outcome in outcomes:
                outcome.notes += notes
        for (item, raw, rcpts), outcome in zip(batch, outcomes):
            sender = "" if item.mail_from == NULL_SENDER else item.mail_from
            plan = plan_transfer(item, raw, rcpts, client.esmtp_features, endpoint.device)
            outcome.failed.update(plan.refused)
            if plan.converted:
                outcome.notes.append(f"converted to 7 bit for {endpoint.device}, which does not offer 8BITMIME")
            if not plan.rcpts:
                continue
            try:
                refused = client.sendmail(sender, plan.rcpts, plan.data, mail_options=plan.mail_options)
            except smtplib.SMTPRecipientsRefused as e:
                refused = e.recipients
            except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as e:
                refused = {r: (e.smtp_code, e.smtp_error) for r in plan.rcpts}
            for rcpt in plan.rcpts:
                if rcpt not in refused:
                    outcome.delivered.append(rcpt)
                    continue
                code, text = refused[rcpt]
                reply = f"{code} {text.decode('utf-8', 'replace') if isinstance(text, bytes) else text}"
                (outcome.failed if is_permanent(code) else outcome.deferred)[rcpt] = reply
        client.quit()
    except _NoTLS as e:
        for (item, raw, rcpts), outcome in zip(batch, outcomes):
            outcome.deferred.update({rcpt: e.reason for rcpt in rcpts})
        try:
            client.quit()  # say goodbye politely: nothing was sent
        except (OSError, smtplib.SMTPException):
            pass
    except (OSError, smtplib.SMTPException) as e:
        # No connection, or it broke: whatever was not answered is tried again later.
        reason = "connection refused" if isinstance(e, ConnectionRefusedError) else f"connection failed ({e})"
        for (item, raw, rcpts), outcome in zip(batch, outcomes):
            for rcpt in rcpts:
                if rcpt not in outcome.delivered and rcpt not in outcome.failed:
                    outcome.deferred.setdefault(rcpt, reason)
    finally:
        client.close()
    return outcomes


def _start_tls(client: SMTPClient, receiver: str, policy: str,
               tls_context: Callable[[], ssl.SSLContext] | None) -> list[str]:
    """STARTTLS if the receiver offers it, by ``policy``; returns notes for the queue's log.

    Raises `_NoTLS` when the relay must not go on: TLS required but not
    offered, or a handshake that failed (RFC 3207 section 4.1: a client that
    is not satisfied with the TLS negotiation should close the connection).
    """
    if not client.has_extn("starttls"):
        if policy == REQUIRED:
            raise _NoTLS(f"4.7.4 TLS is required, but was not offered by {receiver} (no STARTTLS after EHLO)")
        return [f"sent without TLS: {receiver} did not offer STARTTLS"]
    assert tls_context is not None
    try:
        # The certificate must name the MX host, not 127.0.0.1 where it happens to be reached.
        client.starttls(context=tls_context(), server_hostname=receiver)
    except ssl.SSLError as e:  # SSLCertVerificationError among them
        raise _NoTLS(f"4.7.5 TLS with {receiver} failed: {e.reason or e}") from None
    client.ehlo()  # RFC 3207 section 4.2: the client must say EHLO again; the list may differ now
    return [f"sent with TLS ({client.sock.version()}) to {receiver}"]  # type: ignore[union-attr]


def next_hop(lab: Lab, domain: str, device: str) -> MailServer | str:
    """Where mail for ``domain`` goes, asked of the lab's DNS by ``device`` (RFC 5321 section 5.1).

    The MX records, lowest preference first; then the A record of each
    exchange. A domain with no MX but an A record is its own mail host (the
    "implicit MX"). The host found is the lab server of that host name
    (every lab server listens on 127.0.0.1: the address alone would not say
    which). Returns the server, or a reply: ``550 5.1.2`` for a domain that
    does not exist (NXDOMAIN, or outside the lab's zones) or has no address,
    ``451 4.4.3`` when DNS gives no answer for now (RFC 3463: "directory
    server failure"), which the queue retries.
    """
    assert lab.dns is not None
    try:
        mx = lab.dns.query(domain, "MX", device)
        if mx.rcode != "NOERROR":
            return f"550 5.1.2 {domain}: no such domain ({mx.rcode} from DNS)"
        ranked = sorted((int(pref), host) for pref, host in (r.split() for r in mx.records))
        hosts = [host for _, host in ranked] or [domain]  # no MX: the domain itself (implicit MX)
        for host in hosts:
            if lab.dns.resolve(host, "A", device):
                name = host.lower().rstrip(".")
                server = next((s for s in lab.servers.values() if name in (s.hostname, s.domain)), None)
                if server is not None:
                    return server
    except DNSTempError as e:
        return f"451 4.4.3 {e}"
    return f"550 5.1.2 {domain}: no mail host with an address (MX, then A, RFC 5321 section 5.1)"


class OutgoingQueue:
    """The persistent queue of one `MailServer` (its ``queue/`` folder)."""

    def __init__(self, server: MailServer, path: Path, retry_intervals: tuple[float, ...],
                 lifetime: float, executor: Executor, relay_timeout: float = 10.0) -> None:
        self.server = server
        self.path = path
        self.path.mkdir(parents=True, exist_ok=True)
        self.retry_intervals = tuple(retry_intervals) or (1.0,)
        self.lifetime = lifetime
        self.executor = executor
        self.relay_timeout = relay_timeout
        self.items: dict[str, QueueItem] = {}
        self._lock = threading.Lock()  # enqueue may run in a worker thread
        self.log: list[str] = []  # what the queue did, for lessons and tests
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._load()

    # -- on disk -------------------------------------------------------------------

    # A queue file is one line of JSON (the envelope as received) and then the
    # message: one file, so one fsync makes both durable before SMTP says 250.
    # How delivery is going (attempts, recipients still pending) is written to
    # <id>.json after each attempt that leaves the message in the queue.

    def _load(self) -> None:
        for stray in self.path.glob("*.tmp"):
            stray.unlink()
        for queued in sorted(self.path.glob("*.queued")):
            with open(queued, "rb") as f:
                envelope = json.loads(f.readline())
                size = envelope.pop("size", None)
                torn = size is not None and len(f.read()) != size
            if torn:  # cut short by a crash before the 250: the client still has it
                queued.unlink()
                continue
            state = queued.with_suffix(".json")
            if state.exists():
                envelope = json.loads(state.read_text())
            item = QueueItem(**envelope)
            self.items[item.id] = item

    def _save(self, item: QueueItem) -> None:
        write_atomically(self.path / f"{item.id}.json", json.dumps(asdict(item)).encode())

    def _remove(self, item: QueueItem) -> None:
        # Files first: once ``items`` is empty, `Lab.wait_for_delivery` says the queue is.
        (self.path / f"{item.id}.json").unlink(missing_ok=True)
        (self.path / f"{item.id}.queued").unlink(missing_ok=True)
        with self._lock:
            self.items.pop(item.id, None)

    def raw(self, item: QueueItem) -> bytes:
        """The queued message itself (what will be sent after DATA)."""
        with open(self.path / f"{item.id}.queued", "rb") as f:
            f.readline()
            return f.read()

    def enqueue(self, queue_id: str, mail_from: str, rcpts: list[str], raw: bytes, *,
                body: str = "7BIT", smtputf8: bool = False) -> QueueItem:
        """Write the message and its envelope to disk (fsync) and wake the runner.

        ``body`` and ``smtputf8`` are what MAIL FROM declared (BODY=, SMTPUTF8).
        Safe to call from any thread.
        """
        now = time.time()
        item = QueueItem(queue_id, mail_from or NULL_SENDER, list(rcpts), now, now, body=body, smtputf8=smtputf8)
        head = json.dumps(dict(asdict(item), size=len(raw))).encode()
        # Written in place rather than through a temporary file and a rename:
        # one fsync then makes the data and the new directory entry durable
        # together; a file cut short by a crash is recognised by its size.
        with open(self.path / f"{queue_id}.queued", "xb") as f:
            f.write(head + b"\n" + raw)
            f.flush()
            os.fsync(f.fileno())
        fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(fd)  # what POSIX asks for the directory entry (nearly free after the above)
        finally:
            os.close(fd)
        with self._lock:
            self.items[queue_id] = item
        self.wake()
        return item

    # -- the runner ----------------------------------------------------------------

    # At most this many delivery attempts run at once, each with its own
    # sessions, as Postfix runs several deliveries in parallel: a message that
    # arrives while an attempt to one server is under way does not wait for it
    # to end. To any one destination, though, one session at a time (Postfix's
    # per-destination concurrency limit, set to 1): mail then arrives in the
    # order it was queued, as a student reading a mailbox expects, and the
    # lessons' recorded outputs do not depend on which thread ran first.
    max_parallel_attempts = 4

    def start(self) -> None:
        """Start relaying (on the lab's loop)."""
        self._wake = asyncio.Event()
        self._in_flight: set[str] = set()
        self._attempts: set[asyncio.Task] = set()
        self._lanes: dict[str, asyncio.Lock] = {}  # one per destination domain
        self._task = asyncio.get_running_loop().create_task(self._run())

    # How long `stop` lets delivery attempts under way finish.
    stop_grace = 2.0

    async def stop(self) -> None:
        """Stop relaying: no new attempts; those under way may finish for `stop_grace` seconds.

        An attempt cancelled halfway may have delivered its mail without
        removing it from the queue: a workspace kept for the next run would
        then deliver it again (at least once, never lost, as RFC 5321 section
        6.1 asks). Letting it finish avoids the duplicate in all but a stuck session.
        """
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        attempts = list(getattr(self, "_attempts", ()))
        if attempts:
            await asyncio.wait(attempts, timeout=self.stop_grace)
        for task in attempts:
            task.cancel()
        await asyncio.gather(*attempts, return_exceptions=True)
        self._task = None

    def wake(self) -> None:
        """Look at the queue now (thread-safe)."""
        if self._wake is not None:
            self.server.lab.loop.call_soon_threadsafe(self._wake.set)

    def flush(self) -> None:
        """Make every item due now, like Postfix's ``postqueue -f``."""
        for item in list(self.items.values()):
            item.next_attempt = 0
        self.wake()

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            now = time.time()
            with self._lock:
                waiting = [i for i in self.items.values() if i.id not in self._in_flight]
            due = [i for i in waiting if i.next_attempt <= now]
            if due and len(self._attempts) < self.max_parallel_attempts:
                self._in_flight.update(i.id for i in due)
                task = asyncio.get_running_loop().create_task(self._attempt(due))
                self._attempts.add(task)
                task.add_done_callback(lambda t, ids=[i.id for i in due]: self._attempt_done(t, ids))
                continue
            waits = [i.next_attempt - now for i in waiting if i.next_attempt > now]
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=min(waits) if waits else None)
            except asyncio.TimeoutError:
                pass

    def _attempt_done(self, task: asyncio.Task, ids: list[str]) -> None:
        self._attempts.discard(task)
        self._in_flight.difference_update(ids)
        if not task.cancelled() and task.exception() is not None:
            # A bug, not a reply: try these again later rather than at once, forever.
            self.log.append(f"delivery attempt failed: {task.exception()!r}")
            for item_id in ids:
                if item_id in self.items:
                    self.items[item_id].next_attempt = time.time() + self.retry_intervals[0]
        if self._wake is not None:
            self._wake.set()

    async def _attempt(self, due: list[QueueItem]) -> None:
        """One delivery attempt for every due item: one session per destination server."""
        lab = self.server.lab
        by_server: dict[str, list[tuple[QueueItem, bytes, list[str]]]] = {}
        results: dict[str, Outcome] = {item.id: Outcome() for item in due}
        hops = await self._next_hops({rcpt.rpartition("@")[2].lower() for item in due for rcpt in item.pending})
        for item in due:
            groups: dict[str, list[str]] = {}
            for rcpt in item.pending:
                dest = hops[rcpt.rpartition("@")[2].lower()]
                if isinstance(dest, str):  # why there is no next hop: a 5yz fails, a 4yz waits
                    (results[item.id].deferred if dest.startswith("4") else results[item.id].failed)[rcpt] = dest
                else:
                    groups.setdefault(dest.domain, []).append(rcpt)
            raw = self.server.faults.tamper_message(self.raw(item))  # someone on the path, if switched on
            for domain, rcpts in groups.items():
                by_server.setdefault(domain, []).append((item, raw, rcpts))

        loop = asyncio.get_running_loop()

        async def session(domain: str, batch: list[tuple[QueueItem, bytes, list[str]]]) -> list[Outcome]:
            dest = lab.directory.lookup(domain)
            assert dest is not None
            # asyncio.Lock wakes its waiters first come, first served, and the
            # attempts reach this line in the order they were started.
            async with self._lanes.setdefault(domain, asyncio.Lock()):
                return await loop.run_in_executor(
                    self.executor, relay_session, dest.mx, self.server.hostname, batch,
                    lab.network.claim, self.relay_timeout, self.server.relay_tls, lab.tls.client_context)

        sessions = [session(domain, batch) for domain, batch in by_server.items()]
        for batch, outcomes in zip(by_server.values(), await asyncio.gather(*sessions)):
            for (item, _, _), outcome in zip(batch, outcomes):
                total = results[item.id]
                total.delivered += outcome.delivered
                total.deferred.update(outcome.deferred)
                total.failed.update(outcome.failed)
                total.notes += outcome.notes
        for item in due:
            self._settle(item, results[item.id])

    async def _next_hops(self, domains: set[str]) -> dict[str, MailServer | str]:
        """Each recipient domain's next hop: the lab's server to relay to, or the reply that says why none.

        Without the lab's DNS, the directory answers. With it, an MX query
        and an A query (`next_hop`), in a worker thread: they wait on the network.
        """
        lab = self.server.lab
        if lab.dns is None:
            return {d: lab.directory.lookup(d) or "550 5.1.2 no mail server for this domain in the directory"
                    for d in domains}
        loop = asyncio.get_running_loop()
        found = await asyncio.gather(*(loop.run_in_executor(self.executor, next_hop, lab, d, self.server.hostname)
                                       for d in domains))
        return dict(zip(domains, found))

    def _settle(self, item: QueueItem, outcome: Outcome) -> None:
        item.attempts += 1
        now = time.time()
        self.log += [f"{item.id}: {note}" for note in outcome.notes]
        for rcpt in outcome.delivered:
            self.log.append(f"{item.id}: delivered to <{rcpt}>")
        failed = dict(outcome.failed)
        item.pending = [r for r in item.pending if r in outcome.deferred]
        item.last_reply = {r: outcome.deferred[r] for r in item.pending}
        if item.pending and now - item.created >= self.lifetime:
            for rcpt in item.pending:
                failed[rcpt] = f"4.4.7 delivery time expired; last attempt said: {item.last_reply[rcpt]}"
            item.pending = []
        for rcpt, why in failed.items():
            self.log.append(f"{item.id}: failed for <{rcpt}>: {why}")
        if failed:
            self._bounce(item, failed)
        if item.pending:
            step = self.retry_intervals[min(item.attempts - 1, len(self.retry_intervals) - 1)]
            item.next_attempt = min(now + step, item.created + self.lifetime)
            self.log.append(f"{item.id}: deferred, next attempt in {step:g} s")
            self._save(item)
        else:
            self._remove(item)

    def _bounce(self, item: QueueItem, failed: dict[str, str]) -> None:
        if item.mail_from == NULL_SENDER:
            self.log.append(f"{item.id}: a bounce cannot be bounced; dropped")
            return
        if any(why.startswith("4.4.7") for why in failed.values()):
            reason = "delivery time expired"
        elif all(why.startswith("5.6.") for why in failed.values()):  # `plan_transfer` gave up
            reason = "the receiving server does not offer what the message needs"
        else:
            reason = "the remote server refused it"
        self.server.send_bounce(item.mail_from, self.raw(item), failed, item.created, reason)
