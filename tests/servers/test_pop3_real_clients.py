"""Real POP3 clients against ``python -m mailcourse serve``: curl, and the sequences mail programs use.

curl (pop3://) lists and retrieves. It asks CAPA first and, as the server
lists ``SASL PLAIN``, logs in with AUTH PLAIN: after a ``+ `` continuation by
default, on the AUTH line itself with ``--sasl-ir``. ``--login-options
AUTH=+APOP`` makes it use APOP with the greeting's timestamp instead. (curl
has no option that forces USER/PASS on a POP3 server offering SASL:
``AUTH=+LOGIN`` is IMAP's, since curl 8.2; curl 7.88 rejects it for pop3://.
The USER/PASS path is the desktop client's below, with poplib.)

The poplib tests replay what mail programs send: a desktop client's "get
mail, delete from server" (CAPA, USER/PASS, STAT, UIDL, LIST, RETR, DELE,
QUIT) and fetchmail's "keep on server" (``LIST n`` then ``TOP n 99999999``
for each message, and UIDL to skip what it has already).

Every test empties jane's maildrop first (with poplib: DELE each, QUIT),
then mails her by SMTP, and the proof is the bytes in her Maildir.
Under CI=true a missing curl is a failure (.ci/run installs it); elsewhere
the curl tests are skipped.
"""
from __future__ import annotations

import poplib
import re
import smtplib
import subprocess

import pytest
from helpers import program

DOMAIN = "somewhereelse.com"
JANE = f"jane@{DOMAIN}"


@pytest.fixture
def served(served_lab):
    """The module's ``serve`` process (tests/conftest.py), with jane's maildrop empty."""
    client = pop(served_lab)
    client.user(JANE)
    client.pass_(served_lab.password(JANE))
    for number in range(1, client.stat()[0] + 1):
        client.dele(number)
    client.quit()
    assert served_lab.maildir(JANE) == []
    return served_lab


def send_to_jane(served, *subjects: str) -> list[bytes]:
    """jane mails herself (one domain: delivered before the 250); returns her Maildir after."""
    with smtplib.SMTP(*served.endpoint(DOMAIN, "submission"), timeout=10) as client:
        client.login(JANE, served.password(JANE))
        for subject in subjects:
            client.sendmail(JANE, [JANE], f"From: {JANE}\r\nTo: {JANE}\r\nSubject: {subject}\r\n\r\n"
                                          "Hello.\r\n.A line that begins with a dot.\r\n".encode())
    return served.maildir(JANE)


def pop(served) -> poplib.POP3:
    return poplib.POP3(*served.endpoint(DOMAIN, "pop3"), timeout=10)


# -- curl ------------------------------------------------------------------------------------

def curl(served, path: str, *options: str) -> subprocess.CompletedProcess[bytes]:
    host, port = served.endpoint(DOMAIN, "pop3")
    return subprocess.run(
        [program("curl"), "--silent", "--show-error", "--verbose", "--max-time", "20",
         f"pop3://{host}:{port}/{path}", "--user", f"{JANE}:{served.password(JANE)}", *options],
        capture_output=True, timeout=60)


@pytest.mark.parametrize("options, login_line", [
    ([], rb"^> AUTH PLAIN\r?$"),
    (["--sasl-ir"], rb"^> AUTH PLAIN [A-Za-z0-9+/=]+\r?$"),
    (["--login-options", "AUTH=+APOP"], rb"^> APOP jane@somewhereelse.com [0-9a-f]{32}\r?$"),
], ids=["auth-plain-continuation", "auth-plain-sasl-ir", "apop"])
def test_curl_lists_and_retrieves(served, options, login_line):
    stored = send_to_jane(served, "first", "second")
    listed = curl(served, "", *options)
    assert listed.returncode == 0, listed.stderr.decode()
    assert listed.stdout == b"".join(b"%d %d\r\n" % (n, len(raw)) for n, raw in enumerate(stored, 1))
    verbose = listed.stderr
    assert re.search(rb"^> CAPA\r?$", verbose, re.M)
    assert re.search(login_line, verbose, re.M), verbose.decode()
    if not options:
        assert re.search(rb"^< \+ \r?$", verbose, re.M)  # the empty challenge (RFC 5034)
    for number, raw in enumerate(stored, 1):
        fetched = curl(served, str(number), *options)
        assert fetched.returncode == 0, fetched.stderr.decode()
        assert fetched.stdout == raw  # exactly as stored, with CRLF, the stuffed dot removed
    assert served.maildir(JANE) == stored  # reading deletes nothing


# -- what mail programs send -----------------------------------------------------------------

def test_a_desktop_clients_download_and_delete(served):
    stored = send_to_jane(served, "one", "two", "three")
    client = pop(served)
    capabilities = client.capa()
    assert {"USER", "UIDL", "TOP", "PIPELINING", "RESP-CODES"} <= set(capabilities)
    client.user(JANE)
    assert client.pass_(served.password(JANE)).startswith(b"+OK")
    assert client.stat() == (3, sum(map(len, stored)))
    uidls = [line.split()[1] for line in client.uidl()[1]]
    assert len(set(uidls)) == 3
    sizes = [int(line.split()[1]) for line in client.list()[1]]
    assert sizes == [len(raw) for raw in stored]
    for number in range(1, 4):
        assert b"\r\n".join(client.retr(number)[1]) + b"\r\n" == stored[number - 1]
        client.dele(number)
    assert client.quit().endswith(b"(maildrop empty)")
    assert served.maildir(JANE) == []
    again = pop(served)
    again.user("jane")  # the local part is a login too
    again.pass_(served.password(JANE))
    assert again.stat() == (0, 0)
    again.quit()


def test_fetchmails_list_n_top_n_99999999_and_uidl(served):
    stored = send_to_jane(served, "a", "b")
    client = pop(served)
    client.capa()
    client.user(JANE)
    client.pass_(served.password(JANE))
    count, _ = client.stat()
    first_uidls = client.uidl()[1]
    for number in range(1, count + 1):
        assert client.list(number) == b"+OK %d %d" % (number, len(stored[number - 1]))
        assert b"\r\n".join(client.top(number, 99999999)[1]) + b"\r\n" == stored[number - 1]
    client.quit()
    # Kept on the server; next time UIDL tells which one is new.
    stored = send_to_jane(served, "c")
    client = pop(served)
    client.user(JANE)
    client.pass_(served.password(JANE))
    seen = {line.split()[1] for line in first_uidls}
    new = [line.split() for line in client.uidl()[1] if line.split()[1] not in seen]
    assert [number for number, _ in new] == [b"3"]
    assert b"\r\n".join(client.top(3, 99999999)[1]) + b"\r\n" == stored[2]
    client.quit()
    assert len(served.maildir(JANE)) == 3
