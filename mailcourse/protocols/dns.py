"""The lab's authoritative DNS server, sans-I/O: one query's bytes in, the answer's bytes out.

Theory of operation
-------------------
A DNS message (RFC 1035 section 4.1) is a 12-byte header (an id, flags, the
response code) and four sections: the question, the answer, the authority
and the additional records. dnspython (`dns.message`) reads and writes the
wire format; this module decides what the lab's zones say:

- a name in a lab zone with records of the asked type: NOERROR, the records
  in the answer section, AA set (RFC 1035 section 4.1.1: the lab *is* the
  authority for its domains, there is no cache in between);
- a name in a lab zone that exists but has no record of that type: NOERROR
  and an empty answer ("no data", RFC 2308 section 2.2), the zone's SOA in
  the authority section so a resolver knows how long to remember it;
- a name in a lab zone that does not exist: NXDOMAIN (RFC 2308 section 2.1),
  with the SOA too;
- a name outside the lab's zones: REFUSED (RFC 1035 section 4.1.1), as an
  authoritative server that is not a public resolver answers;
- a zone switched to fail (``zone.failure``): SERVFAIL, no reply at all
  ("timeout"), or NXDOMAIN for every name of the zone;
- a message that cannot be read but has an id: FORMERR; fewer than two
  bytes: no reply (there is nobody to address one to).

The records (every one with TTL 60, so that a lesson's change is seen in a
minute by any cache): A at the apex and at ``mail.<domain>``; MX ``10
mail.<domain>.`` at the apex (RFC 5321 section 5.1) unless ``zone.mx`` is
False; TXT at the apex (SPF, RFC 7208 section 3), at ``_dmarc.<domain>``
(DMARC, RFC 7489 section 6.1) and at ``<selector>._domainkey.<domain>``
(DKIM, RFC 6376 section 3.6.2); PTR under ``in-addr.arpa`` for each
server's address (RFC 1035 section 3.5).

UDP answers are at most 512 bytes (RFC 1035 section 4.2.1), or what the
client's EDNS OPT record says it can take (RFC 6891 section 6.2.3). A
bigger answer goes without its records and with TC (truncated) set, and
the client asks again over TCP (RFC 7766 section 5), where 65,535 bytes fit.
"""
from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, field

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
from dns.rdtypes.ANY.TXT import TXT

TTL = 60
UDP_LIMIT = 512  # RFC 1035 section 4.2.1
EDNS_LIMIT = 4096  # the most this server sends over UDP, whatever a client offers (RFC 6891 6.2.5)
FAILURES = ("servfail", "timeout", "nxdomain")
_AUTO = "auto"  # "the default SPF record for this zone's address"


@dataclass
class Zone:
    """What the lab publishes for one domain; change a field and the next answer says so.

    ``failure`` is None, or one of `FAILURES`: how the zone misbehaves
    (`mailcourse.dns.LabDNS.fail`). ``broken_key`` serves every DKIM key
    with its ``p=`` value corrupted, so that every signature fails.
    """

    domain: str
    address: str = "127.0.0.1"  # of mail.<domain> (and the apex)
    mx: bool = True
    spf: str | None = _AUTO
    dmarc: str | None = "v=DMARC1; p=none"
    dkim: dict[str, str] = field(default_factory=dict)  # selector -> the TXT record's value
    broken_key: bool = False
    failure: str | None = None

    def __post_init__(self) -> None:
        self.domain = self.domain.lower().rstrip(".")
        if self.spf == _AUTO:
            self.spf = f"v=spf1 ip4:{self.address} -all"

    @property
    def mail_host(self) -> str:
        return f"mail.{self.domain}"

    def records(self) -> dict[tuple[str, str], list[str]]:
        """``(owner name, type) -> values`` in zone-file text (owner names absolute, lower case)."""
        apex, mail = f"{self.domain}.", f"{self.mail_host}."
        found: dict[tuple[str, str], list[str]] = {
            (apex, "A"): [self.address],
            (mail, "A"): [self.address],
            (apex, "SOA"): [f"ns.{apex} hostmaster.{apex} 1 3600 600 86400 {TTL}"],
        }
        if self.mx:
            found[(apex, "MX")] = [f"10 {mail}"]
        if self.spf is not None:
            found[(apex, "TXT")] = [self.spf]
        if self.dmarc is not None:
            found[(f"_dmarc.{apex}", "TXT")] = [self.dmarc]
        for selector, value in self.dkim.items():
            found[(f"{selector.lower()}._domainkey.{apex}", "TXT")] = [
                corrupt_key(value) if self.broken_key else value]
        return found


def corrupt_key(value: str) -> str:
    """A DKIM key record with its ``p=`` (the public key, base64) changed: still base64, never the key."""
    head, sep, rest = value.partition("p=")
    if not sep or not rest:
        return value
    first = rest.lstrip()[:1]
    swapped = "B" if first != "B" else "C"  # one base64 digit changed: the DER no longer reads
    return head + sep + rest.replace(first, swapped, 1)


def ptr_name(address: str) -> str:
    """``127.0.0.1`` -> ``1.0.0.127.in-addr.arpa.`` (RFC 1035 section 3.5)."""
    return ".".join(reversed(address.split("."))) + ".in-addr.arpa."


def txt_strings(value: str) -> list[bytes]:
    """A TXT value cut into character-strings of at most 255 bytes (RFC 1035 section 3.3.14).

    A 2048-bit DKIM key is longer than one string may be; a reader joins
    them again without spaces (RFC 7208 section 3.3, RFC 6376 section 3.6.2.2).
    """
    raw = value.encode()
    return [raw[i:i + 255] for i in range(0, len(raw), 255)] or [b""]


def _rrset(name: str, rdtype: str, values: list[str]) -> dns.rrset.RRset:
    if rdtype == "TXT":
        rrset = dns.rrset.RRset(dns.name.from_text(name), dns.rdataclass.IN, dns.rdatatype.TXT)
        for value in values:
            rrset.add(TXT(dns.rdataclass.IN, dns.rdatatype.TXT, txt_strings(value)), TTL)
        return rrset
    return dns.rrset.from_text_list(name, TTL, "IN", rdtype, values)


def _zone_of(name: str, zones: Mapping[str, Zone]) -> Zone | None:
    """The zone ``name`` falls in: the longest lab domain it ends with."""
    labels = name.rstrip(".").split(".")
    for i in range(len(labels)):
        zone = zones.get(".".join(labels[i:]))
        if zone is not None:
            return zone
    return None


def _formerr(query: bytes) -> bytes:
    """A header-only FORMERR reply to a message that cannot be read (RFC 1035 section 4.1.1)."""
    (query_id,) = struct.unpack("!H", query[:2])
    flags = dns.flags.QR | dns.rcode.FORMERR
    return struct.pack("!HHHHHH", query_id, flags, 0, 0, 0, 0)


def answer(query: bytes, zones: Mapping[str, Zone], *, max_udp: int | None = UDP_LIMIT) -> bytes | None:
    """The reply to one query, or None for no reply at all.

    ``zones`` maps each lab domain to its `Zone`; ``max_udp`` is None for a
    query that came over TCP (no size limit but the 65,535 of its length prefix).
    """
    try:
        request = dns.message.from_wire(query)
    except Exception:  # dns.exception.DNSException, and a few plain errors for some broken messages
        return _formerr(query) if len(query) >= 2 else None
    if request.flags & dns.flags.QR:
        return None  # a response: answering it could start two servers talking forever
    response = dns.message.make_response(request)
    response.flags |= dns.flags.AA
    if request.opcode() != dns.opcode.QUERY:
        response.set_rcode(dns.rcode.NOTIMP)
        return response.to_wire()
    if len(request.question) != 1:
        response.set_rcode(dns.rcode.FORMERR)
        return response.to_wire()
    question = request.question[0]
    name = question.name.to_text().lower()
    rdtype = dns.rdatatype.to_text(question.rdtype)
    rcode = _fill(response, name, rdtype, zones)
    if rcode is None:
        return None  # "timeout": the zone's server does not answer
    response.set_rcode(rcode)
    if max_udp is None:
        return response.to_wire()
    limit = max(UDP_LIMIT, min(request.payload, EDNS_LIMIT)) if request.edns >= 0 else max_udp
    try:
        return response.to_wire(max_size=limit)
    except dns.exception.TooBig:
        # Too big for UDP: the header and question only, TC set (RFC 2181 section 9); ask over TCP.
        response.answer, response.authority, response.additional = [], [], []
        response.flags |= dns.flags.TC
        return response.to_wire()


def _fill(response: dns.message.Message, name: str, rdtype: str, zones: Mapping[str, Zone]) -> int | None:
    """Put the records for ``name``/``rdtype`` into ``response``; its rcode, or None for no reply."""
    if name.endswith(".in-addr.arpa."):
        hosts = sorted(f"{z.mail_host}." for z in zones.values() if ptr_name(z.address) == name)
        if not hosts:
            return dns.rcode.NXDOMAIN
        if rdtype in ("PTR", "ANY"):
            response.answer.append(_rrset(name, "PTR", hosts))
        return dns.rcode.NOERROR
    zone = _zone_of(name, zones)
    if zone is None:
        return dns.rcode.REFUSED
    if zone.failure == "timeout":
        return None
    if zone.failure == "servfail":
        return dns.rcode.SERVFAIL
    records = zone.records()
    soa = _rrset(f"{zone.domain}.", "SOA", records[(f"{zone.domain}.", "SOA")])
    # A name exists if it owns records, or if a name below it does (an "empty non-terminal",
    # such as _domainkey.<domain>: RFC 8020 says it is NOERROR, not NXDOMAIN).
    exists = any(owner == name or owner.endswith("." + name) for owner, _ in records)
    if zone.failure == "nxdomain" or not exists:
        response.authority.append(soa)
        return dns.rcode.NXDOMAIN
    for (owner, kind), values in records.items():
        if owner == name and rdtype in (kind, "ANY"):
            response.answer.append(_rrset(owner, kind, values))
    if not response.answer:
        response.authority.append(soa)  # no data (RFC 2308 section 2.2)
    return dns.rcode.NOERROR


def summary(message: bytes) -> list[str]:
    """What one DNS message says, a line each: ``query MX example.org``, ``answer MX 10 mail...``.

    For reading a recording (`mailcourse.protocols.exchanges`): it never raises.
    """
    try:
        msg = dns.message.from_wire(message)
    except Exception:
        return [f"[not a DNS message: {len(message)} bytes]"]
    if not msg.flags & dns.flags.QR:
        return [f"query {dns.rdatatype.to_text(q.rdtype)} {q.name.to_text(omit_final_dot=True)}"
                for q in msg.question] or ["query (no question)"]
    rcode = dns.rcode.to_text(msg.rcode())
    truncated = " (truncated: ask again over TCP)" if msg.flags & dns.flags.TC else ""
    if msg.rcode() != dns.rcode.NOERROR:
        return [f"answer {rcode}{truncated}"]
    lines = [f"answer {dns.rdatatype.to_text(rrset.rdtype)} {_shown(rdata)}"
             for rrset in msg.answer for rdata in rrset]
    return lines or [f"answer NOERROR, no records{truncated}"]


def _shown(rdata: object) -> str:
    if isinstance(rdata, TXT):
        return '"' + b"".join(rdata.strings).decode("utf-8", "replace") + '"'
    return str(rdata)
