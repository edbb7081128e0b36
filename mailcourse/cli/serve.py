"""``python -m mailcourse serve``: the classic lab, for real mail programs.

The lab of the notebooks, started from a terminal and left running, so that
programs outside Python can use it: swaks, curl, Thunderbird, mutt. Every
port listens on 127.0.0.1 only, drawn at random below the ephemeral range
(`mailcourse.ports`), so the printed addresses change on every start, nothing
is reachable from another machine, and two students on one JupyterHub never
collide. On Linux the lab also answers only the programs of the user who
started it (`mailcourse.peers`): another student's mail program is closed
out before the greeting. The accounts are fake ones all the same: the
passwords are printed for anyone reading the screen.

``--json`` is for programs (tests, scripts): the first line of output is one
JSON object with every endpoint and login, then nothing more::

    {"domains": {"someplace.org": {"hostname": "mail.someplace.org",
                                   "submission": ["127.0.0.1", 40001],
                                   "mx": ["127.0.0.1", 40002], ...,
                                   "submissions": ["127.0.0.1", 40006], ...}, ...},
     "users": [{"address": "joe@someplace.org", "login": "joe@someplace.org",
                "password": "joe-password"}, ...],
     "workspace": "/tmp/mailcourse-...",
     "ca": "/tmp/mailcourse-.../tls/ca.pem",
     "keylog": "/tmp/mailcourse-.../tls/keylog.txt",
     "commands": {"swaks STARTTLS": "swaks --server ...", ...}}

Each domain lists every service its server offers (``server.endpoints``):
submission, mx, pop3 and imap offer STARTTLS (STLS for POP3); submissions,
pop3s and imaps are TLS from the first byte (RFC 8314), and so is webmails,
the webmail over HTTPS (webmail is the same site in plain HTTP). ``ca`` is the lab
CA's certificate, which a mail program must trust to verify the servers;
``keylog`` holds the TLS session secrets (for Wireshark). ``commands`` are
ready command lines for real clients. The lab's servers relay to each other
with STARTTLS when offered (opportunistic TLS, `mailcourse.queue`).

``--require-tls`` (``require_tls=True``; ``"require_tls": true`` in the JSON)
is the real world's policy: every server takes a password only inside TLS
(`Limits.login_requires_tls`: SMTP AUTH gets 538 and EHLO offers AUTH only
after STARTTLS, POP3 and IMAP refuse USER and LOGIN, the plain-HTTP webmail
answers its login form with 403), and a relay that cannot start TLS with
the receiver keeps the message queued (``relay_tls="required"``).
The lab stops cleanly on Ctrl-C (SIGINT) or SIGTERM.
"""
from __future__ import annotations

import json
import re
import shlex
import signal
import sys
import threading
import time
import urllib.parse
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence, TextIO

from ..lab import Lab
from ..limits import Limits
from ..queue import OPPORTUNISTIC, REQUIRED
from ..trace import S2C, Connection, Trace

# One line per service for humans; a service not listed here is shown by name.
SERVICE_HINTS = {
    "submission": "SMTP submission (RFC 6409): mail programs send here; login required (AUTH PLAIN or LOGIN)",
    "mx": "SMTP MX (RFC 5321): other servers deliver here; only mail for this domain, no login",
    "pop3": "POP3 (RFC 1939): download mail",
    "imap": "IMAP (RFC 3501): mail stays on the server, in folders",
    "webmail": "webmail (HTTP): open in a browser",
    "submissions": "SMTP submission with implicit TLS (RFC 8314, port 465 in the real world)",
    "pop3s": "POP3 with implicit TLS (RFC 8314, port 995 in the real world)",
    "imaps": "IMAP with implicit TLS (RFC 8314, port 993 in the real world)",
    "webmails": "webmail over HTTPS (RFC 9110, port 443 in the real world): open in a browser",
}

_LOCAL_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")  # what the mail store accepts as a name
_DOMAIN = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$")

# Replies worth a line in the activity log: logins, accepted messages, every refusal.
# SMTP: authenticated, refused, queued; POP3: -ERR; IMAP: a tagged NO or BAD, or a BYE;
# HTTP (webmail): an error status.
_NOTABLE = re.compile(r"^(?:235 |[45]\d\d[ -]|-ERR|\S+ (?:NO|BAD) |\* BYE |HTTP/1\.[01] [45]\d\d )|queued as")


def parse_user(value: str) -> tuple[str, str]:
    """``ADDRESS:PASSWORD`` (the password may contain ``:``) -> (address, password).

    Raises ValueError with a sentence a user can act on.
    """
    address, sep, password = value.partition(":")
    example = "for example ann@example.net:secret"
    if not sep or not password:
        raise ValueError(f"{value!r}: expected ADDRESS:PASSWORD, {example}")
    local, at, domain = address.rpartition("@")
    if not at or not _LOCAL_PART.match(local) or ".." in local or not _DOMAIN.match(domain):
        raise ValueError(f"{address!r} is not a usable mail address; expected ADDRESS:PASSWORD, {example}")
    return address.lower(), password


def endpoints_document(lab: Lab) -> dict[str, Any]:
    """Every endpoint and login of ``lab``, as ``serve --json`` prints it."""
    domains: dict[str, Any] = {}
    for domain, server in lab.servers.items():
        entry: dict[str, Any] = {"hostname": server.hostname}
        for service, endpoint in server.endpoints.items():
            entry[service] = list(endpoint.address)
        domains[domain] = entry
    users = [{"address": address, "login": address, "password": password}
             for address, password in lab.users.items()]
    document = {"domains": domains, "users": users, "workspace": str(lab.workspace),
                "owner_only": lab.network.owner_only, "ca": str(lab.ca_file), "keylog": str(lab.tls.keylog_file)}
    if lab.dns is not None:
        document["dns"] = list(lab.dns.address)
    document["commands"] = client_commands(document)
    return document


def _sender_and_reader(document: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """The first user, and a user of another domain to write to (the first user if there is none)."""
    users = document["users"]
    sender = users[0]
    domain = sender["address"].rpartition("@")[2]
    reader = next((u for u in users if not u["address"].endswith("@" + domain)), sender)
    return sender, reader


def client_commands(document: dict[str, Any]) -> dict[str, str]:
    """Command lines for real programs, TLS verified against the lab's CA, from `endpoints_document`.

    Every certificate names 127.0.0.1 too (`mailcourse.tls`), so a client
    that checks the host it connected to accepts it once it trusts the CA.
    """
    q, ca = shlex.quote, shlex.quote(document["ca"])
    sender, reader = _sender_and_reader(document)
    server = document["domains"][sender["address"].rpartition("@")[2]]
    inbox = document["domains"][reader["address"].rpartition("@")[2]]
    login, password = q(sender["login"]), q(sender["password"])
    user = q(reader["login"] + ":" + reader["password"])
    swaks = (f"--auth PLAIN --auth-user {login} --auth-password {password} "
             f"--from {q(sender['address'])} --to {q(reader['address'])} --tls-verify --tls-ca-path {ca}")
    commands = {
        "swaks STARTTLS": "swaks --server {}:{} --tls {}".format(*server["submission"], swaks),
        "swaks implicit TLS": "swaks --server {}:{} --tlsc {}".format(*server["submissions"], swaks),
        "openssl STARTTLS on MX": "openssl s_client -starttls smtp -verify_return_error -CAfile {} "
                                  "-connect {}:{}".format(ca, *inbox["mx"]),
        "curl POP3 STLS": "curl --ssl-reqd --cacert {} pop3://{}:{}/ --user {}".format(ca, *inbox["pop3"], user),
        "curl pop3s": "curl --cacert {} pop3s://{}:{}/ --user {}".format(ca, *inbox["pop3s"], user),
        "curl IMAP STARTTLS": "curl --ssl-reqd --cacert {} 'imap://{}:{}/INBOX;UID=1' --user {}".format(
            ca, *inbox["imap"], user),
        "curl imaps": "curl --cacert {} 'imaps://{}:{}/INBOX;UID=1' --user {}".format(ca, *inbox["imaps"], user),
    }
    if "webmails" in inbox:
        commands["curl webmail https"] = "curl --cacert {} https://{}:{}/login".format(ca, *inbox["webmails"])
    return commands


def describe(document: dict[str, Any], kept: bool) -> str:
    """The same facts as `endpoints_document`, for a person at a terminal."""
    who = ("only your own user's programs get an answer" if document.get("owner_only")
           else "any user of this machine can connect")
    lines = ["mailcourse: the classic lab is running on 127.0.0.1. Press Ctrl-C to stop it.", "",
             f"Mail servers (one per domain; every port listens on 127.0.0.1 only; {who})"]
    for domain, entry in document["domains"].items():
        lines.append(f"  {domain}  ({entry['hostname']})")
        for service, value in entry.items():
            if service != "hostname":
                host, port = value
                lines.append(f"      {service:<11} {host}:{port:<6}  {SERVICE_HINTS.get(service, service)}")
    users = document["users"]
    width = max(len(u["address"]) for u in users) + 2
    lines += ["", "Logins (fake accounts for this lab only: never type a real password here)",
              f"  {'address':<{width}}{'login':<{width}}password"]
    lines += [f"  {u['address']:<{width}}{u['login']:<{width}}{u['password']}" for u in users]

    sender = users[0]
    sender_domain = sender["address"].rpartition("@")[2]
    recipient = next((u for u in users if not u["address"].endswith("@" + sender_domain)), sender)["address"]
    host, port = document["domains"][sender_domain]["submission"]
    login, password, q = sender["login"], sender["password"], shlex.quote
    lines += [
        "", "Try it (from another terminal)",
        f"  swaks --server {host}:{port} --auth PLAIN --auth-user {q(login)} "
        f"--auth-password {q(password)} --from {q(sender['address'])} --to {q(recipient)}",
        f"  curl smtp://{host}:{port} --user {q(login + ':' + password)} "
        f"--mail-from {q(sender['address'])} --mail-rcpt {q(recipient)} --upload-file message.eml",
        "      (message.eml: header lines such as From:, To:, Subject:, then a blank line and the text)",
        f"  A mail program: outgoing (SMTP) server {host}, port {port}, no encryption,",
        f"  normal password, user name {login}.",
    ]
    reader = next((u for u in users if u["address"] == recipient), sender)
    reader_domain = document["domains"][reader["address"].rpartition("@")[2]]
    if "imap" in reader_domain:
        host, port = reader_domain["imap"]
        user = urllib.parse.quote(reader["login"], safe="")
        lines += [
            f"  curl 'imap://{host}:{port}/INBOX;UID=1' --user {q(reader['login'] + ':' + reader['password'])}",
            "      (reads the message with UID 1; imap://HOST:PORT/ lists the folders)",
            f"  mutt -e 'set ssl_starttls=no ssl_force_tls=no imap_pass={reader['password']}' "
            f"-f imap://{user}@{host}:{port}/INBOX",
            f"  A mail program: incoming (IMAP) server {host}, port {port}, no encryption,",
            f"  normal password, user name {reader['login']}.",
        ]
    if "webmail" in reader_domain:
        host, port = reader_domain["webmail"]
        lines.append(f"  open http://{host}:{port}/ in a browser (the webmail; log in as {reader['login']})")
    if "webmails" in reader_domain:
        host, port = reader_domain["webmails"]
        lines.append(f"  or https://{host}:{port}/ (the same webmail over TLS: trust the lab's CA below first)")
    if "dns" in document:
        host, port = document["dns"]
        lines += ["", "DNS (the lab's domains: MX, A, TXT for SPF, DMARC and DKIM; UDP and TCP)",
                  f"  dig @{host} -p {port} MX {reader['address'].rpartition('@')[2]}"]
    workspace = document["workspace"]
    lines += ["", f"With TLS, verified against the lab's CA {document['ca']}",
              "(import it into a mail program as a certificate authority, or trust it when asked):"]
    lines += [f"  {command}" for command in document["commands"].values()]
    lines += ["  A mail program: the same servers and ports as above with STARTTLS, or the ports of",
              "  submissions, pop3s and imaps with SSL/TLS; the host name 127.0.0.1."]
    if document.get("require_tls"):
        lines += ["  --require-tls: every server takes passwords only inside TLS (STARTTLS first, or the",
                  "  implicit-TLS ports; the webmail over https only), and the servers relay only over TLS."]
    lines += ["", f"Mailboxes are Maildir folders (mutt -f DIR reads one): {workspace}/servers/<domain>/mail/<user>/",
              "The mail stays there between runs (--workspace)." if kept else
              "This temporary folder is removed when the lab stops (--workspace DIR keeps the mail).",
              "", "Sessions, as they end:"]
    return "\n".join(lines)


def session_summary(trace: Trace, conn: Connection) -> str:
    """One line for a finished session: who talked to whom, and the replies that matter."""
    if conn.refused is not None:
        return f"{time.strftime('%H:%M:%S')}  {conn.label}"
    notable = [line for direction, line in trace.lines(conn) if direction == S2C and _NOTABLE.search(line)]
    return f"{time.strftime('%H:%M:%S')}  {conn.label}: {'; '.join(notable) or 'no mail'}"


@contextmanager
def stop_signals(stop: threading.Event) -> Iterator[None]:
    """Turn Ctrl-C (SIGINT) and SIGTERM into ``stop.set()`` for the duration, then restore."""
    def handler(signum: int, frame: Any) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


# The sessions `serve` keeps in its trace: it runs for hours, so the oldest finished sessions
# are dropped beyond this many (each whole), and its memory stays flat (`Trace`).
KEPT_SESSIONS = 200


def serve(users: Sequence[tuple[str, str]] = (), workspace: str | Path | None = None, *, as_json: bool = False,
          retry_intervals: tuple[float, ...] | None = None, lifetime: float | None = None,
          transcript: bool = False, out: TextIO | None = None,
          stop: threading.Event | None = None, pcap: str | Path | None = None,
          require_tls: bool = False, dns: bool = True) -> int:
    """Run the classic lab (plus ``users``) until a signal or ``stop`` is set; returns an exit status.

    Must run on the main thread (signal handlers); ``stop`` lets a caller end it otherwise.
    ``pcap``: on the way out, the sessions the trace still keeps (`KEPT_SESSIONS`) are
    written there as a pcapng capture (`Trace.to_pcapng`). ``require_tls``: passwords
    only inside TLS, and relays only over TLS (see the module's docstring). ``dns``:
    the lab's DNS server runs (`mailcourse.dns`), and the relays ask it for MX records.
    """
    out = out or sys.stdout
    stop = stop or threading.Event()
    options: dict[str, Any] = {}
    if retry_intervals is not None:
        options["retry_intervals"] = retry_intervals
    if lifetime is not None:
        options["queue_lifetime"] = lifetime

    def say(text: str) -> None:
        try:
            print(text, file=out, flush=True)
        except (BrokenPipeError, ValueError):  # nobody reads any more; keep serving
            pass

    with stop_signals(stop):
        # Between the lab's servers, STARTTLS when offered, as between most of the Internet's;
        # with require_tls, only over TLS. The webmail is served over HTTPS too.
        if require_tls:
            options["limits"] = Limits(login_requires_tls=True)
        lab = Lab.classic(workspace=workspace, max_trace_connections=KEPT_SESSIONS,
                          relay_tls=REQUIRED if require_tls else OPPORTUNISTIC, webmail_https=True, dns=dns, **options)
        try:
            for address, password in users:
                lab.add_user(address, password)
            document = endpoints_document(lab)
            document["require_tls"] = require_tls
            say(json.dumps(document) if as_json else describe(document, kept=workspace is not None))
            seen, pending = lab.trace.mark(), []
            while not stop.wait(0.2):
                if as_json:
                    continue
                new = lab.trace.sessions(since=seen)
                seen += len(new)
                pending += new
                for conn in [c for c in pending if c.closed is not None]:
                    say(lab.trace.transcript(conn) + "\n" if transcript else session_summary(lab.trace, conn))
                    pending.remove(conn)
        finally:
            lab.stop()
    if pcap is not None:
        written = lab.trace.to_pcapng(pcap)  # after the stop: every session is closed, each with its FIN
        if not as_json:
            say(f"Wrote {pcap}: {written.contents()}.")
    if not as_json:
        say("\nStopped." + (f" The mail is kept in {workspace}." if workspace is not None else ""))
    return 0
