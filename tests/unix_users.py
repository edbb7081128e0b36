"""Real local Unix users for tests of a shared machine (the peer check, the JupyterHub test).

A class on The Littlest JupyterHub is many Unix users on one machine; the
only honest test of "another student cannot get in" is another Unix user.
`ensure_user` creates one with ``useradd`` (a locked account: no password,
so nobody can log in as it) and leaves it in place for the next run;
`run_as` runs a program as that user with ``setpriv``, which changes the
uid, gid and groups of one command and nothing else (no PAM, no session).

Both need root. Without root a test using them is skipped, except under
CI=true, where CI runs as root and a skip would hide a missing check.
"""
from __future__ import annotations

import os
import pwd
import subprocess
from typing import Any, Sequence

import pytest
from helpers import program


def require_root(why: str) -> None:
    """Skip (fail under CI=true) unless this test runs as root."""
    if os.geteuid() == 0:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run as root: {why}")
    pytest.skip(f"needs root: {why}")


def ensure_user(name: str) -> pwd.struct_passwd:
    """The local user ``name``, created (with a home and its own group) if it does not exist."""
    require_root(f"creates the Unix user {name}")
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    subprocess.run([program("useradd"), "--create-home", "--user-group", "--shell", "/bin/bash", name],
                   check=True, capture_output=True, text=True, timeout=30)
    return pwd.getpwnam(name)


def run_as(user: pwd.struct_passwd, argv: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess:
    """Run ``argv`` as ``user`` (uid, gid, supplementary groups) in a clean environment, from /.

    ``--reset-env`` gives the program that user's HOME, USER and a default
    PATH, as a login would, and none of the test's environment.
    """
    kwargs.setdefault("timeout", 60)
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("text", True)
    kwargs.setdefault("cwd", "/")
    command = [program("setpriv"), f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups",
               "--reset-env", "--", *argv]
    return subprocess.run(command, **kwargs)
