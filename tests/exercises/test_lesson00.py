"""The checks of lesson 00 against a live lab: real sockets on loopback, the wrong attempts a beginner makes."""
from __future__ import annotations

import smtplib
import socket
from typing import Iterator

import pytest
from helpers import check_fails as _fails

import mailcourse.exercises as check
from mailcourse import Lab

JOE, JANE = "joe@someplace.org", "jane@somewhereelse.com"
HELLO = f"From: {JOE}\r\nTo: {JANE}\r\nSubject: Hello, Jane\r\n\r\nHi Jane,\r\nJoe\r\n"


@pytest.fixture
def lab() -> Iterator[Lab]:
    with Lab.classic(seed=5, retry_intervals=(1,)) as lab:
        yield lab


def _knock(address: tuple[str, int], *lines: bytes, read_first: bool = True) -> tuple[bytes, bytes]:
    """A student's socket: maybe read the greeting, send lines, read what comes back (or b"" on a timeout)."""
    greeting = goodbye = b""
    with socket.create_connection(address, timeout=1) as connection:
        if read_first:
            greeting = connection.recv(1024)
        for line in lines:
            connection.sendall(line)
        try:
            goodbye = connection.recv(1024)
        except TimeoutError:
            pass
    return greeting, goodbye


# -- greeting_and_quit ---------------------------------------------------------------------


def test_greeting_and_quit_before_any_connection(lab: Lab) -> None:
    assert "no connection from your own code" in _fails(check.greeting_and_quit, lab, b"", b"")


def test_greeting_and_quit_names_the_wrong_server(lab: Lab) -> None:
    _knock(lab.server("someplace.org").mx.address, b"QUIT\r\n")
    assert "went to mail.someplace.org" in _fails(check.greeting_and_quit, lab, b"", b"")
    _knock(lab.server("somewhereelse.com").submission.address, b"QUIT\r\n")
    assert "(submission endpoint)" in _fails(check.greeting_and_quit, lab, b"", b"")


def test_greeting_and_quit_wants_a_command(lab: Lab) -> None:
    with socket.create_connection(lab.server("somewhereelse.com").mx.address, timeout=1) as connection:
        greeting = connection.recv(1024)  # the stub ran up to here, then raised
    assert "nothing sent by you" in _fails(check.greeting_and_quit, lab, greeting, b"")


def test_greeting_and_quit_explains_a_line_without_its_end(lab: Lab) -> None:
    greeting, goodbye = _knock(lab.server("somewhereelse.com").mx.address, b"QUIT")
    assert goodbye == b""
    assert "no answer" in _fails(check.greeting_and_quit, lab, greeting, goodbye)


def test_greeting_and_quit_wants_quit_not_another_command(lab: Lab) -> None:
    greeting, goodbye = _knock(lab.server("somewhereelse.com").mx.address, b"BYE\r\n")
    message = _fails(check.greeting_and_quit, lab, greeting, goodbye)
    assert "'BYE'" in message and "500" in message and "asks for QUIT" in message


def test_greeting_and_quit_compares_the_variables_with_the_wire(lab: Lab) -> None:
    mx = lab.server("somewhereelse.com").mx.address
    greeting, goodbye = _knock(mx, b"QUIT\r\n")
    assert "greeted you with '220 mail.somewhereelse.com" in _fails(check.greeting_and_quit, lab, b"", goodbye)
    assert "your goodbye holds b''" in _fails(check.greeting_and_quit, lab, greeting, b"")
    # The student kept the answer to QUIT in both variables.
    assert "the answer to QUIT" in _fails(check.greeting_and_quit, lab, goodbye, goodbye)
    assert "holds both replies" in _fails(check.greeting_and_quit, lab, greeting + goodbye, b"")


def test_greeting_and_quit_explains_quit_sent_before_reading(lab: Lab) -> None:
    with socket.create_connection(lab.server("somewhereelse.com").mx.address, timeout=1) as connection:
        connection.sendall(b"QUIT\r\n")
        both = b""
        while b"221" not in both:  # the two replies, in one recv or more
            both += connection.recv(1024)
    assert "holds both replies" in _fails(check.greeting_and_quit, lab, both, b"")


def test_greeting_and_quit_passes_with_bytes_or_text(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    greeting, goodbye = _knock(lab.server("somewhereelse.com").mx.address, b"QUIT\r\n")
    check.greeting_and_quit(lab, greeting, goodbye)
    check.greeting_and_quit(lab, greeting.decode(), goodbye.decode())
    assert capsys.readouterr().out.count("✔ Correct: the server spoke first (220)") == 2


# -- hello_jane -------------------------------------------------------------------------------


def _joe_laptop(lab: Lab) -> smtplib.SMTP:
    return lab.smtp("joe-laptop", lab.server("someplace.org").submission)


def test_hello_jane_before_anything(lab: Lab) -> None:
    assert "no SMTP session from joe's laptop" in _fails(check.hello_jane, lab)


def test_hello_jane_after_the_stub(lab: Lab) -> None:
    with _joe_laptop(lab):
        pass  # the student edition: the session opens, the stub raises, `with` says QUIT
    assert "without sending a message" in _fails(check.hello_jane, lab)


def test_hello_jane_without_login(lab: Lab) -> None:
    with _joe_laptop(lab) as smtp, pytest.raises(smtplib.SMTPSenderRefused):
        smtp.sendmail(JOE, [JANE], HELLO)
    assert "answered MAIL FROM with '530" in _fails(check.hello_jane, lab)


def test_hello_jane_with_a_wrong_password(lab: Lab) -> None:
    with _joe_laptop(lab) as smtp, pytest.raises(smtplib.SMTPAuthenticationError):
        smtp.login(JOE, "jane-password")
    assert "refused the login with '535" in _fails(check.hello_jane, lab)


def test_hello_jane_logged_in_but_sent_nothing(lab: Lab) -> None:
    with _joe_laptop(lab) as smtp:
        smtp.login(JOE, "joe-password")
    assert "no MAIL FROM" in _fails(check.hello_jane, lab)


def test_hello_jane_from_the_notebook_rather_than_joe_laptop(lab: Lab) -> None:
    with smtplib.SMTP(*lab.server("someplace.org").submission.address, timeout=5) as smtp:
        smtp.login(JOE, "joe-password")
        smtp.sendmail(JOE, [JANE], HELLO)
    assert "came from your notebook, not from joe's laptop" in _fails(check.hello_jane, lab)


def test_hello_jane_to_a_typo(lab: Lab) -> None:
    with _joe_laptop(lab) as smtp:
        smtp.login(JOE, "joe-password")
        smtp.sendmail(JOE, ["jnae@somewhereelse.com"], HELLO)
    assert "not to jane" in _fails(check.hello_jane, lab)


def test_hello_jane_with_another_subject(lab: Lab) -> None:
    with _joe_laptop(lab) as smtp:
        smtp.login(JOE, "joe-password")
        smtp.sendmail(JOE, [JANE], HELLO.replace("Hello, Jane", "Hi"))
    assert "sent ['Hi']" in _fails(check.hello_jane, lab)


def test_hello_jane_waiting_in_a_queue(lab: Lab) -> None:
    lab.server("somewhereelse.com").go_offline()
    with _joe_laptop(lab) as smtp:
        smtp.login(JOE, "joe-password")
        smtp.sendmail(JOE, [JANE], HELLO)
    assert "waits in the queue of mail.someplace.org" in _fails(check.hello_jane, lab)


def test_hello_jane_passes(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    with _joe_laptop(lab) as smtp:
        smtp.login(JOE, lab.users[JOE])
        smtp.sendmail(JOE, [JANE], HELLO)
    check.hello_jane(lab)
    assert capsys.readouterr().out.startswith("✔ Correct: the trace shows your session from joe's laptop")
