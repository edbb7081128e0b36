"""mailcourse.peers: who owns the far end of a loopback connection, without and with the kernel."""
from __future__ import annotations

import errno
import os
import socket
import struct
import sys

import pytest

from mailcourse import peers

PEER, OURS = ("127.0.0.1", 46424), ("127.0.0.1", 20025)

# /proc/net/tcp as a little-endian machine prints it (two rows shortened to the first eight columns
# plus a few): the listener, and the client socket of uid 1001 connected to it.
PROC_TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:4E39 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1001 1 0
   1: 0100007F:B558 0100007F:4E39 01 00000000:00000000 00:00000000 00000000  1001        0 2002 1 0
   2: 0100007F:4E39 0100007F:B558 01 00000000:00000000 00:00000000 00000000     0        0 3003 1 0
"""
# The same client as a dual-stack IPv6 socket (::ffff:127.0.0.1), uid 1002.
PROC_TCP6 = """\
  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0000000000000000FFFF00000100007F:B558 0000000000000000FFFF00000100007F:4E39 01 00000000:00000000 00:00000000 00000000  1002        0 4004 1 0
"""


def test_proc_addresses_read_in_the_machines_byte_order():
    assert peers.proc_address("0100007F:1F90", "little") == ("127.0.0.1", 8080)
    assert peers.proc_address("7F000001:1F90", "big") == ("127.0.0.1", 8080)
    assert peers.proc_address("0000000000000000FFFF00000100007F:0019", "little") == ("127.0.0.1", 25)
    assert peers.proc_address("00000000000000000000000001000000:0019", "little") == ("::1", 25)
    for order in ("little", "big"):
        for family in (socket.AF_INET, socket.AF_INET6):
            assert peers.proc_address(peers.proc_hex(PEER, family, order), order) == PEER


def test_the_client_row_is_found_not_the_servers():
    assert peers.proc_net_tcp_uid(PROC_TCP, PEER, OURS, socket.AF_INET, "little") == 1001
    # Swapped ends name the server's own accepted socket (uid 0): a different row.
    assert peers.proc_net_tcp_uid(PROC_TCP, OURS, PEER, socket.AF_INET, "little") == 0
    assert peers.proc_net_tcp_uid(PROC_TCP, ("127.0.0.1", 1), OURS, socket.AF_INET, "little") is None
    assert peers.proc_net_tcp_uid(PROC_TCP6, PEER, OURS, socket.AF_INET6, "little") == 1002
    assert peers.proc_net_tcp_uid(PROC_TCP6, PEER, OURS, socket.AF_INET, "little") is None


def test_the_sock_diag_request_asks_for_one_socket_by_its_four_addresses():
    request = peers.diag_request(PEER, OURS, sequence=7)
    length, kind, flags, sequence, _ = struct.unpack_from("=IHHII", request)
    assert (length, kind, flags, sequence) == (len(request), 20, 1, 7)  # no NLM_F_DUMP: exactly one
    family, protocol = request[16], request[17]
    assert (family, protocol) == (socket.AF_INET, socket.IPPROTO_TCP)
    sport, dport = struct.unpack_from("!HH", request, 24)
    assert (sport, dport) == (PEER[1], OURS[1])  # the client socket's source is the peer
    assert request[28:32] == socket.inet_aton(PEER[0]) and request[44:48] == socket.inet_aton(OURS[0])
    assert request[-8:] == b"\xff" * 8  # INET_DIAG_NOCOOKIE
    assert len(request) == 16 + 56  # nlmsghdr + inet_diag_req_v2


def reply(uid: int) -> bytes:
    body = struct.pack("=BBBB", socket.AF_INET, 1, 0, 0) + bytes(48) + struct.pack("=IIIII", 0, 0, 0, uid, 99)
    return struct.pack("=IHHII", 16 + len(body), 20, 0, 1, 0) + body


def error(code: int) -> bytes:
    body = struct.pack("=i", -code) + bytes(16)
    return struct.pack("=IHHII", 16 + len(body), 2, 0, 1, 0) + body


def test_the_sock_diag_reply_gives_the_uid_or_says_no_such_socket():
    assert peers.diag_reply_uid(reply(1001)) == 1001
    assert peers.diag_reply_uid(error(errno.ENOENT)) is None
    with pytest.raises(OSError):
        peers.diag_reply_uid(error(errno.EPERM))


@pytest.fixture
def connection():
    """A real loopback connection: (the client's address, the accepting side's address)."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        with socket.create_connection(server.getsockname()) as client:
            accepted, peer = server.accept()
            with accepted:
                yield peer, accepted.getsockname()
                assert client.getsockname() == peer


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the kernel tells socket owners on Linux only")
@pytest.mark.parametrize("ask", [peers.ASK[peers.SOCK_DIAG], peers.ASK[peers.PROC]], ids=["sock_diag", "proc"])
def test_the_kernel_names_this_process_as_the_owner(connection, ask):
    peer, ours = connection
    assert ask(peer, ours) == os.getuid()
    assert ask(("127.0.0.1", 1), ours) is None


def test_a_lab_says_when_it_cannot_tell_who_is_calling():
    from mailcourse import Lab

    with Lab.classic() as lab:
        assert lab.network.owner_only == (peers.lookup_method() is not None)
        assert "any user" not in repr(lab) or not lab.network.owner_only
        lab.network.uid = None  # as on macOS
        assert repr(lab).endswith("; any user of this machine can connect (no peer check here)>")
