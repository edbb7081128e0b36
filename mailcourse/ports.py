"""Listening ports that cannot collide with a kernel's (issue 12).

When a program binds port 0 the operating system hands out a port from its
*ephemeral range* (on Linux ``/proc/sys/net/ipv4/ip_local_port_range``,
usually 32768-60999). jupyter_client chooses a new kernel's five ports that
way, closes the sockets, and lets the kernel bind them a moment later. A lab
that also listened on port 0 could be given one of those ports in between,
and the kernel would die before it ran a cell: on a crowded hub, a student
whose lesson never starts.

So a lab's listening sockets come from *below* the ephemeral range, at
random (two labs on one machine rarely try the same port), and a port that
is taken is simply skipped (EADDRINUSE). The socket returned is bound and
listening: nothing picks a port, releases it and binds it again. Where the
range cannot be read (macOS, Windows), port 0 it is, as before.
"""
from __future__ import annotations

import errno
import random
import socket
from pathlib import Path

EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
TRIES = 64  # random ports tried before giving up on the range and taking port 0
BACKLOG = 100

_random = random.SystemRandom()  # not the lessons' seeded random: two labs must not draw alike


def listening_range(source: Path = EPHEMERAL_RANGE) -> range | None:
    """The ports a lab listens on: the upper half of those below the ephemeral range.

    With Linux's default range (32768-60999) that is 16384-32767, above the
    well-known ports and clear of common services (8888, 8080, 5432...).
    None where the ephemeral range cannot be read.
    """
    try:
        low = int(source.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    start = max(1024, low // 2)
    return range(start, low) if start < low else None


def listen(host: str, port: int = 0, ports: range | None = None) -> socket.socket:
    """A TCP socket bound to ``host`` and listening, ready for ``loop.create_server(sock=...)``.

    ``port`` given (an endpoint coming back online): that port, or OSError.
    Otherwise a random free port of ``ports`` (default `listening_range`),
    or port 0 where there is no such range or none of `TRIES` was free.
    """
    if port:
        return _bound(host, port)
    return _random_bound(host, listening_range() if ports is None else ports)


def client_socket(host: str) -> socket.socket:
    """A TCP socket bound to ``host`` on a port below the ephemeral range, ready to connect.

    For a lab client that must know its own address *before* it connects
    (so the tap can name the device from the first byte). ``bind(port 0)``
    would draw from the very pool jupyter_client draws a new kernel's ports
    from (Linux gives port-0 binds the odd ports of the range; connect()
    takes even ones), and could take one in the moment before the kernel binds it.
    """
    return _random_bound(host, listening_range(), listening=False)


def _random_bound(host: str, candidates: range | None, listening: bool = True) -> socket.socket:
    if candidates:
        for _ in range(TRIES):
            try:
                return _bound(host, _random.choice(candidates), listening)
            except OSError as e:
                if e.errno not in (errno.EADDRINUSE, errno.EACCES):
                    raise
    return _bound(host, 0, listening)


def _bound(host: str, port: int, listening: bool = True) -> socket.socket:
    # IPPROTO_TCP named, not left 0: asyncio turns Nagle's algorithm off (TCP_NODELAY) only on
    # sockets that say they are TCP, and an accepted socket inherits the listener's. With Nagle
    # on, each multi-line reply (EHLO's) waited 40 ms for the client's delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        if listening:
            # As asyncio's create_server does: a port whose old connections are in TIME_WAIT can
            # be listened on again at once (it does not let two programs listen on one port).
            # Not for a client: its port must be one nothing else holds, TIME_WAIT included.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        if listening:
            sock.listen(BACKLOG)
            sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock
