"""The TLS reader against real TLS: Python's own endpoints, their key log, the bytes they wrote.

Every session here is made at test time by two `ssl.SSLObject` endpoints
(`tls_sessions.converse`), with a certificate from a CA made at test time.
Nothing is mocked: the reader must find in those bytes what a capture tool
finds, and open them with the secrets the server wrote to its key log, so
that the plaintext equals what each application wrote and read, byte for byte.

What can be tested from Python: TLS 1.3 with each of its five suites (the
default, TLS_AES_256_GCM_SHA384, in this process; the others in a new
process whose OpenSSL configuration names the one suite allowed, since
Python cannot choose TLS 1.3 suites), and TLS 1.2 with the ECDHE-RSA AEAD
suites (``set_ciphers``); a KeyUpdate each way, which Python cannot send
but ``openssl s_client`` can. What is not tested: a HelloRetryRequest, 0-RTT
data (the reader does not open early data).
"""
from __future__ import annotations

import base64
import random
import ssl

import pytest
from helpers import program
from tls_sessions import (
    C2S,
    DIALOGUE,
    PASSWORD,
    S2C,
    SERVER_NAME,
    Recorded,
    converse,
    converse_with_openssl,
    make_ca,
    recorded_in_subprocess,
)

from mailcourse.protocols import tls
from mailcourse.trace import CredentialMask, Trace

TLS12 = ssl.TLSVersion.TLSv1_2
SECRETS = [PASSWORD.encode(), base64.b64encode(b"\0joe\0" + PASSWORD.encode()), b"MAIL FROM"]


@pytest.fixture(scope="module")
def ca():
    return make_ca()


@pytest.fixture(scope="module")
def tls13(ca) -> Recorded:
    return converse(ca)


_made: dict[str, Recorded] = {}


def session_with(suite: str, ca, tmp_path_factory) -> Recorded:
    """A session that negotiated ``suite`` (OpenSSL's name), made once for the whole module."""
    if suite not in _made:
        if suite == "TLS_AES_256_GCM_SHA384":  # what Python's OpenSSL chooses by itself
            _made[suite] = converse(ca)
        elif suite.startswith("TLS_"):
            _made[suite] = recorded_in_subprocess(suite, tmp_path_factory.mktemp("openssl"))
        else:
            _made[suite] = converse(ca, maximum_version=TLS12, ciphers=suite)
    return _made[suite]


def read(recorded: Recorded) -> tls.Session:
    return tls.read_session(recorded.stream(C2S), recorded.stream(S2C))


# -- records -------------------------------------------------------------------------------


def test_records_are_the_stream_cut_at_their_lengths(tls13):
    """RFC 8446 section 5.1: type, version, length, fragment; the records put end to end are the stream."""
    for direction in (C2S, S2C):
        stream = tls13.stream(direction)
        records, error = tls.read_records(stream)
        assert error is None
        assert b"".join(r.header + r.fragment for r in records) == stream
        assert {r.content_type for r in records} <= set(tls.CONTENT_TYPES)
    first = tls.read_records(tls13.stream(C2S))[0][0]
    assert (first.content_type, first.type_name) == (tls.HANDSHAKE, "handshake")


def test_records_come_out_whole_however_the_bytes_are_cut(tls13):
    stream = tls13.stream(S2C)
    whole, _ = tls.read_records(stream)
    for size in (1, 3, 7, 1000):  # byte by byte, and pieces that hold several records
        reader = tls.RecordReader()
        pieces = [reader.feed(stream[at:at + size]) for at in range(0, len(stream), size)]
        assert [r for piece in pieces for r in piece] == whole
        assert reader.pending == b"" and reader.error is None
    reader = tls.RecordReader()
    assert reader.feed(stream[:whole[0].end + 2]) == whole[:1]
    assert reader.pending == stream[whole[0].end:whole[0].end + 2]  # the next record's first bytes wait


def test_what_is_not_tls_is_an_error_not_an_exception(tls13):
    records, error = tls.read_records(b"EHLO x\r\n")
    assert records == [] and error.startswith("not a TLS record at byte 0")
    stream = tls13.stream(C2S)
    records, error = tls.read_records(stream[:-3])
    assert error.startswith("truncated:") and len(records) == len(tls.read_records(stream)[0]) - 1


def test_no_cut_and_no_garbage_makes_the_reader_raise(tls13):
    client, server = tls13.stream(C2S), tls13.stream(S2C)
    rng = random.Random(8446)
    for cut in range(0, len(server), 97):
        session = tls.read_session(client, server[:cut])
        tls.decrypt(session, tls13.keylog)
        for direction in (C2S, S2C):
            [session.summary(direction, i) for i in range(len(session.records(direction)))]
    for _ in range(50):
        noise = bytes(rng.randrange(256) for _ in range(rng.randrange(200)))
        header = bytes([rng.choice([20, 21, 22, 23]), 3, 3, 0, len(noise) & 0xFF])
        session = tls.read_session(header + noise, header + noise)
        tls.decrypt(session, tls13.keylog)
        tls.read_recording([(C2S, b"STARTTLS\r\n" + header + noise), (S2C, noise)], tls13.keylog)


# -- what an eavesdropper sees -------------------------------------------------------------------


def test_the_client_hello_tells_the_server_name_and_the_versions(ca):
    recorded = converse(ca, alpn=["smtp"])
    hello = read(recorded).client_hello
    assert hello.server_name == SERVER_NAME  # SNI (RFC 6066): in the clear, even in TLS 1.3
    assert hello.versions == [tls.TLS13, tls.TLS12]  # supported_versions (RFC 8446 section 4.2.1)
    assert 0x1302 in hello.cipher_suites and 0xC02F in hello.cipher_suites
    assert hello.alpn == ["smtp"]
    summary = read(recorded).summary(C2S, 0)
    assert summary.startswith(f"ClientHello for {SERVER_NAME}: TLS 1.3, TLS 1.2; ")
    assert summary.endswith("cipher suites; ALPN smtp")


def test_in_tls_1_3_everything_after_the_server_hello_is_encrypted(tls13):
    session = read(tls13)
    assert tls.version_name(session.version) == "TLS 1.3"
    first = session.summary(S2C, 0)
    assert first.startswith("TLS 1.3 ServerHello, cipher TLS_AES_256_GCM_SHA384")
    rest = [session.summary(d, i) for d in (C2S, S2C) for i in range(len(session.records(d)))
            if (d, i) not in ((C2S, 0), (S2C, 0))]
    assert all(s.endswith("(encrypted)") or s.startswith("change_cipher_spec") for s in rest), rest
    assert not any("Certificate" in s for s in rest)  # the certificate is hidden too
    # The record sizes are all an eavesdropper has: e.g. "application data, 30 bytes (encrypted)".
    assert any(s.startswith("application data, ") and s.endswith(" bytes (encrypted)") for s in rest)


def test_in_tls_1_2_the_certificate_is_in_the_clear(ca):
    session = read(converse(ca, maximum_version=TLS12, ciphers="ECDHE-RSA-AES128-GCM-SHA256"))
    said = [session.summary(S2C, i) for i in range(len(session.server))]
    assert said[0] == "TLS 1.2 ServerHello, cipher TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
    assert "Certificate" in said and "ServerKeyExchange" in said
    assert "change_cipher_spec: from here on this side encrypts" in said
    assert said[said.index("change_cipher_spec: from here on this side encrypts") + 1].endswith("(encrypted)")


def test_the_recorded_bytes_hold_no_secret(tls13):
    for direction in (C2S, S2C):
        for secret in SECRETS:
            assert secret not in tls13.stream(direction)


# -- the key schedule: the RFCs' own examples --------------------------------------------------------


def test_hkdf_expand_label_gives_rfc_8448s_handshake_key_and_iv():
    """RFC 8448 section 3, "{server} derive write traffic keys for handshake data"."""
    secret = bytes.fromhex("b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38")
    assert tls.hkdf_expand_label(secret, "key", b"", 16, "sha256").hex() == "3fce516009c21727d0f2e4e86ee403bc"
    assert tls.hkdf_expand_label(secret, "iv", b"", 12, "sha256").hex() == "5d313eb2671276ee13000b30"


def test_prf_gives_the_published_tls_1_2_sha256_example():
    out = tls.prf(bytes.fromhex("9bbe436ba940f017b17652849a71db35"), b"test label",
                  bytes.fromhex("a0ba9f936cda311827a6f796ffd5198c"), 100, "sha256")
    assert out.hex().startswith("e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a")
    assert out.hex().endswith("ee42c5a72e5a5110fff70187347b66") and len(out) == 100


def test_the_key_log_is_read_by_client_random(tls13):
    keys = tls.parse_keylog("# a comment\nnonsense\n" + tls13.keylog)
    secrets = keys[read(tls13).client_hello.random]
    assert {"CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET",
            "CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0"} <= set(secrets)
    assert len(secrets["SERVER_TRAFFIC_SECRET_0"]) == 48  # SHA-384's length, for TLS_AES_256_GCM_SHA384


# -- decryption ----------------------------------------------------------------------------------

SUITES = [
    ("TLS_AES_256_GCM_SHA384", "TLSv1.3"),
    ("TLS_AES_128_GCM_SHA256", "TLSv1.3"),
    ("TLS_CHACHA20_POLY1305_SHA256", "TLSv1.3"),
    ("TLS_AES_128_CCM_SHA256", "TLSv1.3"),
    ("TLS_AES_128_CCM_8_SHA256", "TLSv1.3"),
    ("ECDHE-RSA-AES128-GCM-SHA256", "TLSv1.2"),
    ("ECDHE-RSA-AES256-GCM-SHA384", "TLSv1.2"),
    ("ECDHE-RSA-CHACHA20-POLY1305", "TLSv1.2"),
]


@pytest.mark.parametrize("suite, version", SUITES)
def test_the_key_log_opens_every_record_both_ways(suite, version, ca, tmp_path_factory):
    recorded = session_with(suite, ca, tmp_path_factory)
    assert (recorded.cipher, recorded.version) == (suite, version)  # the session really used it
    decryption = tls.decrypt(read(recorded), recorded.keylog)
    assert decryption.error is None
    for direction in (C2S, S2C):
        # What one end's application wrote is what the other end's read, and what the reader found.
        assert decryption.application_data(direction) == recorded.sent[direction] == recorded.read[direction]
    assert b"AUTH PLAIN " + SECRETS[1] in decryption.application_data(C2S)
    ends = [(o.direction, o.summary()) for o in decryption.opened if o.encrypted]
    assert (C2S, "alert: close_notify") in ends and (S2C, "alert: close_notify") in ends
    if version == "TLSv1.3":  # what TLS 1.3 hides from the eavesdropper, the endpoints read
        assert (S2C, "handshake: Certificate") in ends and (C2S, "handshake: Finished") in ends
    else:
        assert (S2C, "handshake: Finished") in ends  # the one encrypted handshake message of TLS 1.2


def test_the_zero_padding_of_a_record_is_taken_off(tmp_path):
    """RFC 8446 section 5.4: the sender may pad; the receiver strips the zeros after the real type."""
    recorded = recorded_in_subprocess("TLS_AES_128_GCM_SHA256", tmp_path, padding=64)
    session = read(recorded)
    sizes = {len(r.fragment) for r in session.client if r.content_type == tls.APPLICATION_DATA}
    assert sizes and all((size - 16) % 64 == 0 for size in sizes)  # padded to 64, plus the tag
    decryption = tls.decrypt(session, recorded.keylog)
    assert decryption.error is None
    for direction in (C2S, S2C):
        assert decryption.application_data(direction) == recorded.sent[direction]


def test_without_this_sessions_keys_it_says_so(ca, tls13):
    other = converse(ca)
    for keylog in ("", other.keylog, "CLIENT_RANDOM zz zz\n"):
        decryption = tls.decrypt(read(tls13), keylog)
        assert decryption.error == tls.NO_KEY == "cannot decrypt: no key for this session"
        assert decryption.application_data(C2S) == b""


def test_a_changed_byte_fails_authentication_and_is_reported(tls13):
    client = bytearray(tls13.stream(C2S))
    records, _ = tls.read_records(bytes(client))
    auth = next(i for i, r in enumerate(records) if r.content_type == tls.APPLICATION_DATA
                and i > 3)  # a record of the dialogue, after the handshake
    client[records[auth].offset + 10] ^= 0x01  # one bit, inside the ciphertext
    decryption = tls.decrypt(tls.read_session(bytes(client), tls13.stream(S2C)), tls13.keylog)
    assert decryption.error == (f"cannot decrypt the client's record {auth}: it fails its authentication "
                                "tag (a byte changed on the wire, or a wrong key)")
    assert decryption.application_data(S2C) == tls13.sent[S2C]  # the other direction is intact
    assert tls13.sent[C2S].startswith(decryption.application_data(C2S))  # what came before is kept


def test_after_a_key_update_each_side_uses_its_next_secret(ca, tmp_path):
    """RFC 8446 section 7.2: application_traffic_secret_N+1 = HKDF-Expand-Label(secret_N, "traffic upd", "", Hash.length)."""
    recorded = converse_with_openssl(ca, tmp_path, program("openssl"))  # under CI=true a missing openssl fails
    decryption = tls.decrypt(read(recorded), recorded.keylog)
    assert decryption.error is None
    ends = [(o.direction, o.summary()) for o in decryption.opened if o.encrypted]
    assert (C2S, "handshake: KeyUpdate") in ends and (S2C, "handshake: KeyUpdate") in ends
    for direction in (C2S, S2C):  # a record after each side's KeyUpdate, opened with the next keys
        assert ends.index((direction, "handshake: KeyUpdate")) < max(
            i for i, (d, s) in enumerate(ends) if d == direction and s.startswith("application data"))
        assert decryption.application_data(direction) == recorded.sent[direction]
    assert recorded.read[C2S] == recorded.sent[C2S]


# -- a recorded connection: STARTTLS, then TLS; and the trace's view of it -----------------------------

BEFORE_TLS = [
    (S2C, b"220 mail.someplace.org ESMTP\r\n"),
    (C2S, b"EHLO x\r\n"),
    (S2C, b"250-mail.someplace.org\r\n250 STARTTLS\r\n"),
    (C2S, b"STARTTLS\r\n"),
    (S2C, b"220 2.0.0 Ready to start TLS\r\n"),
]


def starttls_trace(recorded: Recorded) -> tuple[Trace, object]:
    """A trace of one SMTP connection that says STARTTLS and goes on in TLS, as the tap records it."""
    trace = Trace()
    conn = trace.open("SMTP", "submission", "mail.someplace.org", ("127.0.0.1", 40000))
    for direction, data in BEFORE_TLS + recorded.chunks:
        trace.data(conn, direction, data, len(data))
    trace.close(conn)
    return trace, conn


def test_the_trace_shows_the_eavesdroppers_view_and_the_endpoints_view(tls13):
    trace, conn = starttls_trace(tls13)
    view = trace.tls_view(conn, tls13.keylog)
    assert view.error is None
    wire = [line for _, line in view.wire]
    assert wire[:5] == ["220 mail.someplace.org ESMTP", "EHLO x", "250-mail.someplace.org", "250 STARTTLS",
                        "STARTTLS"]
    assert f"[ClientHello for {SERVER_NAME}: TLS 1.3, TLS 1.2; " in wire[6]
    assert any(line.startswith("[TLS 1.3 ServerHello, cipher TLS_AES_256_GCM_SHA384") for line in wire)
    # The 220 greeting after the handshake: its 30 bytes, one byte for the real type, a 16-byte tag.
    assert "[application data, 47 bytes (encrypted)]" in wire
    lines = view.by_direction()
    assert lines[C2S] == ["EHLO x", "STARTTLS", "EHLO x", "AUTH PLAIN ********",  # masked, as in every view
                          "MAIL FROM:<joe@someplace.org>", "QUIT"]
    assert lines[S2C][-3:] == ["235 2.7.0 Authentication successful", "250 OK", "221 Bye"]
    # In wire order, as Trace.lines gives a plain session: each reply after its command.
    order = [line for _, line in view.lines]
    assert order.index("QUIT") < order.index("221 Bye") and order.index("EHLO x", 2) < order.index("250 AUTH PLAIN")
    for text in wire + order:
        for secret in SECRETS[:2]:
            assert secret.decode() not in text


def test_without_the_key_log_the_endpoints_view_stops_at_starttls(tls13):
    trace, conn = starttls_trace(tls13)
    view = trace.tls_view(conn)
    assert view.error == tls.NO_KEY
    assert view.by_direction()[C2S] == ["EHLO x", "STARTTLS"]
    assert view.by_direction("wire")[C2S][2].startswith("[ClientHello")


def test_a_session_without_tls_reads_the_same_both_ways():
    trace = Trace()
    conn = trace.open("SMTP", "mx", "mail.someplace.org", ("127.0.0.1", 40001))
    mask = CredentialMask()  # as the tap records
    for direction, data in [DIALOGUE[0], (C2S, b"EH"), (C2S, b"LO x\r\n"), *DIALOGUE[2:]]:  # a line cut across chunks
        shown = mask.client(data) if direction == C2S else data
        if direction == S2C:
            mask.server(data)
        trace.data(conn, direction, shown, len(data))
    view = trace.tls_view(conn, "")
    assert view.error is None
    assert view.wire == view.lines == trace.lines(conn)
    assert (C2S, "EHLO x") in view.lines and (C2S, "AUTH PLAIN ********") in view.lines


def test_implicit_tls_starts_at_the_first_byte(tls13):
    recording = tls.read_recording(tls13.chunks, tls13.keylog)
    assert recording.error is None
    assert recording.wire[0].text.startswith("ClientHello")
    assert tls.application_lines(recording.endpoints)[C2S][0] == "EHLO x"
    assert tls.tls_start(tls13.stream(C2S)) == 0
    assert tls.tls_start(b"".join(data for way, data in BEFORE_TLS if way == C2S) + tls13.stream(C2S)) == len(b"EHLO x\r\nSTARTTLS\r\n")
