"""Small tools shared by the core's tests: read a Maildir, talk raw SMTP, log in.

Every helper works on what a real observer can see: files on disk, bytes on a
socket, the lab's trace. Nothing here reaches into a server's private state.
"""
from __future__ import annotations

import base64
import os
import re
import shutil
import socket
import ssl
import subprocess
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Callable, Iterable

import pytest

from mailcourse import Lab, MailServer
from mailcourse.lab import SMTPClient

JOE, JOE_PASSWORD = "joe@someplace.org", "joe-password"
JANE, JANE_PASSWORD = "jane@somewhereelse.com", "jane-password"

# RFC 2034 / RFC 3463: "250 2.1.0 OK", "550-5.1.1 ..." (class.subject.detail).
ENHANCED = re.compile(r"^\d{3}[ -][245]\.\d{1,3}\.\d{1,3}( |$)")


# -- waiting ---------------------------------------------------------------------

def wait_until(condition: Callable[[], object], timeout: float = 10.0, what: str = "condition") -> None:
    """Poll ``condition`` until it is true; fail the test (not hang) if it never is."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def stop_process(proc: subprocess.Popen, timeout: float = 20.0) -> None:
    """Ask a server process to end (SIGTERM, so that it cleans up); kill it if it has not after ``timeout``."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def lines_until(readline: Callable[[], bytes], prefix: bytes, timeout: float = 30.0) -> list[bytes]:
    """Lines from ``readline`` up to and including the first that starts with ``prefix``.

    Fails the test (not spins or hangs) if the stream ends first (``readline``
    returns b"" at end of stream, again and again), the socket times out, or
    no such line came within ``timeout`` seconds.
    """
    deadline, lines = time.monotonic() + timeout, []
    while not (lines and lines[-1].startswith(prefix)):
        if time.monotonic() > deadline:
            raise AssertionError(f"no line starting with {prefix!r} in {timeout} s; got {lines[-20:]!r}")
        try:
            line = readline()
        except TimeoutError:
            raise AssertionError(f"the server went quiet before a line starting with {prefix!r}; "
                                 f"got {lines[-20:]!r}") from None
        if not line:
            raise AssertionError(f"the connection ended before a line starting with {prefix!r}; "
                                 f"got {lines[-20:]!r}")
        lines.append(line)
    return lines


# -- Maildir, read straight from disk ----------------------------------------------

def maildir_path(server: MailServer, user: str) -> Path:
    """The INBOX Maildir of ``user`` (local part or address) on ``server``."""
    return server.store.root / user.partition("@")[0].lower()


def maildir_files(server: MailServer, user: str) -> list[Path]:
    """Every message file in the user's INBOX (new/ and cur/), oldest first."""
    box = maildir_path(server, user)
    files = [p for sub in ("new", "cur") for p in (box / sub).iterdir() if p.is_file()]
    return sorted(files, key=lambda p: (p.stat().st_mtime_ns, p.name))


def maildir_messages(server: MailServer, user: str) -> list[bytes]:
    """The raw bytes of every message in the user's INBOX, as another program would read them."""
    return [p.read_bytes() for p in maildir_files(server, user)]


def split_message(raw: bytes) -> tuple[bytes, bytes]:
    """(header section, body) of a raw message; the blank line belongs to neither."""
    m = re.search(rb"\r?\n\r?\n", raw)
    if m is None:
        return raw, b""
    return raw[:m.start()], raw[m.end():]


def header_names(raw: bytes) -> list[str]:
    """Names of the header fields, top to bottom (continuation lines skipped)."""
    head, _ = split_message(raw)
    return [line.split(b":", 1)[0].decode() for line in head.splitlines()
            if line and line[:1] not in (b" ", b"\t")]


def subject_of(raw: bytes) -> str:
    for line in split_message(raw)[0].splitlines():
        if line.lower().startswith(b"subject:"):
            return line.split(b":", 1)[1].strip().decode()
    return ""


def queue_files(server: MailServer) -> list[Path]:
    """The queued messages of a server: the files of its queue folder that hold one.

    Delivery state (``<id>.json``) and half-written files (``.tmp``) are not messages.
    """
    return sorted(p for p in server.queue.path.iterdir()
                  if p.is_file() and p.suffix not in (".json", ".tmp"))


# -- messages --------------------------------------------------------------------

def make_message(sender: str, to: str | Iterable[str], subject: str, body: str = "Hello.\n",
                 **headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to if isinstance(to, str) else ", ".join(to)
    msg["Subject"] = subject
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg


def raw_message(sender: str, to: str, subject: str, body: bytes = b"Hello.\r\n",
                extra: bytes = b"") -> bytes:
    """A message as exact bytes (CRLF line ends), for tests that compare bytes."""
    return (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n".encode() + extra
            + b"\r\n" + body)


# -- SMTP with the standard library ------------------------------------------------

def plain_blob(login: str, password: str, authzid: str = "") -> str:
    """The SASL PLAIN response (RFC 4616): base64 of ``authzid NUL login NUL password``."""
    return base64.b64encode(f"{authzid}\0{login}\0{password}".encode()).decode()


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def login(lab: Lab, domain: str = "someplace.org", user: str = JOE, password: str = JOE_PASSWORD,
          device: str = "joe-laptop") -> SMTPClient:
    """An smtplib client, said hello and logged in at the submission endpoint of ``domain``."""
    client = lab.smtp(device, lab.server(domain).submission)
    client.ehlo(device)
    client.login(user, password)
    return client


def submit(lab: Lab, sender: str, rcpts: list[str], raw: bytes | EmailMessage, *,
           password: str | None = None, **kwargs: object) -> dict:
    """Log in as ``sender`` and send one message; returns sendmail's refused dict."""
    domain = sender.rpartition("@")[2]
    local = sender.partition("@")[0]
    password = password or lab.users[sender]
    with login(lab, domain, sender, password, f"{local}-laptop") as client:
        data = raw.as_bytes() if isinstance(raw, EmailMessage) else raw
        return client.sendmail(sender, rcpts, data, **kwargs)  # type: ignore[arg-type]


def assert_still_serves(lab: Lab, subject: str) -> None:
    """A well-behaved client can still send joe -> jane, and it arrives."""
    before = {subject_of(m) for m in maildir_messages(lab.server("somewhereelse.com"), "jane")}
    assert subject not in before
    submit(lab, JOE, [JANE], raw_message(JOE, JANE, subject))
    assert lab.wait_for_delivery()
    after = [subject_of(m) for m in maildir_messages(lab.server("somewhereelse.com"), "jane")]
    assert after.count(subject) == 1
    assert before <= set(after), "mail accepted earlier was lost"


# -- SMTP by hand, on a raw socket (for clients that must misbehave) -----------------------

class RawSMTP:
    """A line-oriented SMTP client on a bare socket: it sends exactly what you give it.

    ``reply()`` reads one complete (possibly multi-line) reply and returns
    ``(code, lines)``, lines without CRLF.
    """

    def __init__(self, address: tuple[str, int], timeout: float = 5.0) -> None:
        self.sock = socket.create_connection(address, timeout=timeout)
        self._buffer = b""

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawSMTP:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, data: bytes | str) -> None:
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def line(self) -> str:
        """One line from the server; "" at end of stream."""
        while b"\n" not in self._buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                rest, self._buffer = self._buffer, b""
                return rest.decode("utf-8", "replace")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def reply(self) -> tuple[int, list[str]]:
        lines = []
        while True:
            line = self.line()
            if not line:
                raise ConnectionError(f"connection closed; got {lines!r}")
            lines.append(line)
            if len(line) < 4 or line[3] != "-":
                return int(line[:3]), lines

    def command(self, line: str | bytes) -> tuple[int, list[str]]:
        self.send((line.encode() if isinstance(line, str) else line) + b"\r\n")
        return self.reply()

    def greeting(self) -> tuple[int, list[str]]:
        return self.reply()

    def hello(self, name: str = "raw-client") -> tuple[int, list[str]]:
        self.greeting()
        return self.command(f"EHLO {name}")

    def auth_plain(self, login: str, password: str) -> tuple[int, list[str]]:
        return self.command(f"AUTH PLAIN {plain_blob(login, password)}")

    def start_tls(self, context: ssl.SSLContext, hostname: str = "127.0.0.1") -> None:
        """The TLS handshake on this socket (after STARTTLS / STLS was answered), then go on inside.

        Whatever the server sent beyond the reply read last would be lost:
        there must be nothing (a server that answers a smuggled command fails here).
        """
        assert not self._buffer, f"the server sent more after its reply: {self._buffer!r}"
        self.sock = context.wrap_socket(self.sock, server_hostname=hostname)

    def closed_by_server(self) -> bool:
        """Read until the server closes; True if it did (False if the socket timed out)."""
        try:
            while self.sock.recv(65536):
                pass
        except socket.timeout:
            return False
        except ConnectionResetError:
            return True
        return True


# -- the process -------------------------------------------------------------------

def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def listening_here(address: tuple[str, int]) -> bool:
    """Whether a socket of this process (a lab, say) listens on ``address``.

    Asks the process's own sockets (Linux: /proc/self/fd), never the port: a
    port a stopped lab gave back may belong to another program a moment
    later, and connecting to it proves nothing about the lab.
    """
    for fd in os.listdir("/proc/self/fd"):
        try:
            if not os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                continue
            with socket.socket(fileno=os.dup(int(fd))) as sock:  # a copy: closing it leaves the original open
                if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) and sock.getsockname() == address:
                    return True
        except OSError:  # closed meanwhile (os.listdir's own, for one)
            continue
    return False


def program(name: str) -> str:
    """The path of a real client program (swaks, curl, ...).

    Under CI=true a missing program is a failure, never a skip: CI must install it (see .ci/run).
    """
    found = shutil.which(name) or (f"/usr/bin/{name}" if os.path.exists(f"/usr/bin/{name}") else None)
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is not installed; CI must install it (see .ci/run)")
        pytest.skip(f"{name} is not installed")
    return found


# -- exercise checks (tests/exercises/test_exercises_*.py) -------------------------------------------------------

def check_fails(call: Callable[..., None], *args: object, **kwargs: object) -> str:
    """What an exercise check says when it refuses an answer (it must refuse it)."""
    from mailcourse.exercises import ExerciseError

    with pytest.raises(ExerciseError) as failure:
        call(*args, **kwargs)
    return str(failure.value)


def joe_writes_to_jane(lab: Lab, *subjects: str, body: str = "") -> None:
    """joe-laptop sends jane one message per subject, in one session, and waits for delivery."""
    joe = lab.client("joe-laptop")
    for subject in subjects:
        joe.compose(JANE, subject, body or f"This is {subject}.\nJoe")
    joe.send_all()
    assert lab.wait_for_delivery()
