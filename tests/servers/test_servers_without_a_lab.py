"""A server endpoint built from its narrow parts alone: no Lab, no mail server, no devices.

An adapter in `mailcourse.servers` needs a `Host` (its name, a tap `Network`
with its `Trace`, an asyncio loop, an id source), the domain's `Accounts`, a
`MailStore` and `Limits`; SMTP needs `Faults` and a ``receive`` function in
place of the queue. This file makes exactly those, runs the loop in a thread
of its own, and talks to the endpoints with poplib, imaplib, smtplib and
urllib over real loopback sockets, as a test of any standalone server would.
The webmail takes the same parts, plus a Message-ID source and a way to a
submission port (here none: these pages only read).
"""
from __future__ import annotations

import asyncio
import contextlib
import http.cookiejar
import imaplib
import itertools
import poplib
import re
import smtplib
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator

import pytest

from mailcourse.accounts import Accounts
from mailcourse.faults import Faults
from mailcourse.limits import Limits
from mailcourse.servers import MX
from mailcourse.servers.host import Host
from mailcourse.servers.imap import imap_endpoint
from mailcourse.servers.pop3 import pop3_endpoint
from mailcourse.servers.smtp import smtp_endpoint
from mailcourse.store import MailStore
from mailcourse.tap import Endpoint, Network
from mailcourse.trace import Trace

HOSTNAME = "mail.example.org"
MESSAGE = b"From: bob@example.net\r\nTo: ann@example.org\r\nSubject: Standalone\r\n\r\nNo lab needed.\r\n"


@pytest.fixture
def host() -> Iterator[Host]:
    """A host whose loop runs on a thread of its own, as the lab's does (the test's thread blocks in poplib)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    ids = itertools.count(1)
    yield Host(HOSTNAME, Network(Trace()), loop, new_id=lambda: f"{next(ids):010X}")
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=10)
    loop.close()


@pytest.fixture
def store(tmp_path) -> MailStore:
    return MailStore(tmp_path / "mail", hostname=HOSTNAME)


@pytest.fixture
def accounts(store: MailStore) -> Accounts:
    accounts = Accounts("example.org", store)
    accounts.add_user("ann", "ann-password")
    return accounts


@contextlib.contextmanager
def running(host: Host, endpoint: Endpoint) -> Iterator[tuple[str, int]]:
    """Listen on 127.0.0.1:0 while the test runs; yields the address."""
    asyncio.run_coroutine_threadsafe(endpoint.start(), host.loop).result(10)
    try:
        yield endpoint.address
    finally:
        asyncio.run_coroutine_threadsafe(endpoint.stop(), host.loop).result(10)


def test_pop3_without_a_lab_logs_in_and_retrieves(host, accounts, store):
    store.deliver("ann", MESSAGE)
    with running(host, pop3_endpoint(host, accounts, store, Limits())) as address:
        client = poplib.POP3(*address, timeout=10)
        assert HOSTNAME in client.getwelcome().decode()
        client.user("ann@example.org")
        client.pass_("ann-password")
        _, lines, _ = client.retr(1)
        client.quit()
    assert b"\r\n".join(lines) + b"\r\n" == MESSAGE
    # The tap in front of the endpoint recorded the session, password hidden.
    session, = host.network.trace.sessions(protocol="POP3")
    shown = [line for _, line in host.network.trace.lines(session)]
    assert "RETR 1" in shown and "PASS ann-password" not in shown
    assert host.errors == []


def test_pop3_without_a_lab_refuses_a_wrong_password(host, accounts, store):
    with running(host, pop3_endpoint(host, accounts, store, Limits())) as address:
        client = poplib.POP3(*address, timeout=10)
        client.user("ann")
        with pytest.raises(poplib.error_proto, match="-ERR"):
            client.pass_("not-her-password")
        client.quit()


def test_imap_without_a_lab_logs_in_and_fetches(host, accounts, store):
    store.deliver("ann", MESSAGE)
    with running(host, imap_endpoint(host, accounts, store, Limits())) as address:
        client = imaplib.IMAP4(*address, timeout=10)
        client.login("ann", "ann-password")
        client.select("INBOX", readonly=True)
        _, data = client.uid("FETCH", "1", "(BODY.PEEK[])")
        client.logout()
    assert data[0][1] == MESSAGE


def test_smtp_without_a_lab_hands_the_message_to_receive(host, accounts):
    received: list[tuple[str, list[str], bytes]] = []

    def receive(mail_from: str, rcpts: list[str], raw: bytes, **how: object) -> str:
        received.append((mail_from, rcpts, raw))
        return "QUEUED1"

    endpoint = smtp_endpoint(host, MX, accounts, Limits(), Faults(), receive)
    with running(host, endpoint) as address:
        with smtplib.SMTP(*address, timeout=10) as client:
            client.ehlo("mail.example.net")
            refused = client.sendmail("bob@example.net", ["ann@example.org", "nobody@example.org"], MESSAGE)
            code, reply = client.noop()
    assert refused == {"nobody@example.org": (550, b"5.1.1 <nobody@example.org>: Recipient address rejected: "
                                                   b"User unknown")}
    assert received == [("bob@example.net", ["ann@example.org"], MESSAGE)]
    assert code == 250 and host.errors == []


def test_webmail_without_a_lab_logs_in_and_lists_the_inbox(host, accounts, store):
    from mailcourse.servers.webmail import webmail_endpoint  # aiohttp: imported when used, as the lab does
    from mailcourse.webmail import Webmail

    def no_submission(device: str) -> smtplib.SMTP:
        raise ConnectionRefusedError("this test has no submission port")

    store.deliver("ann", MESSAGE)
    webmail = Webmail(HOSTNAME, accounts, store, Limits(), new_message_id=lambda: "<1@example.org>",
                      submission=no_submission)
    with running(host, webmail_endpoint(host, webmail)) as (ip, port):
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        form = opener.open(f"http://{ip}:{port}/login", timeout=10).read().decode()
        csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
        fields = urllib.parse.urlencode({"username": "ann", "password": "ann-password", "csrf": csrf}).encode()
        inbox = opener.open(f"http://{ip}:{port}/login", fields, timeout=10)  # follows the 303
        assert inbox.url.endswith("/mailbox/INBOX") and "Standalone" in inbox.read().decode()
    assert host.errors == []
