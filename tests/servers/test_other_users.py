"""A lab answers only its owner's programs (issue 12): another Unix user gets no session at all.

The owner (this test process, root in CI) runs the classic lab. A second,
real Unix user then does what anyone on a shared hub could do with what the
course prints: send through the submission port with joe's login, hand jane
a message at the MX, log in to jane's mailbox over POP3 and IMAP, log in to
the webmail. Each attempt is a small standard-library script run by the
system's python3 (readable by every user, unlike the project's .venv). The
stranger must see every connection closed before a greeting, nothing may
arrive, and the lab's trace must show the refused connections; the owner,
running the same script, gets in everywhere.
"""
from __future__ import annotations

import json
import os
import pwd
import sys

import pytest
from helpers import maildir_messages, wait_until
from unix_users import ensure_user, run_as

from mailcourse import Lab, peers
from mailcourse.cli.serve import endpoints_document

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the peer check needs Linux")

STRANGER = "mailcourse-other"
PYTHON = "/usr/bin/python3" if sys.platform.startswith("linux") else sys.executable

# Every attempt prints "ok" or the exception that stopped it.
VISITOR = r'''
import http.client, imaplib, json, poplib, re, smtplib, sys, urllib.parse

lab, who = json.loads(sys.argv[1]), sys.argv[2]
joe, jane = "joe@someplace.org", "jane@somewhereelse.com"
password = {u["address"]: u["password"] for u in lab["users"]}
ours, theirs = lab["domains"]["someplace.org"], lab["domains"]["somewhereelse.com"]
message = "From: {0}\r\nTo: {1}\r\nSubject: {2} from {3}\r\n\r\nHello.\r\n"

def submission():
    with smtplib.SMTP(*ours["submission"], timeout=10) as s:
        s.login(joe, password[joe])
        s.sendmail(joe, [jane], message.format(joe, jane, "submission", who))

def mx():
    with smtplib.SMTP(*theirs["mx"], timeout=10) as s:
        s.sendmail(joe, [jane], message.format(joe, jane, "mx", who))

def pop3():
    p = poplib.POP3(*theirs["pop3"], timeout=10)
    p.user(jane)
    p.pass_(password[jane])
    p.stat()
    p.quit()

def imap():
    with imaplib.IMAP4(*theirs["imap"], timeout=10) as i:
        i.login(jane, password[jane])
        i.select("INBOX")

def webmail():
    c = http.client.HTTPConnection(*theirs["webmail"], timeout=10)
    c.request("GET", "/login")
    page = c.getresponse()
    cookie = page.getheader("Set-Cookie").split(";")[0]
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.read().decode()).group(1)
    form = urllib.parse.urlencode({"csrf": csrf, "username": jane, "password": password[jane]})
    c.request("POST", "/login", form, {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"})
    answer = c.getresponse()
    assert answer.status == 303 and "login" not in answer.getheader("Location"), answer.status

results = {}
for attempt in (submission, mx, pop3, imap, webmail):
    try:
        attempt()
        results[attempt.__name__] = "ok"
    except Exception as e:
        results[attempt.__name__] = f"{type(e).__name__}: {e}"
print(json.dumps(results))
'''

SERVICES = ("submission", "mx", "pop3", "imap", "webmail")


def visit(lab: Lab, user, who: str) -> dict[str, str]:
    done = run_as(user, [PYTHON, "-I", "-c", VISITOR, json.dumps(endpoints_document(lab)), who])
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def subjects(lab: Lab) -> list[str]:
    return [line.split(":", 1)[1].strip() for raw in maildir_messages(lab.server("somewhereelse.com"), "jane")
            for line in raw.decode().splitlines() if line.startswith("Subject:")]


@pytest.mark.parametrize("lookup", [peers.SOCK_DIAG, peers.PROC])
def test_another_user_gets_no_session_and_the_owner_gets_in(tmp_path, lookup):
    """Both ways of asking the kernel: netlink, and /proc/net/tcp off the loop (the fallback)."""
    assert peers.lookup_method() == peers.SOCK_DIAG  # what Linux offers, here and in CI
    stranger = ensure_user(STRANGER)
    owner = pwd.getpwuid(os.getuid())
    with Lab.classic(workspace=tmp_path / "lab") as lab:
        lab.network.lookup = lookup
        mark = lab.trace.mark()
        seen = visit(lab, stranger, "stranger")
        for service in SERVICES:
            # No greeting ever came: each client library's words for a connection closed at once.
            assert seen[service].startswith(("SMTPServerDisconnected", "error_proto", "abort",
                                             "RemoteDisconnected", "ConnectionResetError")), (service, seen)
        refused = lab.trace.sessions(since=mark)
        assert {c.service for c in refused} == set(SERVICES)
        assert all(c.refused == f"refused: another user (uid {stranger.pw_uid})" for c in refused)
        # Not a byte of any protocol crossed: the trace has no data for these connections.
        assert all(lab.trace.filter(c, kind="data") == [] for c in refused)
        assert "refused: another user" in lab.trace.transcript(refused[0])

        mark = lab.trace.mark()
        assert visit(lab, owner, "owner") == dict.fromkeys(SERVICES, "ok")
        assert all(c.refused is None for c in lab.trace.sessions(since=mark))
        assert lab.wait_for_delivery()
        wait_until(lambda: len(subjects(lab)) == 2, what="the owner's two messages")
        assert sorted(subjects(lab)) == ["mx from owner", "submission from owner"]
