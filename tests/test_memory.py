"""Memory that fits a hub: what a long-running lab keeps stays bounded, and a stopped lab is freed.

Sizes of structures are tested here, never RSS (a process's resident size
depends on the allocator and the machine's load: ``python -m mailcourse
bench`` measures it, for a lesson's kernel and for ``serve``).
"""
from __future__ import annotations

import gc
import http.client
import smtplib
import socket
import subprocess
import sys
import threading
import weakref

import pytest

from mailcourse import Lab
from mailcourse.cli.bench import sample_messages
from mailcourse.lab import CLASSIC_USERS
from mailcourse.tap import Network
from mailcourse.trace import C2S, S2C, Trace

JOE, JANE = "joe@someplace.org", "jane@somewhereelse.com"


# -- the trace's cap, without sockets ------------------------------------------------------------


def session(trace: Trace, n: int, close: bool = True):
    conn = trace.open("SMTP", "mx", "mail.example", ("127.0.0.1", 40000 + n))
    trace.data(conn, S2C, b"220 hello\r\n", 11)
    trace.data(conn, C2S, f"EHLO client{n}\r\n".encode(), 14)
    if close:
        trace.close(conn)
    return conn


def test_a_lessons_trace_keeps_everything():
    trace = Trace()
    for n in range(300):
        session(trace, n)
    assert len(trace.sessions()) == 300 and len(trace.events) == 300 * 4 and trace.dropped == 0


def test_a_capped_trace_drops_the_oldest_sessions_whole_and_keeps_open_ones():
    trace = Trace(max_connections=20)
    still_open = session(trace, 0, close=False)
    for n in range(1, 200):
        session(trace, n)
    kept = trace.sessions()
    assert len(kept) <= 20 + 20 // 4  # dropped in batches of a quarter of the cap
    assert still_open in kept  # a session under way is never dropped
    assert trace.dropped == 200 - len(kept)
    assert [c.id for c in kept[1:]] == list(range(202 - len(kept), 201))  # the newest, in order
    for conn in kept:  # never half a session: every kept one has all its events
        assert [e.kind for e in trace.filter(conn)] == (["open", "data", "data"] if conn is still_open
                                                        else ["open", "data", "data", "close"])
    assert {e.connection.id for e in trace.events} == {c.id for c in kept}
    assert trace.lines(kept[-1]) == [(S2C, "220 hello"), (C2S, "EHLO client199")]


def test_a_bookmark_stays_right_when_old_sessions_are_dropped():
    trace = Trace(max_connections=8)
    for n in range(30):
        session(trace, n)
    mark = trace.mark()
    newer = [session(trace, n) for n in range(30, 60)]
    assert mark == 30 and trace.dropped > 0
    assert trace.sessions(since=mark) == [c for c in newer if c in trace.sessions()]
    assert trace.sessions(since=trace.mark()) == []


def test_a_late_event_of_a_dropped_session_is_not_kept():
    trace = Trace(max_connections=4)
    first = session(trace, 0)
    for n in range(1, 20):
        session(trace, n)
    assert first not in trace.sessions()
    before = len(trace.events)
    trace.data(first, S2C, b"221 bye\r\n", 9)  # a write that raced the close
    assert len(trace.events) == before and trace.filter(first) == []


# -- the network's table of client sockets -------------------------------------------------------


def test_a_claim_ends_with_its_connection_and_the_name_stays_in_the_trace():
    with Lab.classic(seed=1) as lab:
        for _ in range(5):
            with lab.smtp("joe-laptop", lab.server("someplace.org").submission) as s:
                s.noop()
        assert lab.wait_for(lambda: all(c.closed is not None for c in lab.trace.sessions()))
        assert lab.network._owners == {}
        assert {c.client for c in lab.trace.sessions()} == {"joe-laptop"}


def test_claims_that_never_reached_a_tap_are_bounded():
    network = Network(Trace())
    network.MAX_CLAIMS = 10
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        for n in range(30):
            with socket.create_connection(listener.getsockname()) as sock:
                network.claim(sock, f"device{n}")
                listener.accept()[0].close()
        assert len(network._owners) == 10
        assert list(network._owners.values()) == [f"device{n}" for n in range(20, 30)]  # the newest
    finally:
        listener.close()


# -- a stopped lab is freed ------------------------------------------------------------------------


def test_a_stopped_lab_is_freed_completely():
    lab = Lab.classic(seed=1)
    joe = lab.client("joe-laptop")
    joe.compose(JANE, "Lunch", "Noon?")
    assert all(r.ok for r in joe.send_all()) and lab.wait_for_delivery()
    lab.server("somewhereelse.com").webmail  # noqa: B018 - the webmail was built too
    gone, trace = weakref.ref(lab), weakref.ref(lab.trace)
    thread = lab._thread
    lab.stop()
    del lab, joe
    gc.collect()
    assert gone() is None and trace() is None  # nothing keeps the lab, its trace or its store alive
    assert not thread.is_alive()
    assert not [t for t in threading.enumerate() if t.name.startswith("mailcourse-")]


# -- a serve-like lab under 1,000 messages (the bench's "serve memory" sends 5,000 and reads the RSS) --


@pytest.mark.timeout(300)
def test_a_capped_lab_delivers_1000_messages_and_its_trace_stays_bounded(tmp_path):
    """What ``serve`` does for hours, in seconds: every accepted message is delivered, the trace stays small.

    A hundred sessions and their relays are several times the cap, so old
    sessions are dropped many times over.
    """
    cap = 60
    sessions, per_session = 100, 10
    batch = sample_messages(sessions * per_session, tag="memory")
    with Lab.classic(workspace=tmp_path, max_trace_connections=cap) as lab:
        address = lab.server("someplace.org").submission.address
        largest = 0
        for n in range(sessions):
            with smtplib.SMTP(*address, local_hostname="load", timeout=30) as client:
                client.login(JOE, CLASSIC_USERS[JOE])
                for raw in batch[n * per_session:(n + 1) * per_session]:
                    client.sendmail(JOE, [JANE], raw)
            largest = max(largest, len(lab.trace.sessions()))
        assert lab.wait_for_delivery(timeout=120)
        assert len(lab.server("somewhereelse.com").store.list("jane")) == len(batch)
        assert lab.trace.opened > sessions and lab.trace.dropped > 0
        # The cap, a quarter more before a batch is dropped, and the sessions open at that moment.
        assert largest <= cap + cap // 4 + 8
        assert len({e.connection.id for e in lab.trace.events}) == len(lab.trace.sessions()) <= largest
        assert len(lab.network._owners) <= 8  # one claim per open connection at most


def test_a_lab_imports_its_webmail_only_when_it_is_used():
    """aiohttp, jinja2 and nh3 are some 10 MB in a kernel: lessons without the webmail never import them."""
    code = ("import sys, http.client\nfrom mailcourse import Lab\n"
            "heavy = ('aiohttp', 'jinja2', 'nh3')\n"
            "with Lab.classic(seed=1) as lab:\n"
            "    joe = lab.client('joe-laptop'); joe.compose('jane@somewhereelse.com', 'Hi', 'x'); joe.send_all()\n"
            "    lab.wait_for_delivery()\n"
            "    print([m for m in heavy if m in sys.modules])\n"
            "    web = http.client.HTTPConnection(*lab.server('somewhereelse.com').endpoints['webmail'].address)\n"
            "    web.request('GET', '/login'); print(web.getresponse().status)\n"
            "    print([m for m in heavy if m in sys.modules])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.split("\n")[:3] == ["[]", "200", "['aiohttp', 'jinja2', 'nh3']"]


def test_connections_that_arrive_while_the_webmail_is_built_are_all_answered():
    with Lab.classic(seed=1) as lab:
        address = lab.server("somewhereelse.com").endpoints["webmail"].address
        statuses: list[int] = []

        def get() -> None:
            web = http.client.HTTPConnection(*address, timeout=30)
            web.request("GET", "/login")
            statuses.append(web.getresponse().status)
            web.close()

        threads = [threading.Thread(target=get) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert statuses == [200] * 6
