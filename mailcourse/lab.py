"""The lab: a miniature internet of mail servers and client hosts on 127.0.0.1.

    >>> from mailcourse import Lab
    >>> with Lab.classic(seed=1) as lab:
    ...     joe = lab.client("joe-laptop")
    ...     _ = joe.compose("jane@somewhereelse.com", "Lunch tomorrow", "Noon?")
    ...     _ = joe.send_all()
    ...     lab.wait_for_delivery()
    ...     [m["Subject"] for m in lab.server("somewhereelse.com").mailbox("jane")]
    ['Lunch tomorrow']

Every server of a lab runs on one background thread with its own asyncio
loop. The notebook's own loop is never used: a blocking client (smtplib) in a
cell talking to a server on the kernel's loop would wait for itself forever.
Every port is a free one on 127.0.0.1, drawn at random from below the system's
ephemeral range (`mailcourse.ports`), so two labs, a cell run twice, or a new
kernel never collide, and nothing is reachable from another machine.
"""
from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import random
import shutil
import tempfile
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Coroutine, Iterator, TypeVar

from .clienthost import ClientHost
from .clients.imap import IMAP4Client
from .clients.pop3 import POP3Client
from .clients.smtp import SMTPClient
from .errors import LabError
from .limits import Limits
from .mailserver import MailServer
from .message import domain_of
from .queue import NO_TLS
from .tap import Network
from .tls import LabTLS
from .trace import Connection, TlsView, Trace

if TYPE_CHECKING:
    from .capture import CaptureFile
    from .dns import LabDNS

T = TypeVar("T")

CLASSIC_USERS = {
    "joe@someplace.org": "joe-password",
    "jane@somewhereelse.com": "jane-password",
}


@dataclass(frozen=True)
class MXRecord:
    """What the directory answers for a domain, like a DNS MX record (RFC 5321 section 5.1)."""

    domain: str
    preference: int
    exchange: str  # the mail server's host name
    address: tuple[str, int]  # where its MX endpoint listens

    def __str__(self) -> str:
        return f"{self.domain}  MX {self.preference} {self.exchange}"


class Directory:
    """The lab's stand-in for DNS: which server accepts mail for which domain."""

    def __init__(self) -> None:
        self._servers: dict[str, MailServer] = {}

    def add(self, server: MailServer) -> None:
        self._servers[server.domain] = server

    def lookup(self, domain: str) -> MailServer | None:
        """The server that accepts mail for ``domain``, or None if the lab has none."""
        return self._servers.get(domain.lower().rstrip("."))

    def mx(self, domain: str) -> MXRecord | None:
        server = self.lookup(domain)
        if server is None:
            return None
        return MXRecord(server.domain, 10, server.hostname, server.mx.address)

    @property
    def domains(self) -> list[str]:
        return list(self._servers)


class Lab:
    """A miniature internet: mail servers, client hosts, a directory and a trace.

    ``workspace`` is the folder for every file of the lab (mailboxes, queues,
    outboxes); by default a fresh temporary folder, removed by `stop`. Give a
    folder to keep the mail between runs. ``seed`` makes queue ids,
    Message-IDs and MIME boundaries the same on every run.
    ``retry_intervals`` and ``queue_lifetime`` (seconds) set how a server
    retries mail it cannot relay yet, and when it gives up and bounces.
    ``max_trace_connections`` bounds the trace for a lab that runs for hours
    (`Trace`: the oldest finished sessions are dropped); by default, as in
    every lesson, the trace keeps everything.

    TLS: ``lab.tls`` is the lab's CA and its servers' certificates
    (`mailcourse.tls`), kept in the workspace's ``tls/`` folder and made the
    first time something needs them; ``lab.ca_file`` is what a client must
    trust. ``relay_tls`` is each new server's policy for STARTTLS when it
    relays (``server.relay_tls``, `mailcourse.queue`): "none" by default, so
    that the lessons read the relay's dialogue; "opportunistic" or "required".
    ``webmail_https=True`` gives each new server a second webmail endpoint,
    "webmails", HTTPS: TLS from the first byte (`mailcourse.servers.webmail`).

    DNS: ``dns=True`` starts the lab's own DNS server (`mailcourse.dns`,
    ``lab.dns``), gives each server a zone, and the relays find their next
    hop by MX and A queries on the wire. ``sender_auth=True`` (with DNS) also
    switches on SPF, DKIM and DMARC (`mailcourse.senderauth`): each server
    signs its users' mail with a key made at start and published in its zone
    (selector ``lab``), and checks what its MX receives against the lab's DNS.
    """

    _running: weakref.WeakSet[Lab] = weakref.WeakSet()  # for `stop_all`

    def __init__(self, workspace: str | Path | None = None, *, seed: int | None = None,
                 retry_intervals: tuple[float, ...] = (1, 2, 4, 8, 15, 30, 60),
                 queue_lifetime: float = 600.0, limits: Limits | None = None,
                 max_trace_connections: int | None = None, relay_tls: str = NO_TLS,
                 webmail_https: bool = False, dns: bool = False,
                 sender_auth: bool = False) -> None:
        if sender_auth and not dns:
            raise LabError("sender_auth=True needs dns=True: SPF, DKIM and DMARC read their records from DNS")
        self._temporary = workspace is None
        self.workspace = Path(tempfile.mkdtemp(prefix="mailcourse-") if workspace is None else workspace)
        self.workspace.mkdir(parents=True, exist_ok=True)
        self.retry_intervals = tuple(retry_intervals)
        self.queue_lifetime = queue_lifetime
        self.limits = limits
        self.relay_tls = relay_tls
        self.webmail_https = webmail_https
        self.tls = LabTLS(self.workspace / "tls")
        self._rng = random.Random(seed)
        self._id_lock = threading.Lock()
        self.trace = Trace(max_connections=max_trace_connections)
        self.trace.keylog_source = self.tls.keylog  # a capture carries the keys of the lab's TLS sessions
        self.network = Network(self.trace)
        self.directory = Directory()
        self.servers: dict[str, MailServer] = {}
        self.clients: dict[str, ClientHost] = {}
        # Two pools, so that they can never wait on each other: relay sessions
        # (blocking smtplib clients) and disk writes (fsync before SMTP's 250).
        # A relay waiting for a 250 that needs a disk worker would deadlock if
        # both came from one pool.
        self.relay_executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="mailcourse-relay")
        self.disk_executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="mailcourse-disk")
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="mailcourse-lab", daemon=True)
        self._thread.start()
        self._stopped = False
        self._holding_queues = False
        Lab._running.add(self)
        self.dns: LabDNS | None = None
        self._sender_auth = sender_auth
        if dns:
            from . import dns as lab_dns  # dnspython only for a lab that asks for it

            self.dns = lab_dns.LabDNS(self)
            try:
                self.call(self.dns.server.start())
            except BaseException:
                self.stop()
                raise

    # -- building the lab ---------------------------------------------------------

    @classmethod
    def classic(cls, seed: int | None = None, **kwargs: Any) -> Lab:
        """The chapter's example: joe@someplace.org writes to jane@somewhereelse.com.

        Two servers, mail.someplace.org and mail.somewhereelse.com, and two
        client hosts, "joe-laptop" and "jane-laptop". Passwords are in
        `CLASSIC_USERS`: fake accounts for a lab, never real ones.
        """
        lab = cls(seed=seed, **kwargs)
        try:
            with lab.building():
                for address, password in CLASSIC_USERS.items():
                    lab.add_user(address, password)
                    local = address.partition("@")[0]
                    lab.add_client(address, f"{local}-laptop")
        except BaseException:
            lab.stop()
            raise
        return lab

    @contextlib.contextmanager
    def building(self) -> Iterator[Lab]:
        """Add several servers before any queue starts relaying.

        A workspace kept from an earlier run may hold queued mail for a domain
        whose server is added a moment later: relaying it before the directory
        is complete would bounce it as "no such domain".
        """
        self._holding_queues = True
        try:
            yield self
        finally:
            self._holding_queues = False
            for server in self.servers.values():
                self.call(server.start_queue())

    def add_server(self, domain: str, limits: Limits | None = None) -> MailServer:
        """Start a mail server for ``domain`` and enter it in the directory."""
        domain = domain.lower()
        if domain in self.servers:
            raise LabError(f"the lab already has a server for {domain}")
        server = MailServer(self, domain, limits or self.limits)
        self.call(server.start(queue=not self._holding_queues))
        self.servers[domain] = server
        self.directory.add(server)
        if self.dns is not None and domain not in self.dns:
            self.dns.add_zone(domain, address=server.mx.address[0])
        if self.dns is not None and self._sender_auth:
            from .senderauth import SenderAuth  # dkimpy and pyspf only for a lab that asks for them

            server.sender_auth = SenderAuth(functools.partial(self.dns.txt, device=server.hostname),
                                            authserv_id=server.hostname)
            self.dns[domain].dkim[server.sender_auth.selector] = server.sender_auth.key.txt
        return server

    def add_user(self, address: str, password: str) -> str:
        """Create an account on the server of the address's domain (starting it if needed)."""
        domain = domain_of(address)
        server = self.servers.get(domain) or self.add_server(domain)
        return server.add_user(address, password)

    def add_client(self, address: str, name: str | None = None) -> ClientHost:
        """A client host (a device) for an existing account."""
        server = self.directory.lookup(domain_of(address))
        local = address.partition("@")[0].lower()
        if server is None or local not in server.users:
            raise LabError(f"{address} has no account in this lab; use add_user first")
        name = name or f"{local}-laptop"
        if name in self.clients:
            raise LabError(f"the lab already has a device called {name!r}")
        client = ClientHost(self, name, address, server.users[local])
        self.clients[name] = client
        return client

    def server(self, domain: str) -> MailServer:
        found = self.directory.lookup(domain)
        if found is None:
            raise LabError(f"no mail server for {domain!r}; the lab has {self.directory.domains}")
        return found

    def client(self, name: str) -> ClientHost:
        try:
            return self.clients[name]
        except KeyError:
            raise LabError(f"no device called {name!r}; the lab has {sorted(self.clients)}") from None

    def tls_view(self, conn: Connection) -> TlsView:
        """A TLS session of this lab as the wire carried it and, with the lab's key log, as its ends read it.

        The lab's servers write their session keys to ``lab.tls.keylog_file``
        (an NSS key log), so the lab can open what an eavesdropper cannot:
        ``lab.tls_view(conn).side_by_side()`` shows both.
        """
        return self.trace.tls_view(conn, self.tls.keylog())

    def capture(self, path: str | Path = "lab.pcapng", **options: Any) -> CaptureFile:
        """Write the lab's trace as a pcapng capture that Wireshark opens; a notebook shows a download link.

        One call for a lesson: ``lab.capture()`` writes ``lab.pcapng`` next to
        the notebook, TLS keys inside (`Trace.to_pcapng`, whose ``options``
        it takes: ``protocol="SMTP"``, ``keys=False`` for the eavesdropper's file, ...).
        """
        return self.trace.to_pcapng(path, **options)

    @property
    def ca_file(self) -> Path:
        """The lab CA's certificate (PEM): trust it to verify the lab's servers (``lab.tls.ca_file``)."""
        return self.tls.ca_file

    @property
    def users(self) -> dict[str, str]:
        """Every account of the lab: address -> password."""
        return {f"{local}@{s.domain}": pw for s in self.servers.values() for local, pw in s.users.items()}

    def seed(self, address: str, samples: list[str] | None = None, folder: str = "INBOX") -> list[int]:
        """Fill a mailbox with sample messages of `mailcourse.corpus` (all by default); returns their UIDs.

        ``lab.seed("jane@somewhereelse.com", ["lunch", "alternative"])``: the
        files go straight into the store, as mail that arrived before the
        lesson began (`MailServer.file`), with no SMTP session in the trace.
        """
        from . import corpus

        return corpus.seed(self.server(domain_of(address)), address, samples, folder)

    # -- running things on the lab's loop ---------------------------------------------

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Run a coroutine on the lab's loop and wait for its result (from any other thread)."""
        if self._stopped:
            coro.close()
            raise LabError("this lab has been stopped; create a new one")
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def smtp(self, device: str, endpoint: Any, timeout: float = 10.0) -> SMTPClient:
        """An `smtplib.SMTP` connected to ``endpoint`` (or a (host, port)) on behalf of ``device``."""
        client = SMTPClient(device, self.network.claim, timeout)
        client.connect(*self.endpoint_address(endpoint))
        # The name STARTTLS checks the certificate for (smtplib keeps it only when given to
        # the constructor): the server's, as a mail program that was told "mail.someplace.org".
        client._host = getattr(endpoint, "device", client._host)
        return client

    def pop3(self, device: str, endpoint: Any, timeout: float = 10.0) -> POP3Client:
        """A `poplib.POP3` connected to ``endpoint`` (or a (host, port)) on behalf of ``device``.

        It has read the server's greeting already (``welcome``), as poplib does.
        """
        host, port = self.endpoint_address(endpoint)
        return POP3Client(device, self.network.claim, host, port, timeout)

    def imap(self, device: str, endpoint: Any, timeout: float = 10.0) -> IMAP4Client:
        """An `imaplib.IMAP4` connected to ``endpoint`` (or a (host, port)) on behalf of ``device``.

        It has read the server's greeting already (``welcome``), as imaplib does.
        """
        host, port = self.endpoint_address(endpoint)
        return IMAP4Client(device, self.network.claim, host, port, timeout)

    @staticmethod
    def endpoint_address(endpoint: Any) -> tuple[str, int]:
        """Where to connect to ``endpoint`` (see `Endpoint.reachable_address`), or a (host, port)."""
        return endpoint.reachable_address() if hasattr(endpoint, "reachable_address") else endpoint

    def new_id(self) -> str:
        """A queue id, like Postfix's: reproducible when the lab has a seed."""
        with self._id_lock:
            return f"{self._rng.getrandbits(40):010X}"

    def new_message_id(self, domain: str) -> str:
        """A Message-ID (RFC 5322 section 3.6.4), unique in the lab, reproducible with a seed."""
        return f"<{self.new_id()}.{self.new_id()}@{domain}>"

    def wait_for(self, condition: Callable[[], bool], timeout: float = 10.0, interval: float = 0.02) -> bool:
        """Wait until ``condition()`` is true; False if ``timeout`` seconds pass first."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                return False
            time.sleep(interval)
        return True

    def wait_for_delivery(self, timeout: float = 10.0) -> bool:
        """Wait until every server's queue is empty (delivered or bounced)."""
        return self.wait_for(lambda: all(not s.queue.items for s in self.servers.values()), timeout)

    # -- stopping ------------------------------------------------------------------

    @classmethod
    def stop_all(cls) -> int:
        """Stop every lab still running in this process; returns how many.

        A notebook's set-up cell calls this before it builds its lab, so that
        running the cell again (or a lesson after another one in the same
        kernel) first frees the old lab's ports and threads.
        """
        labs = list(cls._running)
        for lab in labs:
            lab.stop()
        return len(labs)

    def stop(self) -> None:
        """Close every port, stop the thread, and remove a temporary workspace."""
        if self._stopped:
            return
        Lab._running.discard(self)
        try:
            if self.loop.is_running():
                self.call(self._shutdown())
        finally:
            self._stopped = True
            self.relay_executor.shutdown(wait=True)  # relays end fast: every port is closed now
            self.disk_executor.shutdown(wait=True)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
            self.loop.close()
            if self._temporary:
                # The trace outlives the lab (a capture is often written after the stop):
                # it keeps the session keys that are about to go with the workspace.
                keylog = self.tls.keylog()
                self.trace.keylog_source = lambda: keylog
                shutil.rmtree(self.workspace, ignore_errors=True)

    async def _shutdown(self) -> None:
        for server in self.servers.values():
            await server.shutdown()
        if self.dns is not None:
            await self.dns.server.stop()
        # Let cancelled server tasks finish their clean-up.
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else "running"
        # Said where it is true: on Linux the lab answers only its owner (`mailcourse.peers`).
        caveat = "" if self.network.owner_only else "; any user of this machine can connect (no peer check here)"
        return f"<Lab {state}: {', '.join(self.directory.domains) or 'no servers'}{caveat}>"


# A script or kernel that ends without stopping its labs still frees their
# ports and removes their temporary workspaces.
atexit.register(Lab.stop_all)
