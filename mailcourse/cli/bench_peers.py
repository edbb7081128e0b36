"""The peer check's cost (``python -m mailcourse bench``): one lookup, with few and with many sockets.

A lab asks the kernel who owns the far end of every connection it accepts
(`mailcourse.peers`). On a hub with a whole class logged in there are
thousands of TCP sockets on the machine, so the figure that matters is the
lookup with that many: here ``connections`` loopback connections of this
process (two sockets each) are opened first. The baseline is the same lookup
with only the one connection being asked about, measured in the same run.
"""
from __future__ import annotations

import resource
import socket
import statistics
import time
from contextlib import ExitStack
from typing import Any, Callable

from .. import peers

Address = tuple[str, int]


def _median_us(ask: Callable[[Address, Address], int | None], peer: Address, ours: Address,
               rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        ask(peer, ours)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def _connections(stack: ExitStack, server: socket.socket, count: int) -> list[tuple[Address, Address]]:
    pairs = []
    for _ in range(count):
        client = stack.enter_context(socket.create_connection(server.getsockname()))
        accepted, peer = server.accept()
        stack.enter_context(accepted)
        pairs.append((client.getsockname(), accepted.getsockname()))
        del peer
    return pairs


def measure(connections: int = 2000, rounds: int = 200) -> dict[str, Any]:
    """Microseconds per lookup: sock_diag and /proc/net/tcp, alone and among ``connections`` more."""
    if peers.lookup_method() is None:
        return {}
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 2 * connections + 64
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))
        connections = min(connections, (min(wanted, hard) - 64) // 2)
    try:
        with ExitStack() as stack:
            server = stack.enter_context(socket.create_server(("127.0.0.1", 0), backlog=128))
            [(peer, ours)] = _connections(stack, server, 1)
            alone = {"diag": _median_us(peers.ASK[peers.SOCK_DIAG], peer, ours, rounds),
                     "proc": _median_us(peers.ASK[peers.PROC], peer, ours, max(5, rounds // 20))}
            _connections(stack, server, connections)
            crowded = {"diag": _median_us(peers.ASK[peers.SOCK_DIAG], peer, ours, rounds),
                       "proc": _median_us(peers.ASK[peers.PROC], peer, ours, max(5, rounds // 20))}
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return {"peer_sockets": 2 * connections,
            "peer_diag_alone_us": round(alone["diag"], 1), "peer_diag_crowded_us": round(crowded["diag"], 1),
            "peer_proc_alone_us": round(alone["proc"], 1), "peer_proc_crowded_us": round(crowded["proc"], 1)}


def rows(result: dict[str, Any]) -> list[tuple[str, str]]:
    """The bench table's lines for these figures (none where there is no peer check)."""
    if "peer_sockets" not in result:
        return [("peer check", "not available on this system (any user can connect)")]
    n = result["peer_sockets"]
    diag, proc = result["peer_diag_crowded_us"], result["peer_proc_crowded_us"]
    return [
        (f"peer check, sock_diag, {n} more sockets", f"{diag:.0f} us  "
         f"(alone: {result['peer_diag_alone_us']:.0f} us, ratio {diag / result['peer_diag_alone_us']:.1f})"),
        (f"peer check, /proc/net/tcp, {n} more sockets", f"{proc:.0f} us  "
         f"(alone: {result['peer_proc_alone_us']:.0f} us, ratio {proc / result['peer_proc_alone_us']:.1f}; "
         "the fallback)"),
    ]
