"""Fixtures shared by several test files. (Append new sections; keep each self-contained.)"""
from __future__ import annotations

# -- `python -m mailcourse serve` in a subprocess (tests/cli/test_cli.py, tests/servers/test_real_clients.py) --------

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

REPO = Path(__file__).resolve().parent.parent


class ServeProcess:
    """``python -m mailcourse serve --json ...`` as a real process, as a user would start it.

    ``info`` is the JSON object of its first line; `stop` sends a signal and
    returns the exit status and what it wrote to stderr.
    """

    def __init__(self, *args: str, startup_timeout: float = 30.0) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
        self.proc = subprocess.Popen([sys.executable, "-m", "mailcourse", "serve", "--json", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        first: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: first.put(self.proc.stdout.readline()), daemon=True).start()
        try:
            line = first.get(timeout=startup_timeout)
        except queue.Empty:
            self.proc.kill()
            raise AssertionError(f"serve printed nothing in {startup_timeout} s") from None
        if not line:
            _, err = self.proc.communicate(timeout=10)
            raise AssertionError(f"serve exited with {self.proc.returncode} before printing: {err}")
        self.info: dict[str, Any] = json.loads(line)
        self.workspace = Path(self.info["workspace"])

    def endpoint(self, domain: str, service: str) -> tuple[str, int]:
        host, port = self.info["domains"][domain][service]
        return host, port

    def password(self, address: str) -> str:
        return next(u["password"] for u in self.info["users"] if u["address"] == address)

    def maildir(self, address: str) -> list[bytes]:
        """Every message file in the user's INBOX Maildir (new/ and cur/), oldest first."""
        local, _, domain = address.partition("@")
        box = self.workspace / "servers" / domain / "mail" / local
        files = [p for sub in ("new", "cur") if (box / sub).is_dir() for p in (box / sub).iterdir()]
        return [p.read_bytes() for p in sorted(files, key=lambda p: p.stat().st_mtime)]

    def wait_for_message(self, address: str, needle: bytes, timeout: float = 15.0) -> bytes:
        """The message in ``address``'s Maildir that contains ``needle``; fails after ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for raw in self.maildir(address):
                if needle in raw:
                    return raw
            time.sleep(0.05)
        raise AssertionError(f"no message containing {needle!r} reached {address} in {timeout} s")

    def stop(self, sig: int = signal.SIGINT, timeout: float = 30.0) -> tuple[int, str]:
        """Send ``sig`` (Ctrl-C by default); return (exit status, stderr)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            _, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
            raise AssertionError(f"serve did not stop within {timeout} s after signal {sig}: {err}") from None
        return self.proc.returncode, err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


@pytest.fixture
def start_serve() -> Iterator[Callable[..., ServeProcess]]:
    """A factory: ``start_serve("--workspace", dir, ...)``; every process is killed at the end."""
    started: list[ServeProcess] = []

    def start(*args: str | os.PathLike[str]) -> ServeProcess:
        process = ServeProcess(*map(str, args))
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()


@pytest.fixture(scope="module")
def served_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    """One ``serve`` process for a whole test module, its mail kept in a temporary workspace."""
    process = ServeProcess("--workspace", str(tmp_path_factory.mktemp("serve-workspace")))
    yield process
    process.kill()


@pytest.fixture(scope="module")
def strict_served_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    """``serve --require-tls`` for a whole test module: passwords only inside TLS, relays only over TLS."""
    process = ServeProcess("--workspace", str(tmp_path_factory.mktemp("strict-workspace")), "--require-tls")
    yield process
    process.kill()


@pytest.fixture
def lab():
    """The classic lab (joe@someplace.org, jane@somewhereelse.com), stopped after the test.

    A test file may define its own ``lab`` fixture for a different lab.
    """
    from mailcourse import Lab

    with Lab.classic(seed=1) as lab:
        yield lab
