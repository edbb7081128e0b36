"""Starting and stopping labs: nothing leaks, nothing collides.

A notebook cell that builds a lab may run many times in one kernel. Each run
must give back every thread, socket and file it took, use ports nobody else
has, and leave no temporary folder behind.
"""
from __future__ import annotations

import errno
import socket
import threading

import pytest
from helpers import JANE, JOE, listening_here, maildir_messages, open_fds, raw_message, submit, subject_of

from mailcourse import Lab, LabError


def all_addresses(lab: Lab) -> list[tuple[str, int]]:
    return [e.address for s in lab.servers.values() for e in s.endpoints.values()]


def one_cycle(i: int, send: bool) -> None:
    with Lab.classic(seed=i) as lab:
        if send:
            submit(lab, JOE, [JANE], raw_message(JOE, JANE, f"cycle {i}"))
            joe = lab.client("joe-laptop")
            joe.compose(JANE, f"spooled {i}", "x")
            joe.send_all()
            assert lab.wait_for_delivery()
            assert len(maildir_messages(lab.server("somewhereelse.com"), "jane")) == 2


def test_fifty_labs_leave_no_threads_and_no_file_descriptors():
    one_cycle(0, send=True)  # warm up: imports, the first executor, caches
    threads = {t.ident for t in threading.enumerate()}
    fds = open_fds()
    for i in range(1, 51):
        one_cycle(i, send=i % 10 == 0)
        extra = [t for t in threading.enumerate() if t.ident not in threads]
        assert extra == [], f"cycle {i} left threads: {extra}"
        assert open_fds() <= fds, f"cycle {i} left {open_fds() - fds} file descriptors open"


def test_two_labs_at_once_use_different_ports_and_keep_to_themselves():
    with Lab.classic(seed=1) as first, Lab.classic(seed=1) as second:
        assert not set(all_addresses(first)) & set(all_addresses(second))
        assert first.workspace != second.workspace
        submit(first, JOE, [JANE], raw_message(JOE, JANE, "in the first lab"))
        submit(second, JOE, [JANE], raw_message(JOE, JANE, "in the second lab"))
        assert first.wait_for_delivery() and second.wait_for_delivery()
        for lab, subject in ((first, "in the first lab"), (second, "in the second lab")):
            got = [subject_of(m) for m in maildir_messages(lab.server("somewhereelse.com"), "jane")]
            assert got == [subject]
            assert all(c.server.startswith("mail.") for c in lab.trace.sessions())
            assert len(lab.trace.sessions()) == 2  # its own submission and relay, no more


def test_after_stop_nothing_listens_and_the_temporary_workspace_is_gone():
    lab = Lab.classic(seed=1)
    addresses = all_addresses(lab)
    workspace = lab.workspace
    # every endpoint of both servers (SMTP submission and MX, POP3, ...), each its own port
    assert workspace.is_dir() and len(addresses) == sum(len(s.endpoints) for s in lab.servers.values())
    assert len(set(addresses)) == len(addresses) >= 4
    submit(lab, JOE, [JANE], raw_message(JOE, JANE, "before stop"))
    assert all(listening_here(a) for a in addresses)
    lab.stop()
    # Its ports are given back: no socket of this process listens there. (Not "connecting is
    # refused": another program may have been given a freed port by now.)
    assert not any(listening_here(a) for a in addresses)
    assert not workspace.exists()
    assert "stopped" in repr(lab)
    with pytest.raises(LabError):
        lab.add_server("late.example")
    lab.stop()  # twice is fine


def test_a_given_workspace_is_kept(tmp_path):
    workspace = tmp_path / "kept"
    with Lab.classic(workspace=workspace, seed=1) as lab:
        submit(lab, JOE, [JANE], raw_message(JOE, JANE, "keep me"))
        assert lab.wait_for_delivery()
    assert workspace.is_dir()
    with Lab.classic(workspace=workspace, seed=2) as lab:
        got = [m["Subject"] for m in lab.server("somewhereelse.com").mailbox("jane")]
        assert got == ["keep me"]


def test_with_block_stops_the_lab_even_after_an_error():
    before = {t.ident for t in threading.enumerate()}
    with pytest.raises(RuntimeError):
        with Lab.classic(seed=1) as lab:
            addresses, workspace = all_addresses(lab), lab.workspace
            raise RuntimeError("a failing cell")
    assert not any(listening_here(a) for a in addresses)
    assert not workspace.exists()
    assert [t for t in threading.enumerate() if t.ident not in before] == []
    assert lab.loop.is_closed()


def test_with_block_stops_the_lab():
    with Lab.classic() as lab:
        addresses = all_addresses(lab)
        assert all(listening_here(a) for a in addresses)
    assert not any(listening_here(a) for a in addresses)
    assert "stopped" in repr(lab)
    assert lab.loop.is_closed()


def test_stop_with_mail_still_queued_and_clients_connected():
    lab = Lab.classic(seed=1, retry_intervals=(0.05,))
    lab.server("somewhereelse.com").go_offline()
    submit(lab, JOE, [JANE], raw_message(JOE, JANE, "stuck"))
    idle = socket.create_connection(lab.server("someplace.org").submission.address, timeout=5)
    try:
        assert idle.recv(100).startswith(b"220")
        lab.stop()
        assert idle.recv(100) == b""  # the server hung up on it
    finally:
        idle.close()
    assert lab.loop.is_closed()


def test_back_online_on_a_new_port_when_the_old_one_was_taken():
    """While a server is off, another program may get its port; going online must still work."""
    with Lab.classic(seed=1, retry_intervals=(0.2,)) as lab:
        jane_server = lab.server("somewhereelse.com")
        old = jane_server.mx.port
        jane_server.go_offline()
        assert not listening_here(jane_server.mx.address)
        squatter = socket.socket()
        squatted = True
        try:
            squatter.bind(("127.0.0.1", old))  # bound, not listening: connections there are refused
        except OSError as e:  # another program was quicker: the same situation, not of our making
            if e.errno != errno.EADDRINUSE:
                raise
            squatted = False  # ...and it may let go before go_online, which then gets the old port back
        try:
            submit(lab, JOE, [JANE], raw_message(JOE, JANE, "while it was off"))
            jane_server.go_online()
            if squatted:
                assert jane_server.mx.port != old
            assert lab.wait_for_delivery(timeout=10)  # the queue looked the new port up
            got = [subject_of(m) for m in maildir_messages(jane_server, "jane")]
            assert got == ["while it was off"]
        finally:
            squatter.close()
