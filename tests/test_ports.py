"""A lab listens below the ephemeral range, where a kernel's port-0 binds never land (issue 12)."""
from __future__ import annotations

import socket
from pathlib import Path

import pytest

from mailcourse import Lab, ports


def test_the_range_is_the_upper_half_below_the_ephemeral_one(tmp_path: Path) -> None:
    source = tmp_path / "ip_local_port_range"
    source.write_text("32768\t60999\n")
    assert ports.listening_range(source) == range(16384, 32768)
    source.write_text("1500 60999\n")
    assert ports.listening_range(source) == range(1024, 1500)  # never a privileged port
    source.write_text("1024 60999\n")
    assert ports.listening_range(source) is None  # nothing below it
    assert ports.listening_range(tmp_path / "missing") is None  # macOS, Windows


def test_a_taken_port_is_skipped_and_the_socket_stays_bound() -> None:
    taken = ports.listen("127.0.0.1")
    only_taken = range(taken.getsockname()[1], taken.getsockname()[1] + 1)
    try:
        # The only candidate is taken: every try meets EADDRINUSE, and port 0 is the last resort.
        fallback = ports.listen("127.0.0.1", ports=only_taken)
        assert fallback.getsockname()[1] != taken.getsockname()[1]
        # The socket is listening already: a client connects before anything else is done with it.
        with socket.create_connection(fallback.getsockname(), timeout=5):
            pass
        fallback.close()
    finally:
        taken.close()


def test_a_given_port_is_that_port_or_an_error() -> None:
    first = ports.listen("127.0.0.1")
    try:
        with pytest.raises(OSError):
            ports.listen("127.0.0.1", first.getsockname()[1])
    finally:
        first.close()


@pytest.mark.skipif(ports.listening_range() is None, reason="no ephemeral range to read on this system")
def test_every_endpoint_of_a_lab_listens_below_the_ephemeral_range() -> None:
    low = int(ports.EPHEMERAL_RANGE.read_text().split()[0])
    with Lab.classic(seed=1) as lab:
        server = lab.server("somewhereelse.com")
        listening = [e.port for s in lab.servers.values() for e in s.endpoints.values()]
        assert listening and all(port < low for port in listening), listening
        old = server.submission.port
        server.go_offline()
        server.go_online()
        assert server.submission.port == old  # back on its old port, still below the range


def test_a_lab_connection_sends_small_replies_at_once() -> None:
    """TCP_NODELAY on every accepted socket: a multi-line reply is not held back by Nagle's algorithm.

    asyncio sets it only on sockets created as IPPROTO_TCP; a listener made
    with protocol 0 passed that on to every connection, and each EHLO reply
    waited for the client's delayed ACK (40 ms).
    """
    with Lab.classic(seed=1) as lab:
        endpoint = lab.server("someplace.org").submission
        with socket.create_connection(endpoint.address) as client:
            client.recv(100)  # the greeting: the connection has been accepted
            [tap] = list(endpoint.active)
            accepted = tap.transport.get_extra_info("socket")
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
