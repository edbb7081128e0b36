"""pcapng blocks written and read back, and a connection turned into TCP segments, without Wireshark.

These tests read the file with `mailcourse.pcapng.read` and `capture.parse_frame`,
the same "pyshark-free Python" a lesson's exercise uses. tests/test_capture.py
asks tshark about real journeys.
"""
from __future__ import annotations

import struct
from pathlib import Path

import pytest

from mailcourse import Lab, Trace, capture, pcapng
from mailcourse.capture import ACK, FIN, PSH, SYN, Conversation
from mailcourse.protocols.exchanges import C2S, S2C

CLIENT, SERVER = ("127.0.0.1", 50000), ("127.0.0.1", 587)
KEYLOG = "CLIENT_RANDOM " + "ab" * 32 + " " + "cd" * 48 + "\n"


# -- the container -------------------------------------------------------------------------------

def test_every_block_reads_back_as_written():
    data = (pcapng.section_header(application="mailcourse", comment="a test")
            + pcapng.interface_description(pcapng.LINKTYPE_ETHERNET, name="lo", description="the lab")
            + pcapng.decryption_secrets(KEYLOG.encode())
            + pcapng.enhanced_packet(0, 1700000000.123456, b"abcde", comment="first")  # 5 bytes: padded to 8
            + pcapng.enhanced_packet(0, 1700000001.5, b"x" * 8))
    assert len(data) % 4 == 0
    found = pcapng.read(data)
    assert found.application == "mailcourse"
    assert found.interfaces == [pcapng.Interface(pcapng.LINKTYPE_ETHERNET, "lo", "the lab", 1_000_000)]
    assert found.tls_key_log == KEYLOG
    assert [(p.timestamp, p.data, p.comment) for p in found.packets] == [
        (1700000000.123456, b"abcde", "first"), (1700000001.5, b"x" * 8, None)]


def test_a_block_says_its_length_at_both_ends():
    """draft-ietf-opsawg-pcapng section 3.1: so that a reader can walk the file backwards too."""
    block = pcapng.enhanced_packet(0, 0.0, b"abc")
    kind, total = struct.unpack_from("<II", block)
    assert kind == pcapng.ENHANCED_PACKET and total == len(block) == struct.unpack_from("<I", block, total - 4)[0]


def test_a_file_that_is_not_pcapng_is_refused_in_words():
    with pytest.raises(ValueError, match="starts with a Section Header"):
        pcapng.read(pcapng.enhanced_packet(0, 0.0, b"abc"))
    with pytest.raises(ValueError, match="impossible length"):
        pcapng.read(pcapng.section_header()[:-4] + b"\0\0\0")
    big_endian = bytearray(pcapng.section_header())
    big_endian[8:12] = b"\0\0\0\0"
    with pytest.raises(ValueError, match="Byte-Order Magic"):
        pcapng.read(bytes(big_endian))


# -- one connection as TCP segments --------------------------------------------------------------

def conversation(*chunks: tuple[str, bytes], closed: float | None = 3.0, **kw) -> Conversation:
    return Conversation(CLIENT, SERVER, 1.0, [(2.0, d, data) for d, data in chunks], closed, **kw)


def test_handshake_data_acks_and_close_number_every_byte():
    """RFC 9293 sections 3.4-3.6: SYN and FIN take one sequence number each; an ACK names the next byte expected."""
    conv = conversation((S2C, b"220 hi\r\n"), (C2S, b"QUIT\r\n"))
    segs = [seg for _, seg in capture.segments(conv)]
    c, s = conv.isn(C2S), conv.isn(S2C)
    assert [(seg.src, seg.flags, seg.seq - (c if seg.src == CLIENT else s), seg.ack, len(seg.payload)) for seg in segs] == [
        (CLIENT, SYN, 0, 0, 0),
        (SERVER, SYN | ACK, 0, c + 1, 0),
        (CLIENT, ACK, 1, s + 1, 0),
        (SERVER, PSH | ACK, 1, c + 1, 8),  # the greeting
        (CLIENT, ACK, 1, s + 9, 0),  # acknowledged
        (CLIENT, PSH | ACK, 1, s + 9, 6),
        (SERVER, ACK, 9, c + 7, 0),
        (CLIENT, FIN | ACK, 7, s + 9, 0),  # the client closes first
        (SERVER, FIN | ACK, 9, c + 8, 0),
        (CLIENT, ACK, 8, s + 10, 0),
    ]
    assert segs[0].options == struct.pack("!BBH", 2, 4, capture.MSS)  # the MSS option on both SYNs


def test_a_long_chunk_goes_in_segments_of_at_most_the_mss_every_second_one_acknowledged():
    conv = conversation((C2S, bytes(range(256)) * 16))  # 4096 bytes: 1460 + 1460 + 1176
    data = [seg for _, seg in capture.segments(conv)][3:-3]
    assert [(seg.src == CLIENT, len(seg.payload), seg.flags) for seg in data] == [
        (True, 1460, ACK), (True, 1460, ACK), (False, 0, ACK), (True, 1176, PSH | ACK), (False, 0, ACK)]
    assert data[2].ack == data[0].seq + 2920 and b"".join(seg.payload for seg in data) == bytes(range(256)) * 16


def test_a_refused_connection_is_closed_by_the_server_and_an_open_one_not_at_all():
    refused = [seg for _, seg in capture.segments(conversation(server_closes=True))]
    assert [(seg.src, seg.flags) for seg in refused[3:]] == [(SERVER, FIN | ACK), (CLIENT, FIN | ACK), (SERVER, ACK)]
    still_open = [seg for _, seg in capture.segments(conversation((C2S, b"NOOP\r\n"), closed=None))]
    assert not any(seg.flags & FIN for seg in still_open)


def test_every_frame_reads_back_with_its_checksums_and_a_changed_byte_is_caught():
    conv = conversation((S2C, b"220 hi\r\n"), (C2S, b"x" * 3000))
    frames = capture.frames([conv])
    assert [capture.parse_frame(f.data) for f in frames] == [seg for _, seg in capture.segments(conv)]
    assert frames[0].comment is None and all(f.data[:12] == bytes(12) for f in frames)  # Linux loopback: zero MACs
    broken = bytearray(frames[3].data)
    broken[-1] ^= 1
    with pytest.raises(ValueError, match="TCP checksum"):
        capture.parse_frame(bytes(broken))


def test_conversations_are_merged_in_time_order_each_in_its_own_order():
    early = Conversation(CLIENT, SERVER, 1.0, [(5.0, C2S, b"late\r\n")], 6.0, number=1)
    late = Conversation(("127.0.0.1", 50001), SERVER, 2.0, [(3.0, C2S, b"between\r\n")], 4.0, number=2)
    order = [(capture.parse_frame(f.data).src[1], capture.parse_frame(f.data).payload) for f in capture.frames([early, late])
             if capture.parse_frame(f.data).payload]
    assert order == [(50001, b"between\r\n"), (50000, b"late\r\n")]


# -- Trace.to_pcapng: selections, keys, the notebook's link ---------------------------------------

def small_trace() -> Trace:
    """Three sessions as a tap would record them: SMTP, POP3, and SMTP again."""
    trace = Trace()
    for i, (protocol, service, lines) in enumerate([
            ("SMTP", "submission", [(S2C, b"220 a\r\n"), (C2S, b"QUIT\r\n"), (S2C, b"221 bye\r\n")]),
            ("POP3", "pop3", [(S2C, b"+OK\r\n"), (C2S, b"PASS ********\r\n", 18), (C2S, b"QUIT\r\n")]),
            ("SMTP", "mx", [(S2C, b"220 b\r\n"), (C2S, b"QUIT\r\n")])]):
        conn = trace.open(protocol, service, "mail.someplace.org", ("127.0.0.1", 41000 + i),
                          server_addr=("127.0.0.1", 30000 + i))
        for direction, data, *size in lines:
            trace.data(conn, direction, data, size[0] if size else len(data))
        trace.close(conn)
    return trace


def payloads(path) -> dict[int, bytes]:
    """Client port -> every payload byte of that connection, both ways, in order."""
    out: dict[int, bytes] = {}
    for packet in pcapng.read(path.read_bytes()).packets:
        seg = capture.parse_frame(packet.data)
        client = seg.src[1] if seg.dst[1] < 1024 else seg.dst[1]
        out[client] = out.get(client, b"") + seg.payload
    return out


def test_the_selection_keeps_whole_connections(tmp_path):
    trace = small_trace()
    path = tmp_path / "t.pcapng"
    assert set(payloads(path) if trace.to_pcapng(path) else ()) == {41000, 41001, 41002}
    trace.to_pcapng(path, protocol="smtp")
    assert set(payloads(path)) == {41000, 41002}
    trace.to_pcapng(path, connections=trace.sessions()[1])
    # The tap masked an 11-character password (18 bytes crossed): in the capture the mask is 11 long.
    assert payloads(path) == {41001: b"+OK\r\nPASS " + b"*" * 11 + b"\r\nQUIT\r\n"}
    trace.to_pcapng(path, connections=[1, 3], since=1)  # one of the ids is before the bookmark
    assert set(payloads(path)) == {41002}
    trace.to_pcapng(path, since=1, until=2)
    assert set(payloads(path)) == {41001}


def test_servers_show_on_well_known_ports_and_say_the_labs_port(tmp_path):
    trace = small_trace()
    path = tmp_path / "t.pcapng"
    trace.to_pcapng(path)
    packets = pcapng.read(path.read_bytes()).packets
    syns = [(capture.parse_frame(p.data).dst[1], p.comment) for p in packets if p.comment]
    assert syns == [(587, "session 1: client -> mail.someplace.org (SMTP submission); the lab's port 30000"),
                    (110, "session 2: client -> mail.someplace.org (POP3 pop3); the lab's port 30001"),
                    (25, "session 3: client -> mail.someplace.org (SMTP mx); the lab's port 30002")]
    trace.to_pcapng(path, well_known_ports=False)
    assert {capture.parse_frame(p.data).dst[1] for p in pcapng.read(path.read_bytes()).packets
            if p.comment} == {30000, 30001, 30002}
    assert pcapng.read(path.read_bytes()).interfaces[0].description == (
        "the mailcourse lab on 127.0.0.1, recorded by its taps: mail.someplace.org")


def test_packet_times_are_the_taps_times(tmp_path):
    clock = iter([100.0, 100.0, 100.5, 101.25, 102.0]).__next__  # start, open, data, data, close
    trace = Trace(clock=clock)
    trace.epoch = 1_700_000_000.0
    conn = trace.open("SMTP", "mx", "mail.someplace.org", ("127.0.0.1", 41000), server_addr=("127.0.0.1", 3000))
    trace.data(conn, S2C, b"220 a\r\n", 7)
    trace.data(conn, C2S, b"QUIT\r\n", 6)
    trace.close(conn)
    trace.to_pcapng(tmp_path / "t.pcapng")
    times = sorted({p.timestamp - trace.epoch for p in pcapng.read((tmp_path / "t.pcapng").read_bytes()).packets})
    assert times == [0.0, 0.5, 1.25, 2.0]


def test_the_key_log_is_embedded_from_the_labs_hook_and_left_out_on_request(tmp_path):
    trace = small_trace()
    path = tmp_path / "t.pcapng"
    assert repr(trace.to_pcapng(path)) == "t.pcapng: 3 TCP connections (pcapng; open it in Wireshark)"
    assert pcapng.read(path.read_bytes()).secrets == []
    trace.keylog_source = lambda: KEYLOG  # what a lab whose servers speak TLS sets
    written = trace.to_pcapng(path)
    assert pcapng.read(path.read_bytes()).tls_key_log == KEYLOG and written.keys
    assert written.packets == len(pcapng.read(path.read_bytes()).packets)
    eavesdropper = trace.to_pcapng(path, keys=False)
    assert pcapng.read(path.read_bytes()).secrets == [] and eavesdropper.keys is False
    assert repr(eavesdropper).endswith("no TLS keys: encrypted, as an eavesdropper sees it (pcapng; open it in Wireshark)")
    trace.to_pcapng(path, keylog="CLIENT_RANDOM given\n")  # given beats the hook
    assert pcapng.read(path.read_bytes()).tls_key_log == "CLIENT_RANDOM given\n"


def test_a_notebook_shows_a_download_link_that_is_the_same_on_every_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the kernel's working directory: the notebook's folder in JupyterLab
    first = small_trace().to_pcapng("lesson <2>.pcapng")._repr_html_()
    assert first == small_trace().to_pcapng(tmp_path / "lesson <2>.pcapng")._repr_html_() == (
        '<a href="lesson%20%3C2%3E.pcapng" download="lesson &lt;2&gt;.pcapng">lesson &lt;2&gt;.pcapng</a>: '
        "3 TCP connections (pcapng; open it in Wireshark)")
    # Below the notebook's folder: a relative link that JupyterLab resolves there.
    (tmp_path / "captures").mkdir()
    assert small_trace().to_pcapng("captures/a.pcapng").link == "captures/a.pcapng"
    # Elsewhere: no link that would lead nowhere, but where the file is.
    monkeypatch.chdir(tmp_path / "captures")
    elsewhere = small_trace().to_pcapng(tmp_path / "b.pcapng")
    assert elsewhere.link is None and "<a " not in elsewhere._repr_html_()
    assert str(tmp_path / "b.pcapng") in elsewhere._repr_html_()


def test_lab_capture_writes_the_lab_s_trace_next_to_the_notebook(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with Lab.classic(seed=1) as lab:
        joe = lab.client("joe-laptop")
        joe.compose("jane@somewhereelse.com", "Captured", "Hi.")
        assert all(r.ok for r in joe.send_all())
        assert lab.wait_for_delivery()
        written = lab.capture()
        smtp_only = lab.capture("smtp.pcapng", protocol="SMTP", keys=False)
    assert written.path == Path("lab.pcapng") and (tmp_path / "lab.pcapng").exists()
    assert written._repr_html_().startswith('<a href="lab.pcapng" download="lab.pcapng">')
    assert written.connections == smtp_only.connections == 2  # the submission and the relay
    assert len(pcapng.read((tmp_path / "lab.pcapng").read_bytes()).packets) == written.packets


def test_a_local_hand_over_crossed_no_network_and_is_left_out(tmp_path):
    trace = small_trace()
    conn = trace.open("local", "sendmail", "mail.someplace.org", ("local", 0), lambda _: "joe")
    trace.data(conn, C2S, b"Subject: x\n\nhi\n", 15)
    trace.close(conn)
    assert trace.to_pcapng(tmp_path / "t.pcapng").connections == 3
