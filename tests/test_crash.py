"""An accepted message survives a crash of the process (RFC 5321 section 4.1.1.4, "250 to DATA").

A child process runs a lab on a kept workspace, with jane's server switched
off so that mail for her has to wait in joe's server's queue. It submits
messages with smtplib and prints "ACCEPTED n" after each 250; the test kills
it with SIGKILL (no clean-up of any kind) right after the last one. A new lab
on the same workspace must then find every message: delivered in a Maildir,
or still queued and delivered once the lab runs.
"""
from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

from helpers import JANE, JOE, maildir_messages, queue_files, raw_message, submit, subject_of

from mailcourse import Lab

REPO = Path(__file__).resolve().parent.parent
SEED = 7
REMOTE, LOCAL, INJECTED = 5, 3, 2

CHILD = textwrap.dedent("""
    import smtplib, sys
    from email.message import EmailMessage
    from mailcourse import Lab

    workspace, seed, remote, local, injected = sys.argv[1], int(sys.argv[2]), *map(int, sys.argv[3:6])
    lab = Lab.classic(workspace=workspace, seed=seed, retry_intervals=(0.2, 0.5))
    if sys.argv[6] == "offline":
        lab.server("somewhereelse.com").go_offline()  # mail for jane must wait in the queue

    def message(to, subject):
        return (f"From: joe@someplace.org\\r\\nTo: {to}\\r\\nSubject: {subject}\\r\\n\\r\\n"
                f"{subject}\\r\\n").encode()

    with smtplib.SMTP(*lab.server("someplace.org").submission.address, timeout=10) as client:
        client.ehlo("joe-laptop")
        client.login("joe@someplace.org", "joe-password")
        n = 0
        for i in range(remote):
            client.sendmail("joe@someplace.org", ["jane@somewhereelse.com"], message("jane@somewhereelse.com", f"remote {i}"))
            print(f"ACCEPTED {n}", flush=True); n += 1
        for i in range(local):
            client.sendmail("joe@someplace.org", ["joe@someplace.org"], message("joe@someplace.org", f"local {i}"))
            print(f"ACCEPTED {n}", flush=True); n += 1
        for i in range(injected):
            msg = EmailMessage()
            msg["From"], msg["To"], msg["Subject"] = "joe@someplace.org", "joe@someplace.org", f"injected {i}"
            msg.set_content("x")
            lab.server("someplace.org").inject("joe", msg)
            print(f"ACCEPTED {n}", flush=True); n += 1
        import time
        time.sleep(60)  # the test kills us before this ends
""")


def read_line(proc: subprocess.Popen, deadline: float) -> str:
    assert proc.stdout is not None
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("the child process said nothing in time")
        ready, _, _ = select.select([proc.stdout], [], [], left)
        if ready:
            line = proc.stdout.readline()
            if not line:
                err = proc.stderr.read() if proc.stderr else ""
                raise AssertionError(f"the child process ended early: {err}")
            return line.strip()


def run_and_kill(workspace: Path, jane: str = "offline") -> list[str]:
    total = REMOTE + LOCAL + INJECTED
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(workspace), str(SEED), str(REMOTE), str(LOCAL), str(INJECTED), jane],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    said = []
    try:
        deadline = time.monotonic() + 30
        while len(said) < total:
            said.append(read_line(proc, deadline))
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    return said


def subjects(lab: Lab, address: str) -> Counter[str]:
    local, _, domain = address.partition("@")
    return Counter(subject_of(m) for m in maildir_messages(lab.server(domain), local))


def test_every_accepted_message_survives_sigkill(tmp_path):
    workspace = tmp_path / "workspace"
    said = run_and_kill(workspace)
    assert said == [f"ACCEPTED {n}" for n in range(REMOTE + LOCAL + INJECTED)]

    # The same workspace, and the same seed, as a notebook re-run after a kernel restart.
    with Lab.classic(workspace=workspace, seed=SEED, retry_intervals=(0.2, 0.5)) as lab:
        assert lab.wait_for_delivery()
        expected_jane = Counter(f"remote {i}" for i in range(REMOTE))
        expected_joe = Counter([f"local {i}" for i in range(LOCAL)] + [f"injected {i}" for i in range(INJECTED)])
        assert subjects(lab, JANE) == expected_jane
        assert subjects(lab, JOE) == expected_joe  # each exactly once, and no bounce
        assert queue_files(lab.server("someplace.org")) == []


def test_queued_mail_waits_for_its_server_after_a_restart(tmp_path):
    """After the restart jane's server stays off a while: the old and the new mail both wait."""
    workspace = tmp_path / "workspace"
    run_and_kill(workspace)
    with Lab.classic(workspace=workspace, seed=SEED, retry_intervals=(0.2, 0.5)) as lab:
        jane_server = lab.server("somewhereelse.com")
        jane_server.go_offline()
        joe_server = lab.server("someplace.org")
        # New mail after the restart; a seeded lab draws the same queue ids as before.
        submit(lab, JOE, [JANE], raw_message(JOE, JANE, "after restart"))
        assert len(queue_files(joe_server)) == REMOTE + 1
        jane_server.go_online()
        assert lab.wait_for_delivery()
        assert subjects(lab, JANE) == Counter([f"remote {i}" for i in range(REMOTE)] + ["after restart"])
        assert all(subject_of(m) != "Undelivered Mail Returned to Sender"
                   for m in maildir_messages(joe_server, "joe"))


def test_killed_while_relaying_loses_nothing(tmp_path):
    """Jane's server is on: the child relays while it accepts, and dies mid-way.

    A message the relay handed over just before the kill may come twice (the
    queue could not note the success): SMTP promises "at least once". Locally
    delivered mail never comes twice.
    """
    workspace = tmp_path / "workspace"
    run_and_kill(workspace, jane="online")
    with Lab.classic(workspace=workspace, seed=SEED, retry_intervals=(0.2, 0.5)) as lab:
        assert lab.wait_for_delivery()
        at_jane = subjects(lab, JANE)
        assert set(at_jane) == {f"remote {i}" for i in range(REMOTE)}
        assert subjects(lab, JOE) == Counter([f"local {i}" for i in range(LOCAL)]
                                             + [f"injected {i}" for i in range(INJECTED)])
