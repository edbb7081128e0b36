"""The lab's DNS: its zones, what breaks them, and how lab programs ask (``Lab(dns=True)``).

    >>> from mailcourse import Lab
    >>> with Lab.classic(dns=True) as lab:
    ...     lab.dns.resolve("somewhereelse.com", "MX", "joe-laptop")
    ['10 mail.somewhereelse.com.']

``lab.dns[domain]`` is the `Zone` of a lab domain: change it (``zone.mx =
False``, ``zone.dkim["s1"] = "v=DKIM1; ..."``) and the next answer says so,
since nothing is cached. `LabDNS.fail` makes a zone's server misbehave
(SERVFAIL, no answer, NXDOMAIN), `LabDNS.heal` ends it.

A lab program asks as a stub resolver does (RFC 1035 section 7): a query
over UDP, and over TCP again if the answer came back truncated (TC, RFC 7766
section 5), from a socket the lab's `Network` knows as the asking device's,
so that the trace says who asked. No cache, a one-second timeout.
"""
from __future__ import annotations

import random
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rdtypes.ANY.TXT

from . import ports
from .errors import DNSTempError, LabError
from .protocols.dns import FAILURES, Zone
from .servers.dns import DNSServer

if TYPE_CHECKING:
    from .lab import Lab

__all__ = ["Answer", "LabDNS", "Zone"]

TIMEOUT = 1.0  # seconds: the lab's server is on the same machine; waiting longer helps nobody
_ids = random.SystemRandom()  # query ids unguessable, as RFC 5452 section 4.3 asks


@dataclass(frozen=True)
class Answer:
    """What the server said: its response code ("NOERROR", "NXDOMAIN", ...) and the records, as text."""

    rcode: str
    records: list[str]


class LabDNS:
    """The zones of a lab and its DNS server (`mailcourse.servers.dns`); ``lab.dns``."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.zones: dict[str, Zone] = {}
        self.server = DNSServer(lab.network, self.zones)

    # -- the zones -------------------------------------------------------------------

    def __getitem__(self, domain: str) -> Zone:
        try:
            return self.zones[domain.lower().rstrip(".")]
        except KeyError:
            raise LabError(f"no zone for {domain!r}; the lab's DNS has {sorted(self.zones)}") from None

    def __contains__(self, domain: object) -> bool:
        return isinstance(domain, str) and domain.lower().rstrip(".") in self.zones

    def __iter__(self) -> Iterator[str]:
        return iter(self.zones)

    def add_zone(self, domain: str, address: str = "127.0.0.1", **fields: object) -> Zone:
        """Publish a zone for ``domain`` (a forger's domain needs no mail server); ``fields``: `Zone`'s."""
        zone = Zone(domain, address, **fields)  # type: ignore[arg-type]
        if zone.domain in self.zones:
            raise LabError(f"the lab's DNS already has a zone for {zone.domain}")
        self.zones[zone.domain] = zone
        return zone

    def fail(self, domain: str, kind: str = "servfail") -> None:
        """Make ``domain``'s server answer SERVFAIL, not at all ("timeout"), or NXDOMAIN for every name."""
        if kind not in FAILURES:
            raise LabError(f"unknown DNS failure {kind!r}; one of {', '.join(FAILURES)}")
        self[domain].failure = kind

    def heal(self, domain: str | None = None) -> None:
        """End the failure of ``domain``, or of every zone."""
        for zone in [self[domain]] if domain is not None else self.zones.values():
            zone.failure = None

    @property
    def address(self) -> tuple[str, int]:
        """Where the server listens, UDP and TCP: ``dig @127.0.0.1 -p PORT ...``."""
        return self.server.address

    # -- asking ----------------------------------------------------------------------

    def query(self, name: str, rdtype: str, device: str) -> Answer:
        """Ask the lab's server on behalf of ``device``; raises `DNSTempError` on SERVFAIL or no answer."""
        request = dns.message.make_query(name, rdtype)
        request.id = _ids.randrange(1 << 16)
        try:
            response = self._udp(request, device)
            if response.flags & dns.flags.TC:
                response = self._tcp(request, device)
        except (OSError, dns.exception.DNSException) as e:  # socket.timeout among them
            raise DNSTempError(f"no answer from the lab's DNS for {name} {rdtype} ({e or 'timeout'})") from None
        rcode = dns.rcode.to_text(response.rcode())
        if response.rcode() == dns.rcode.SERVFAIL:
            raise DNSTempError(f"SERVFAIL from the lab's DNS for {name} {rdtype}")
        wanted = dns.rdatatype.from_text(rdtype)
        return Answer(rcode, [_text(rdata) for rrset in response.answer if rrset.rdtype == wanted
                              for rdata in rrset])

    def resolve(self, name: str, rdtype: str, device: str) -> list[str]:
        """The records of type ``rdtype`` at ``name``, as text (``"10 mail.example.org."``); [] if none."""
        return self.query(name, rdtype, device).records

    def txt(self, name: str, device: str) -> list[str]:
        """Each TXT record at ``name``, its strings joined (RFC 7208 section 3.3); [] if none."""
        return self.resolve(name, "TXT", device)

    def _udp(self, request: dns.message.Message, device: str) -> dns.message.Message:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(TIMEOUT)
            sock.bind(("127.0.0.1", 0))  # UDP: no kernel's (TCP) port can be taken by this
            self.lab.network.claim(sock, device)
            sock.sendto(request.to_wire(), self.address)
            while True:  # an answer to another question (a late one) is not ours
                data, _ = sock.recvfrom(65535)
                response = dns.message.from_wire(data)
                if request.is_response(response):
                    return response

    def _tcp(self, request: dns.message.Message, device: str) -> dns.message.Message:
        with ports.client_socket("127.0.0.1") as sock:
            sock.settimeout(TIMEOUT)
            self.lab.network.claim(sock, device)
            sock.connect(self.address)
            wire = request.to_wire()
            sock.sendall(struct.pack("!H", len(wire)) + wire)
            (size,) = struct.unpack("!H", _read(sock, 2))
            return dns.message.from_wire(_read(sock, size))

    def __repr__(self) -> str:
        return f"<LabDNS {self.address[0]}:{self.address[1]} zones={sorted(self.zones)}>"


def _read(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionResetError("the DNS server closed the connection")
        data += chunk
    return data


def _text(rdata: object) -> str:
    if isinstance(rdata, dns.rdtypes.ANY.TXT.TXT):
        return b"".join(rdata.strings).decode("utf-8", "replace")
    return str(rdata)
