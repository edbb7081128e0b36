"""The server host an endpoint runs on: what every service of one machine shares.

A real mail host is one machine with one name that runs several daemons:
SMTP, POP3, IMAP, a web server. Here that machine is a `Host`: its name, the
wire its sockets are on (the tap `Network`, which records into a trace), the
asyncio loop its sessions run on, where its ids come from, the worker
threads for blocking work, and the list where a session's bug is reported.
Each adapter in `mailcourse.servers` takes a `Host` plus the few parts of
mail it uses (accounts, a store, limits), and nothing else.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field

from ..limits import Limits
from ..tap import Endpoint, Network


@dataclass(frozen=True)
class Host:
    """One server machine: its name and what its endpoints share."""

    hostname: str  # "mail.somewhereelse.com": the greeting of every protocol names it
    network: Network  # the taps in front of its endpoints record into network.trace
    loop: asyncio.AbstractEventLoop  # where every session runs; other threads wake it from outside
    new_id: Callable[[], str]  # queue ids and APOP timestamps, reproducible in a seeded lab
    executor: Executor | None = None  # blocking work (fsync) off the loop; None: the loop's default pool
    errors: list[str] = field(default_factory=list)  # a bug in a session is reported here, not hidden

    def endpoint(self, service: str, protocol: str, factory: Callable[[], asyncio.Protocol],
                 limits: Limits, busy_reply: bytes) -> Endpoint:
        """A listening service of this host, behind a tap.

        ``busy_reply`` is what a client beyond ``limits.max_connections`` gets,
        in the protocol's own words, before the tap hangs up. The connection
        limit is read here, once; the other limits by ``factory``, for each
        new session.
        """
        return Endpoint(self.network, self.hostname, service, protocol, factory,
                        max_connections=limits.max_connections, busy_reply=busy_reply)
