"""A real journey, captured, asked of tshark: what a student will see in Wireshark.

joe submits a message, his server relays it, jane fetches it by POP3 and by
IMAP and opens her webmail; the trace is written with `Trace.to_pcapng` and
tshark (Wireshark's command line, Debian's package) reads the file. Then TLS
sessions, recorded as a tap records them (tests/protocols/tls_sessions.py),
are written with and without their keys. tshark only reads files here, so
it runs as root without complaint.
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from helpers import JANE, program
from protocols.tls_sessions import converse, make_ca

from mailcourse import Lab, Trace
from mailcourse.clients.browser import WebmailBrowser
from mailcourse.protocols.exchanges import C2S, S2C

# The one warning Wireshark gives on the lab's traffic: its SMTP dissector does not decode
# AUTH PLAIN's base64 unless a preference says so (and the lab masked the secret anyway).
ACCEPTED_WARNINGS = {"base64 decode failed or is not enabled (check SMTP preferences)"}


def tshark(capture: Path, *args: str) -> str:
    done = subprocess.run([program("tshark"), "-r", str(capture), *args], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def fields(capture: Path, display_filter: str, *names: str) -> list[list[str]]:
    out = tshark(capture, "-Y", display_filter, "-T", "fields", *(a for n in names for a in ("-e", n)))
    return [line.split("\t") for line in out.splitlines()]


def follow(capture: Path, stream: int) -> dict[str, bytes]:
    """``follow,tcp,raw``: what each side sent on one TCP stream (the server's lines are indented)."""
    lines = tshark(capture, "-q", "-z", f"follow,tcp,raw,{stream}").splitlines()
    body = lines[[i for i, line in enumerate(lines) if line.startswith("Node 1:")][0] + 1:]
    sent = {C2S: b"", S2C: b""}
    for line in body:
        if line.startswith("="):
            break
        sent[S2C if line.startswith("\t") else C2S] += bytes.fromhex(line.strip())
    return sent


@pytest.fixture(scope="module")
def journey(tmp_path_factory) -> tuple[Trace, Path]:
    with Lab.classic(seed=1) as lab:
        joe = lab.client("joe-laptop")
        joe.compose(JANE, "Lunch tomorrow", "Hi Jane,\n\n" + "Lunch tomorrow at noon?\n" * 200 + "Joe\n")
        joe.send_all()
        assert lab.wait_for_delivery()
        jane = lab.client("jane-laptop")
        assert jane.fetch_pop3(keep_on_server=True).downloaded
        jane.imap.sync()
        with WebmailBrowser(lab, lab.server("somewhereelse.com")) as web:
            assert web.login(JANE, lab.users[JANE]).messages
    path = tmp_path_factory.mktemp("capture") / "journey.pcapng"
    lab.trace.to_pcapng(path)  # after the stop: every connection closed
    return lab.trace, path


def test_tshark_finds_nothing_malformed_and_no_tcp_trouble(journey):
    trace, path = journey
    assert fields(path, "_ws.malformed || tcp.analysis.flags", "frame.number") == []
    warnings = fields(path, "_ws.expert.severity >= warning", "_ws.expert.message", "smtp.req.command")
    assert {message for message, _ in warnings} <= ACCEPTED_WARNINGS
    assert all(command == "AUTH" for _, command in warnings)


def test_one_tcp_stream_per_connection_in_the_traces_order(journey):
    trace, path = journey
    syns = fields(path, "tcp.flags.syn == 1 && tcp.flags.ack == 0", "tcp.stream", "frame.comment", "tcp.dstport")
    assert [(int(stream), comment.split(";")[0]) for stream, comment, _ in syns] == [
        (i, f"session {conn.id}: {conn.label}") for i, conn in enumerate(trace.sessions())]
    assert [int(port) for _, _, port in syns] == [587, 25, 110, 143, 80]  # submission, relay, POP3, IMAP, webmail
    streams = {stream for (stream,) in fields(path, "tcp", "tcp.stream")}
    assert streams == {str(i) for i in range(len(trace.sessions()))}


def test_following_each_stream_gives_back_the_bytes_the_trace_recorded(journey):
    """Both ways, to the byte, but for the masks: in the capture each is as long as the secret it hides."""
    trace, path = journey

    def masks_alike(data: bytes) -> bytes:
        return re.sub(rb"\*{8,}", b"********", data)

    for stream, conn in enumerate(trace.sessions()):
        sent = follow(path, stream)
        for direction in (C2S, S2C):
            events = [e for e in trace.filter(conn, kind="data") if e.direction == direction]
            recorded = b"".join(e.data for e in events)
            assert masks_alike(sent[direction]) == masks_alike(recorded), (conn.label, direction)
            assert len(sent[direction]) == sum(e.size for e in events)  # the bytes that really crossed


def test_smtp_commands_in_order_on_both_hops(journey):
    _, path = journey
    commands = fields(path, "smtp.req.command", "tcp.stream", "smtp.req.command")
    by_stream = {s: [c for stream, c in commands if stream == s] for s in ("0", "1")}
    assert by_stream == {"0": ["EHLO", "AUTH", "MAIL", "RCPT", "DATA", "QUIT"],  # submission: joe logs in
                         "1": ["EHLO", "MAIL", "RCPT", "DATA", "QUIT"]}  # relay to the MX: no login
    assert len(fields(path, 'smtp.req.parameter contains "FROM:<joe@someplace.org>"', "frame.number")) == 2
    # The message, reassembled from its segments, is read as an Internet message (RFC 5322):
    # on both SMTP hops and in IMAP's FETCH (stream 3); tshark leaves POP3's RETR as text.
    assert fields(path, "imf", "tcp.stream", "imf.subject") == [[s, "Lunch tomorrow"] for s in "013"]


def test_pop3_imap_and_http_are_decoded(journey):
    _, path = journey
    pop = [c for (c,) in fields(path, "pop.request.command", "pop.request.command")]
    assert pop[:2] == ["USER", "PASS"] and "RETR" in pop and pop[-1] == "QUIT"
    imap = [c.upper() for (c,) in fields(path, "imap.request.command", "imap.request.command")]
    assert imap[0] in ("CAPABILITY", "LOGIN") and "LOGIN" in imap and "LOGOUT" in imap
    http = fields(path, "http.request", "http.request.method", "http.request.uri")
    assert [method for method, _ in http] == ["GET", "POST", "GET"]
    assert http[1][1].endswith("/login")
    assert [code for (code,) in fields(path, "http.response", "http.response.code")] == ["200", "303", "200"]


# -- TLS: the keys inside the file, or not --------------------------------------------------------

STARTTLS = [(S2C, b"220 mail.someplace.org ESMTP\r\n"), (C2S, b"EHLO x\r\n"),
            (S2C, b"250-mail.someplace.org\r\n250 STARTTLS\r\n"), (C2S, b"STARTTLS\r\n"),
            (S2C, b"220 2.0.0 Ready to start TLS\r\n")]
HTTP_DIALOGUE = [(C2S, b"GET /mailbox/INBOX HTTP/1.1\r\nHost: mail.someplace.org\r\n\r\n"),
                 (S2C, b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\ninbox\n")]


@pytest.fixture(scope="module")
def tls_trace() -> tuple[Trace, str]:
    """SMTP with STARTTLS on submission, SMTP in implicit TLS (RFC 8314), and HTTPS, as a tap records them."""
    ca = make_ca()
    starttls, implicit, https = converse(ca), converse(ca), converse(ca, HTTP_DIALOGUE, alpn=["http/1.1"])
    trace = Trace()
    for i, (protocol, service, chunks) in enumerate([("SMTP", "submission", STARTTLS + starttls.chunks),
                                                    ("SMTP", "submissions", implicit.chunks),
                                                    ("HTTP", "webmails", https.chunks)]):
        conn = trace.open(protocol, service, "mail.someplace.org", ("127.0.0.1", 42000 + i),
                          server_addr=("127.0.0.1", 31000 + i))
        for direction, data in chunks:
            trace.data(conn, direction, data, len(data))
        trace.close(conn)
    return trace, starttls.keylog + implicit.keylog + https.keylog


def test_with_the_keys_inside_tshark_reads_the_encrypted_smtp_and_http(tls_trace, tmp_path):
    trace, keylog = tls_trace
    path = tmp_path / "tls.pcapng"
    trace.to_pcapng(path, keylog=keylog)  # no tls.keylog_file preference: the file carries the keys
    assert fields(path, "_ws.malformed || tcp.analysis.flags", "frame.number") == []
    commands = fields(path, "smtp.req.command", "tcp.stream", "smtp.req.command")
    # (Wireshark's smtp.req.command keeps a command's first four letters: STARTTLS is "STAR".)
    assert commands == [["0", "EHLO"], ["0", "STAR"], *[[s, c] for s in "01" for c in ("EHLO", "AUTH", "MAIL", "QUIT")]]
    # Decrypted: each of these frames is TLS, and what tshark read inside it is SMTP or HTTP.
    assert len(fields(path, "tls && smtp", "frame.number")) == 2 * 9  # the 9 lines of each TLS dialogue
    assert fields(path, "tls && http.request", "http.request.uri") == [["/mailbox/INBOX"]]


def test_without_the_keys_it_is_the_eavesdroppers_capture(tls_trace, tmp_path):
    trace, keylog = tls_trace
    path = tmp_path / "eavesdropper.pcapng"
    trace.to_pcapng(path, keylog=keylog, keys=False)
    assert fields(path, "_ws.malformed || tcp.analysis.flags", "frame.number") == []
    commands = [c for _, c in fields(path, "smtp.req.command", "tcp.stream", "smtp.req.command")]
    assert commands == ["EHLO", "STAR"]  # what was said before STARTTLS, and nothing after
    assert fields(path, "http", "frame.number") == []
    assert len(fields(path, "tls.app_data", "frame.number")) > 10  # encrypted records, unread


def test_a_labs_own_tls_sessions_open_in_the_capture_with_no_key_given(tmp_path):
    """The lab's servers log their keys; `Lab` hands the log to its trace, so the capture carries them."""
    import smtplib

    with Lab.classic(seed=1) as lab:
        server = lab.server("someplace.org")
        with smtplib.SMTP(*server.submission.address, timeout=10) as client:
            client.starttls(context=lab.tls.client_context())
            client.login("joe@someplace.org", lab.users["joe@someplace.org"])
            client.sendmail("joe@someplace.org", [JANE], b"Subject: Sealed\r\n\r\nInside TLS.\r\n")
        assert lab.wait_for_delivery()
    path = tmp_path / "lab-tls.pcapng"
    lab.trace.to_pcapng(path, protocol="SMTP")
    assert fields(path, "_ws.malformed || tcp.analysis.flags", "frame.number") == []
    inside = [c.upper() for _, c in fields(path, "tls && smtp.req.command", "tcp.stream", "smtp.req.command")]
    assert inside[:3] == ["EHLO", "AUTH", "MAIL"]  # read inside TLS, with the lab's own key log
    eavesdropper = tmp_path / "lab-tls-nokeys.pcapng"
    lab.trace.to_pcapng(eavesdropper, protocol="SMTP", keys=False)
    assert fields(eavesdropper, "tls && smtp", "frame.number") == []


# -- python -m mailcourse demo --tls --pcap FILE -------------------------------------------------

def test_demo_tls_writes_a_capture_that_tshark_decrypts_with_its_embedded_keys(tmp_path):
    import io

    from mailcourse import pcapng
    from mailcourse.cli.demo import run_demo

    path, out = tmp_path / "journey-tls.pcapng", io.StringIO()
    assert run_demo(pcap=path, tls=True, out=out) == 0
    text = out.getvalue()
    assert "Hop 3 of 3: jane-laptop -> mail.somewhereelse.com" in text and "Inside TLS" in text
    assert "C: [TLS handshake: ClientHello for mail.someplace.org" in text and "AUTH PLAIN ********" in text
    assert "joe-password" not in text and "jane-password" not in text
    assert "with ESMTPS id" in text  # the relay used STARTTLS (RFC 3848), and the submission ESMTPSA
    # The keys are in the file: tshark reads SMTP and POP3 inside TLS records, in order, on all three hops.
    assert pcapng.read(path.read_bytes()).secrets
    smtp = fields(path, "tls and smtp.req.command", "tcp.stream", "smtp.req.command")
    assert [c for s, c in smtp if s == "0"] == ["EHLO", "AUTH", "MAIL", "RCPT", "DATA", "QUIT"]
    assert [c for s, c in smtp if s == "1"] == ["EHLO", "MAIL", "RCPT", "DATA", "QUIT"]
    pop = fields(path, "tls and pop.request.command", "tcp.stream", "pop.request.command")
    assert [c for s, c in pop if s == "2"][:2] == ["USER", "PASS"] and "RETR" in [c for _, c in pop]
    # Before each STARTTLS the dialogue is plain text, as on the wire.
    clear = fields(path, "not tls and (smtp.req.command or pop.request.command)", "smtp.req.command",
                   "pop.request.command")
    assert ["STAR", ""] in clear or ["STARTTLS", ""] in clear
    assert not [row for row in clear if row[0] in ("MAIL", "AUTH") or row[-1] in ("USER", "PASS", "RETR")]
    assert not fields(path, "_ws.malformed or tcp.analysis.flags", "frame.number")
