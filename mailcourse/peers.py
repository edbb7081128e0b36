"""Who is calling? The Unix user behind the other end of a loopback connection.

On a machine shared by a class (The Littlest JupyterHub puts every student
on one machine) every student's lab listens on the same 127.0.0.1. A port
number is no secret, and the lessons print the classic passwords, so without
a check anyone logged in to the machine could read jane's mail in another
student's lab, or send mail into it through the MX, which by design takes
mail without a login. A lab therefore answers only its owner's programs: the
student's Jupyter server and its proxy, their terminal, their own mail
programs, ``python -m mailcourse serve``.

The question is identd's (RFC 1413): for the connection from port *p* to our
port *q*, which user owns the socket at the far end? On Linux the kernel
answers it for any loopback connection, two ways:

* **sock_diag** (netlink, ``NETLINK_SOCK_DIAG``; man 7 sock_diag): ask for the
  one TCP socket whose local end is the peer's address and whose remote end
  is ours. The kernel finds it in its connection hash table, so the answer
  costs the same with five sockets on the machine or fifty thousand.
* **/proc/net/tcp** and **tcp6** (the kernel's
  Documentation/networking/proc_net_tcp.rst): one row per socket, with a
  ``uid`` column. Reading it means reading every socket's row, so it is the
  fallback where netlink is refused (some containers).

Both are parsed here without I/O (`diag_request`, `diag_reply_uid`,
`proc_net_tcp_uid`), then asked by `owner_uid`. Elsewhere (macOS, Windows)
neither exists: `lookup_method` says None, the lab says so in its repr, and
it answers everybody, as before.

Why keep the classic passwords (``jane-password``) rather than draw random
ones per lab? The lessons print them, mutt and mbsync are configured with
them, and a student types them in the webmail. A random password would guard
only the logins; the MX has no login to guard. The peer check closes every
door at once, before a byte of any protocol is spoken.
"""
from __future__ import annotations

import errno
import functools
import ipaddress
import socket
import struct
import sys
from pathlib import Path

# linux/netlink.h, linux/sock_diag.h, linux/inet_diag.h
NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLMSG_ERROR = 2
NLM_F_REQUEST = 0x1
INET_DIAG_NOCOOKIE = 0xFFFFFFFF
ALL_STATES = 0xFFFFFFFF

_NLMSGHDR = struct.Struct("=IHHII")  # length, type, flags, sequence number, port id
# struct inet_diag_req_v2: family, protocol, ext, pad, states; then inet_diag_sockid
_REQ_HEAD = struct.Struct("=BBBxI")
# struct inet_diag_sockid: ports in network order, addresses as 16 bytes, if, cookie
_SOCKID = struct.Struct("!HH16s16s")
_SOCKID_TAIL = struct.Struct("=III")  # interface, cookie[2]
# struct inet_diag_msg: family, state, timer, retrans, sockid (48 bytes), then
# expires, rqueue, wqueue, uid, inode
_MSG_UID = struct.Struct("=IIIII")
_MSG_UID_AT = 4 + _SOCKID.size + _SOCKID_TAIL.size

PROC_NET_TCP = (Path("/proc/net/tcp"), Path("/proc/net/tcp6"))

Address = tuple[str, int]


# -- sock_diag, without I/O ---------------------------------------------------------------

def _sixteen(host: str) -> bytes:
    """An IPv4 address as inet_diag_sockid holds it: 4 bytes, then 12 zero bytes."""
    return ipaddress.IPv4Address(host).packed.ljust(16, b"\0")


def diag_request(peer: Address, ours: Address, sequence: int = 1) -> bytes:
    """The netlink message asking for the socket at ``peer`` connected to ``ours``.

    Without NLM_F_DUMP the kernel looks up exactly one socket
    (inet_diag_find_one_icsk): its *source* is the peer's address, its
    *destination* ours. The cookie must then be INET_DIAG_NOCOOKIE.
    """
    body = (_REQ_HEAD.pack(socket.AF_INET, socket.IPPROTO_TCP, 0, ALL_STATES)
            + _SOCKID.pack(peer[1], ours[1], _sixteen(peer[0]), _sixteen(ours[0]))
            + _SOCKID_TAIL.pack(0, INET_DIAG_NOCOOKIE, INET_DIAG_NOCOOKIE))
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST,
                          sequence, 0) + body


def diag_reply_uid(reply: bytes) -> int | None:
    """The uid in the kernel's answer to `diag_request`; None if it found no such socket.

    The answer is either an inet_diag_msg or an NLMSG_ERROR carrying a
    negative errno (ENOENT: no such socket). Any other error is raised as
    OSError: the caller cannot tell who is calling.
    """
    length, kind, _, _, _ = _NLMSGHDR.unpack_from(reply)
    if kind == NLMSG_ERROR:
        (code,) = struct.unpack_from("=i", reply, _NLMSGHDR.size)
        if -code == errno.ENOENT:
            return None
        raise OSError(-code, f"sock_diag: {errno.errorcode.get(-code, -code)}")
    if kind != SOCK_DIAG_BY_FAMILY or length > len(reply):
        raise OSError(errno.EPROTO, f"sock_diag: unexpected reply type {kind}")
    _, _, _, uid, _ = _MSG_UID.unpack_from(reply, _NLMSGHDR.size + _MSG_UID_AT)
    return uid


# -- /proc/net/tcp, without I/O -------------------------------------------------------------

def proc_address(text: str, byteorder: str = sys.byteorder) -> Address:
    """``0100007F:1F90`` -> ("127.0.0.1", 8080).

    The kernel prints each 32-bit word of the address as a number in the
    machine's own byte order (little-endian on x86 and ARM), and the port as a
    plain number. An IPv6 row's IPv4-mapped address (``::ffff:127.0.0.1``,
    a dual-stack socket talking IPv4) comes back as the IPv4 address.
    """
    hex_host, _, hex_port = text.partition(":")
    raw = b"".join(int(hex_host[i:i + 8], 16).to_bytes(4, byteorder)  # type: ignore[arg-type]
                   for i in range(0, len(hex_host), 8))
    host = ipaddress.ip_address(raw)
    if isinstance(host, ipaddress.IPv6Address) and host.ipv4_mapped is not None:
        host = host.ipv4_mapped
    return str(host), int(hex_port, 16)


def proc_hex(address: Address, family: int = socket.AF_INET, byteorder: str = sys.byteorder) -> str:
    """The inverse of `proc_address`: how /proc/net/tcp (``AF_INET``) or tcp6 (``AF_INET6``) prints it."""
    host = ipaddress.IPv4Address(address[0])
    raw = host.packed if family == socket.AF_INET else ipaddress.IPv6Address(f"::ffff:{host}").packed
    words = "".join(f"{int.from_bytes(raw[i:i + 4], byteorder):08X}"  # type: ignore[arg-type]
                    for i in range(0, len(raw), 4))
    return f"{words}:{address[1]:04X}"


def proc_net_tcp_uid(text: str, peer: Address, ours: Address, family: int = socket.AF_INET,
                     byteorder: str = sys.byteorder) -> int | None:
    """The uid of the row whose local address is ``peer`` and remote address ``ours``, or None.

    The row is found by its text (local and remote address side by side), so
    a file of thousands of rows is searched, not parsed.
    """
    at = text.find(f" {proc_hex(peer, family, byteorder)} {proc_hex(ours, family, byteorder)} ")
    if at < 0:
        return None
    fields = text[at:text.find("\n", at)].split()
    return int(fields[6])  # local, remote, st, queues, timer, retransmits, uid


# -- asking the kernel -----------------------------------------------------------------------

SOCK_DIAG, PROC = "sock_diag", "/proc/net/tcp"


def _ask_sock_diag(peer: Address, ours: Address) -> int | None:
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG) as nl:
        nl.settimeout(1.0)  # the kernel answers at once; never wait for ever
        nl.send(diag_request(peer, ours))
        return diag_reply_uid(nl.recv(8192))


def _ask_proc(peer: Address, ours: Address) -> int | None:
    for path, family in zip(PROC_NET_TCP, (socket.AF_INET, socket.AF_INET6)):
        try:
            text = path.read_text()
        except FileNotFoundError:  # no IPv6 in this kernel
            continue
        uid = proc_net_tcp_uid(text, peer, ours, family)
        if uid is not None:
            return uid
    return None


PROC_NET_UDP = (Path("/proc/net/udp"), Path("/proc/net/udp6"))


def proc_net_udp_uid(text: str, peer: Address, family: int = socket.AF_INET,
                     byteorder: str = sys.byteorder) -> int | None:
    """The uid of the UDP socket bound to ``peer`` (its row in /proc/net/udp), or None.

    UDP has no connection: a client's socket is usually unconnected (remote
    ``00000000:0000``), so the row is found by its local address alone.
    """
    at = text.find(f": {proc_hex(peer, family, byteorder)} ")
    if at < 0:  # a socket that never bound, sending from the "any" address (0.0.0.0, or ::)
        at = text.find(f": {'0' * (8 if family == socket.AF_INET else 32)}:{peer[1]:04X} ")
    if at < 0:
        return None
    fields = text[at:text.find("\n", at)].split()
    return int(fields[7])  # ":", local, remote, st, queues, timer, retransmits, uid


def udp_owner_uid(peer: Address) -> int | None:
    """The uid owning the UDP socket ``peer`` on this machine, or None (gone, or not Linux).

    Read from /proc/net/udp (and udp6): a short file, since few programs keep
    UDP sockets, so a datagram's check costs a small read. OSError if unreadable.
    """
    for path, family in zip(PROC_NET_UDP, (socket.AF_INET, socket.AF_INET6)):
        try:
            text = path.read_text()
        except FileNotFoundError:
            continue
        uid = proc_net_udp_uid(text, peer, family)
        if uid is not None:
            return uid
    return None


ASK = {SOCK_DIAG: _ask_sock_diag, PROC: _ask_proc}  # netlink first: see lookup_method


@functools.cache  # found once per process
def lookup_method() -> str | None:
    """How this machine tells socket owners: `SOCK_DIAG`, `PROC`, or None (no peer check possible).

    Tried once, by asking about a socket that does not exist (port 0): an
    answer of "no such socket" shows the question can be asked. Netlink is
    preferred: it looks up one socket, where /proc/net/tcp lists them all (a
    few milliseconds with a few hundred sockets on the machine, a tenth of a
    second with thousands; ``python -m mailcourse bench`` measures both).
    Some sandboxes refuse netlink; macOS and Windows have neither.
    """
    if not sys.platform.startswith("linux"):
        return None
    nobody = ("127.0.0.1", 0)
    for method, ask in ASK.items():
        try:
            ask(nobody, nobody)
        except OSError:
            continue
        return method
    return None


def owner_uid(peer: Address, ours: Address, method: str = SOCK_DIAG) -> int | None:
    """The uid owning the client socket of the loopback connection ``peer`` -> ``ours``.

    None when the kernel knows no such socket: the client has already gone
    (a socket in TIME_WAIT has no owner left to tell). ``method`` is what
    `lookup_method` found. OSError if the kernel refuses to say.
    """
    return ASK[method](peer, ours)
