"""The lab's DNS: the sans-I/O answers, the server over real UDP and TCP (dig), and the relay's MX lookups.

dig is the real client here (bind9-dnsutils; CI installs it, see .ci/run).
"""
from __future__ import annotations

import socket
import subprocess
import time

import dns.flags
import dns.message
import dns.rcode
import pytest

from mailcourse import Lab
from mailcourse.errors import DNSTempError
from mailcourse.protocols.dns import Zone, answer, corrupt_key, summary
from tests.helpers import program

# The size of a 2048-bit RSA public key's base64 (392 characters): its TXT record needs two
# character-strings (RFC 1035 section 3.3.14), and its answer (476 bytes) just fits in 512.
BIG_KEY = "v=DKIM1; k=rsa; p=" + "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA" + "x" * 342 + "IDAQAB"
# A 4096-bit key's size (736 characters): too big for a 512-byte UDP answer.
HUGE_KEY = "v=DKIM1; k=rsa; p=" + "MIICIjANBgkqhkiG9w0BAQEFAAOCAg8AMIICCgKCAgEA" + "x" * 686 + "IDAQAB"


def zones() -> dict[str, Zone]:
    return {"someplace.org": Zone("someplace.org"),
            "somewhereelse.com": Zone("somewhereelse.com", dkim={"s1": BIG_KEY, "s2": BIG_KEY})}


def ask(name: str, rdtype: str, found: dict[str, Zone] | None = None, **options) -> dns.message.Message:
    reply = answer(dns.message.make_query(name, rdtype).to_wire(), found or zones(), **options)
    assert reply is not None
    return dns.message.from_wire(reply)


# -- protocols/dns.py, no sockets ---------------------------------------------------------------

def test_mx_a_and_txt_answers_are_authoritative_with_ttl_60():
    mx = ask("somewhereelse.com", "MX")
    assert mx.rcode() == dns.rcode.NOERROR and mx.flags & dns.flags.AA
    assert [str(r) for r in mx.answer[0]] == ["10 mail.somewhereelse.com."] and mx.answer[0].ttl == 60
    assert [str(r) for r in ask("mail.someplace.org", "A").answer[0]] == ["127.0.0.1"]
    assert summary(ask("someplace.org", "TXT").to_wire()) == ['answer TXT "v=spf1 ip4:127.0.0.1 -all"']
    assert summary(ask("_dmarc.someplace.org", "TXT").to_wire()) == ['answer TXT "v=DMARC1; p=none"']
    assert sorted(summary(ask("1.0.0.127.in-addr.arpa", "PTR").to_wire())) == [
        "answer PTR mail.someplace.org.", "answer PTR mail.somewhereelse.com."]


def test_nxdomain_nodata_refused_and_the_zone_failures():
    assert ask("nosuch.someplace.org", "A").rcode() == dns.rcode.NXDOMAIN
    nodata = ask("mail.someplace.org", "MX")
    assert nodata.rcode() == dns.rcode.NOERROR and not nodata.answer and nodata.authority  # SOA (RFC 2308)
    assert ask("_domainkey.somewhereelse.com", "TXT").rcode() == dns.rcode.NOERROR  # empty non-terminal
    assert ask("example.com", "A").rcode() == dns.rcode.REFUSED
    found = zones()
    found["someplace.org"].failure = "servfail"
    assert ask("someplace.org", "MX", found).rcode() == dns.rcode.SERVFAIL
    found["someplace.org"].failure = "nxdomain"
    assert ask("someplace.org", "MX", found).rcode() == dns.rcode.NXDOMAIN
    found["someplace.org"].failure = "timeout"
    assert answer(dns.message.make_query("someplace.org", "MX").to_wire(), found) is None
    found["someplace.org"].mx = False
    found["someplace.org"].failure = None
    assert not ask("someplace.org", "MX", found).answer


def test_garbage_gets_formerr_or_nothing():
    reply = answer(b"\xab\xcd\x01\x00 not dns", zones())
    assert reply is not None and reply[:2] == b"\xab\xcd"
    assert dns.message.from_wire(reply).rcode() == dns.rcode.FORMERR
    assert answer(b"\x01", zones()) is None
    assert answer(b"", zones()) is None
    response = ask("someplace.org", "A").to_wire()
    assert answer(response, zones()) is None  # a response is never answered


def test_big_txt_is_truncated_over_udp_and_complete_over_tcp():
    udp = ask("s1._domainkey.somewhereelse.com", "TXT")
    assert not udp.flags & dns.flags.TC  # a 2048-bit key: 476 bytes, it fits
    huge = answer(dns.message.make_query("s1._domainkey.somewhereelse.com", "TXT").to_wire(),
                  {"somewhereelse.com": Zone("somewhereelse.com", dkim={"s1": HUGE_KEY})})
    assert huge is not None and dns.message.from_wire(huge).flags & dns.flags.TC
    assert not dns.message.from_wire(huge).answer
    tcp = ask("s1._domainkey.somewhereelse.com", "TXT", max_udp=None)
    assert b"".join(tcp.answer[0][0].strings).decode() == BIG_KEY
    assert len(tcp.answer[0][0].strings) == 2  # cut at 255 bytes


def test_broken_key_serves_a_corrupted_p_value():
    found = zones()
    found["somewhereelse.com"].broken_key = True
    shown = b"".join(ask("s1._domainkey.somewhereelse.com", "TXT", found).answer[0][0].strings).decode()
    assert shown != BIG_KEY and shown == corrupt_key(BIG_KEY) and shown.startswith("v=DKIM1; k=rsa; p=")


# -- the server, with dig ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def lab():
    with Lab.classic(dns=True, retry_intervals=(0.2,)) as lab:
        yield lab


def dig(address: tuple[str, int], *args: str) -> str:
    host, port = address
    done = subprocess.run([program("dig"), f"@{host}", "-p", str(port), "+tries=1", "+time=3", *args],
                          capture_output=True, text=True, timeout=20)
    return done.stdout


def check_with_dig(address: tuple[str, int]) -> None:
    assert "IN\tMX\t10 mail.somewhereelse.com." in dig(address, "MX", "somewhereelse.com")
    assert "v=spf1" in dig(address, "TXT", "someplace.org")
    assert "v=DMARC1" in dig(address, "TXT", "_dmarc.someplace.org")
    over_tcp = dig(address, "+tcp", "MX", "somewhereelse.com")
    assert "(TCP)" in over_tcp and "10 mail.somewhereelse.com." in over_tcp
    assert "status: NXDOMAIN" in dig(address, "A", "nosuch.someplace.org")


def test_dig_asks_the_lab(lab):
    check_with_dig(lab.dns.address)
    assert "status: REFUSED" in dig(lab.dns.address, "A", "example.com")
    # dig's sessions are in the trace, readable.
    conn = [c for c in lab.trace.sessions(protocol="DNS") if c.client == "client"][-1]
    assert lab.trace.transcript(conn).splitlines()[1:] == ["C: query A example.com", "S: answer REFUSED"]


def test_a_big_dkim_key_is_truncated_over_udp_and_whole_over_tcp(lab):
    lab.dns["someplace.org"].dkim["big"] = HUGE_KEY
    udp = dig(lab.dns.address, "+noedns", "+ignore", "TXT", "big._domainkey.someplace.org")
    assert " tc" in udp.split("flags:")[1].split(";")[0] and "ANSWER: 0" in udp
    tcp = dig(lab.dns.address, "+tcp", "TXT", "big._domainkey.someplace.org")
    assert "p=MIICIjANBgkqhkiG9w0BAQEFAAOCAg8AMIICCgKCAgEA" in tcp and "IDAQAB" in tcp
    # The lab's own client retries over TCP by itself, and joins the strings.
    assert lab.dns.txt("big._domainkey.someplace.org", "joe-laptop") == [HUGE_KEY]
    assert lab.trace.sessions(protocol="DNS", service="dns-tcp", device="joe-laptop")


def test_garbage_datagram_does_not_stop_the_server(lab):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(3)
        sock.sendto(b"\x12\x34 garbage", lab.dns.address)
        reply = dns.message.from_wire(sock.recv(512))
        assert reply.id == 0x1234 and reply.rcode() == dns.rcode.FORMERR
        sock.sendto(b"\x00", lab.dns.address)  # no reply for this one
    assert lab.dns.resolve("somewhereelse.com", "MX", "joe-laptop") == ["10 mail.somewhereelse.com."]


def test_txt_and_resolve_and_their_errors(lab):
    assert lab.dns.txt("_dmarc.someplace.org", "joe-laptop") == ["v=DMARC1; p=none"]
    assert lab.dns.txt("nosuch.someplace.org", "joe-laptop") == []
    forger = lab.dns.add_zone("forger.example", spf="v=spf1 -all")
    assert "forger.example" in lab.dns and lab.dns["forger.example"] is forger
    assert lab.dns.txt("forger.example", "joe-laptop") == ["v=spf1 -all"]
    lab.dns.fail("forger.example", "servfail")
    with pytest.raises(DNSTempError):
        lab.dns.txt("forger.example", "joe-laptop")
    lab.dns.fail("forger.example", "timeout")
    with pytest.raises(DNSTempError):
        lab.dns.resolve("forger.example", "A", "joe-laptop")
    lab.dns.heal("forger.example")
    assert lab.dns.resolve("forger.example", "A", "joe-laptop") == ["127.0.0.1"]


# -- the relay -------------------------------------------------------------------------------

def send(lab: Lab, to: str, subject: str) -> None:
    joe = lab.client("joe-laptop")
    joe.compose(to, subject, "Hello.")
    joe.send_all()


def inbox(lab: Lab) -> list[str]:
    return [m["Subject"] for m in lab.server("somewhereelse.com").mailbox("jane")]


def test_the_relay_asks_mx_then_a_and_delivers(lab):
    mark = lab.trace.mark()
    send(lab, "jane@somewhereelse.com", "Found by MX")
    assert lab.wait_for_delivery()
    assert "Found by MX" in inbox(lab)
    asked = [lab.trace.transcript(c).splitlines()[1:] for c in lab.trace.sessions(protocol="DNS", since=mark)
             if c.client == "mail.someplace.org"]
    assert ["C: query MX somewhereelse.com", "S: answer MX 10 mail.somewhereelse.com."] in asked
    assert ["C: query A mail.somewhereelse.com", "S: answer A 127.0.0.1"] in asked


def test_servfail_defers_with_443_then_heal_delivers(lab):
    queue = lab.server("someplace.org").queue
    lab.dns.fail("somewhereelse.com", "servfail")
    try:
        send(lab, "jane@somewhereelse.com", "After the outage")
        assert lab.wait_for(lambda: any(item.last_reply for item in queue.items.values()))
        (item,) = queue.items.values()
        assert item.last_reply["jane@somewhereelse.com"].startswith("451 4.4.3")
    finally:
        lab.dns.heal()
    assert lab.wait_for_delivery()
    assert "After the outage" in inbox(lab)


def test_nxdomain_bounces_with_512(lab):
    queue = lab.server("someplace.org").queue
    send(lab, "jane@nosuch.somewhereelse.com", "Nowhere")
    assert lab.wait_for_delivery()
    assert any("failed for <jane@nosuch.somewhereelse.com>: 550 5.1.2" in line for line in queue.log)
    assert lab.wait_for(lambda: any(b"jane@nosuch.somewhereelse.com" in m.as_bytes()
                                    for m in lab.server("someplace.org").mailbox("joe")))


def test_no_mx_record_means_the_implicit_mx(lab):
    lab.dns["somewhereelse.com"].mx = False
    try:
        mark = lab.trace.mark()
        send(lab, "jane@somewhereelse.com", "Implicit MX")
        assert lab.wait_for_delivery()
    finally:
        lab.dns["somewhereelse.com"].mx = True
    assert "Implicit MX" in inbox(lab)
    asked = [lab.trace.transcript(c).splitlines()[1:] for c in lab.trace.sessions(protocol="DNS", since=mark)]
    assert ["C: query A somewhereelse.com", "S: answer A 127.0.0.1"] in asked


def test_dns_is_off_by_default():
    with Lab() as plain:
        assert plain.dns is None


# -- serve ---------------------------------------------------------------------------------------

def test_serve_runs_dns_by_default(start_serve):
    served = start_serve()
    host, port = served.info["dns"]
    assert host == "127.0.0.1"
    check_with_dig((host, port))


def test_serve_no_dns(start_serve):
    assert "dns" not in start_serve("--no-dns").info


def test_serve_human_output_prints_a_dig_line():
    import os
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "mailcourse", "serve"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        deadline, lines = time.monotonic() + 30, []
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if line.startswith("  dig @127.0.0.1 -p ") or not line:
                break
        assert lines[-1].strip().endswith("MX somewhereelse.com"), lines
    finally:
        proc.terminate()
        proc.communicate(timeout=20)


def test_proc_net_udp_names_the_owner_of_a_bound_and_of_an_unbound_socket():
    from mailcourse.peers import proc_net_udp_uid

    text = ("   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
            "  1: 0100007F:3039 00000000:0000 07 00000000:00000000 00:00000000 00000000  1001        0 1\n"
            "  2: 00000000:D431 00000000:0000 07 00000000:00000000 00:00000000 00000000  1002        0 2\n")
    assert proc_net_udp_uid(text, ("127.0.0.1", 0x3039), byteorder="little") == 1001
    assert proc_net_udp_uid(text, ("127.0.0.1", 0xD431), byteorder="little") == 1002
    assert proc_net_udp_uid(text, ("127.0.0.1", 53), byteorder="little") is None
