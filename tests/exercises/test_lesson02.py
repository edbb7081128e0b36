"""Lesson 02's checks against a live lab: real sessions on loopback, right ones and realistic wrong ones.

The raw-socket attempts are what a student's cell sends (`_raw`): each line
written as given, with or without its CRLF, each reply read or not. Every
socket has a timeout, so a test that waits for a reply that never comes fails
instead of hanging.
"""
from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from helpers import JANE, JOE, JOE_PASSWORD, check_fails

import mailcourse.exercises as check
from mailcourse import Lab

MESSAGE = ["From: joe@someplace.org", "To: jane@somewhereelse.com", "Subject: By hand", "",
           "Jane, I typed every command of this session myself.", "Joe"]
CRLF = "\r\n"


@pytest.fixture
def lab() -> Iterator[Lab]:
    with Lab.classic(seed=5, retry_intervals=(1,)) as lab:
        yield lab


def _reply(incoming) -> str:
    """One whole reply (its "250-" lines too); its last line."""
    while True:
        line = incoming.readline().decode().rstrip(CRLF)
        if line[3:4] != "-":
            return line


def _raw(lab: Lab, steps: list[tuple[str, bool]], *, greeting: bool = True, close: bool = True) -> socket.socket:
    """A session on a raw socket to jane's MX: each step is (what to write, read a reply after it)."""
    sock = socket.create_connection(lab.server("somewhereelse.com").mx.address, timeout=3)
    incoming = sock.makefile("rb")
    if greeting:
        assert _reply(incoming).startswith("220")
    try:
        for text, read in steps:
            sock.sendall(text.encode())
            if read:
                _reply(incoming)
    except ConnectionError:
        pass  # a server hangs up on a client that goes on after errors, and the student's cell fails
    if close:
        incoming.close()
        sock.close()
    return sock


def _session(*, rcpt: str = JANE, dot: str = "." + CRLF, quit_: bool = True) -> list[tuple[str, bool]]:
    """The steps of a right session, with one thing changed."""
    steps = [("EHLO joe-laptop" + CRLF, True), (f"MAIL FROM:<{JOE}>" + CRLF, True),
             (f"RCPT TO:<{rcpt}>" + CRLF, True), ("DATA" + CRLF, True)]
    steps += [(line + CRLF, False) for line in MESSAGE]
    steps.append((dot, bool(dot)))
    if quit_:
        steps.append(("QUIT" + CRLF, True))
    return steps


def test_smtp_by_hand_accepts_a_right_session(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    _raw(lab, _session())
    check.smtp_by_hand(lab)
    assert capsys.readouterr().out.startswith("✔ Correct: jane's provider took your message")


def test_smtp_by_hand_finds_no_session_when_none_was_made(lab: Lab) -> None:
    with lab.smtp("joe-laptop", lab.server("somewhereelse.com").mx) as s:  # smtplib, not the student's socket
        s.ehlo("joe-laptop")
    assert "No connection from your own socket" in check_fails(check.smtp_by_hand, lab)


def test_smtp_by_hand_a_socket_that_only_connected(lab: Lab) -> None:
    sock = _raw(lab, [], close=False)  # the student edition: the stub raises after the connect line
    try:
        assert "sent no command" in check_fails(check.smtp_by_hand, lab)
    finally:
        sock.close()


def test_smtp_by_hand_a_command_without_crlf(lab: Lab) -> None:
    sock = _raw(lab, [("EHLO joe-laptop", False)], close=False)  # reply() would time out here
    try:
        why = check_fails(check.smtp_by_hand, lab)
        assert "'EHLO joe-laptop'" in why and "still waiting for the end of that line" in why and "\\r\\n" in why
    finally:
        sock.close()
    assert lab.wait_for(lambda: lab.trace.sessions(device="client")[-1].closed is not None, timeout=3)
    assert "never answered 'EHLO joe-laptop'" in check_fails(check.smtp_by_hand, lab)  # the cell's socket closed


def test_smtp_by_hand_a_client_that_does_not_read_the_replies(lab: Lab) -> None:
    # Everything written at once: the commands reach the server before any of its replies.
    _raw(lab, [("".join(text for text, _ in _session()), False)])
    why = check_fails(check.smtp_by_hand, lab)
    assert "right after 'EHLO joe-laptop'" in why and "did not read the reply" in why and "RFC 2920" in why


def test_smtp_by_hand_the_message_sent_before_the_354(lab: Lab) -> None:
    steps = _session()
    data = steps.index(("DATA" + CRLF, True))
    text = "".join(t for t, _ in steps[data:data + len(MESSAGE) + 2])  # DATA, the text and the "." at once
    _raw(lab, [*steps[:data], (text, True), ("QUIT" + CRLF, True)])
    why = check_fails(check.smtp_by_hand, lab)
    assert "right after 'DATA'" in why and "354" in why


def test_smtp_by_hand_a_message_without_the_final_dot(lab: Lab) -> None:
    sock = _raw(lab, _session(dot="", quit_=False), close=False)
    try:
        why = check_fails(check.smtp_by_hand, lab)
        assert "said 354" in why and "no line holding only '.'" in why and "never said 250" in why
    finally:
        sock.close()


def test_smtp_by_hand_a_final_dot_with_a_bare_line_feed(lab: Lab) -> None:
    sock = _raw(lab, _session(dot=".\n", quit_=False)[:-1] + [(".\n", False)], close=False)
    try:
        assert "did not see the end of the data" in check_fails(check.smtp_by_hand, lab)
    finally:
        sock.close()


def test_smtp_by_hand_a_wrong_recipient(lab: Lab) -> None:
    _raw(lab, _session(rcpt="jnae@somewhereelse.com"))
    why = check_fails(check.smtp_by_hand, lab)
    assert "refused 'RCPT TO:<jnae@somewhereelse.com>'" in why and "550" in why


def test_smtp_by_hand_without_quit(lab: Lab) -> None:
    _raw(lab, _session(quit_=False))
    assert "never said QUIT" in check_fails(check.smtp_by_hand, lab)
    assert [m["Subject"] for m in lab.server("somewhereelse.com").mailbox("jane")] == ["By hand"]  # delivered all the same


def test_smtp_by_hand_reads_only_the_latest_attempt(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    _raw(lab, _session())
    _raw(lab, _session(quit_=False))
    assert "never said QUIT" in check_fails(check.smtp_by_hand, lab)
    _raw(lab, _session())
    check.smtp_by_hand(lab)
    assert capsys.readouterr().out.startswith("✔ Correct:")


# -- two_recipients and lone_dot, on joe's laptop's session ------------------------------------------


def _transaction(lab: Lab, rcpts: list[str], text: str, device: str = "joe-laptop") -> None:
    with lab.smtp(device, lab.server("someplace.org").submission) as s:
        s.login(JOE, JOE_PASSWORD)
        s.mail(JOE)
        for rcpt in rcpts:
            s.rcpt(rcpt)
        s.data(text)
    lab.wait_for_delivery()


def test_two_recipients(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    message = "Subject: Two of us\n\nhello\n"
    assert "no accepted message" in check_fails(check.two_recipients, lab)
    _transaction(lab, [JANE], message)
    _transaction(lab, [JOE], message)
    assert "no single transaction named both" in check_fails(check.two_recipients, lab)
    _transaction(lab, [JANE, JOE], message)
    check.two_recipients(lab)
    assert capsys.readouterr().out.startswith("✔ Correct:")


def test_two_recipients_names_a_refused_address(lab: Lab) -> None:
    with lab.smtp("joe-laptop", lab.server("someplace.org").submission) as s:
        s.login(JOE, JOE_PASSWORD)
        s.mail(JOE)
        assert s.rcpt("jeo@someplace.org")[0] == 550  # a typo: the server knows its own users
        s.rcpt(JANE)
        s.data("Subject: Two of us\n\nhello\n")
    lab.wait_for_delivery()
    assert "refused your RCPT TO for jeo@someplace.org" in check_fails(check.two_recipients, lab)


def test_two_recipients_reads_joes_laptop_only(lab: Lab) -> None:
    """The check judges the student's session: the same transaction from another device does not count."""
    with lab.smtp("jane-laptop", lab.server("someplace.org").submission) as s:
        s.login(JOE, JOE_PASSWORD)
        s.sendmail(JOE, [JANE, JOE], "Subject: Two of us\n\nhello\n")
    lab.wait_for_delivery()
    assert "joe's laptop sent no accepted message" in check_fails(check.two_recipients, lab)


def test_lone_dot(lab: Lab) -> None:
    _transaction(lab, [JANE], "Subject: tip\n\n.profile is hidden\n")
    assert "just a dot" in check_fails(check.lone_dot, lab)
    _transaction(lab, [JANE], "Subject: dot\n\nabove\n.\nbelow\n")
    check.lone_dot(lab)


def test_the_lesson_has_two_checks_that_read_the_wire() -> None:
    assert check.smtp_by_hand.reads_the_wire and check.two_recipients.reads_the_wire


def test_data_in_capture_reads_the_packets_from_the_file(tmp_path) -> None:
    from helpers import check_fails

    import mailcourse.exercises as check
    from mailcourse import Lab, capture, pcapng

    with Lab.classic(seed=2) as lab:
        with lab.smtp("joe-laptop", lab.server("someplace.org").submission) as client:
            client.ehlo()
            client.login("joe@someplace.org", "joe-password")
            client.sendmail("joe@someplace.org", ["jane@somewhereelse.com"], "Subject: One\r\n\r\nx\r\n")
        assert lab.wait_for_delivery()
        path = tmp_path / "lunch.pcapng"
        lab.trace.to_pcapng(path)
    packets = [n for n, p in enumerate(pcapng.read(path.read_bytes()).packets, start=1)
               if capture.parse_frame(p.data).payload == b"DATA\r\n"]
    assert len(packets) == 2  # submission and relay: one DATA each
    assert "list of packet numbers" in check_fails(check.data_in_capture, path, ...)
    assert "from 1" in check_fails(check.data_in_capture, path, [0])
    assert "do not carry" in check_fails(check.data_in_capture, path, packets + [1])
    assert "1 of the 2 packets" in check_fails(check.data_in_capture, path, packets[:1])
    check.data_in_capture(path, packets)
