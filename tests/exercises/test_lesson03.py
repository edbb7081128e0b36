"""Lesson 03's check of an envelope typed by hand, against a live lab and the real wire.

Each wrong attempt is one a student makes: the envelope built from the
header, jane in the envelope, a To: line that names joe, smtplib writing the
commands; then the right one, typed command by command.
"""
from __future__ import annotations

import smtplib

import pytest

from helpers import check_fails as _fails

import mailcourse.exercises as check
from mailcourse import Lab

JOE, JANE = "joe@someplace.org", "jane@somewhereelse.com"
# `lab`: the classic lab of tests/conftest.py


def _message(to: str = JANE, subject: str = "Not for jane") -> str:
    return f"From: {JOE}\r\nTo: {to}\r\nSubject: {subject}\r\n\r\nA note to myself.\r\n"


def _by_hand(lab: Lab, rcpts: list[str], text: str, endpoint: str = "submission") -> None:
    ours = lab.server("someplace.org")
    with lab.smtp("joe-laptop", ours.endpoints[endpoint]) as s:
        if endpoint == "submission":
            s.login(JOE, "joe-password")
        else:
            s.ehlo("joe-laptop")
        s.docmd(f"MAIL FROM:<{JOE}>")
        for rcpt in rcpts:
            s.docmd(f"RCPT TO:<{rcpt}>")
        s.data(text)


def test_header_says_jane_explains_each_wrong_envelope(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    assert "no message with the subject 'Not for jane'" in _fails(check.header_says_jane, lab)
    _by_hand(lab, [JANE], _message())  # the envelope agrees with the header
    assert "puts jane in the envelope" in _fails(check.header_says_jane, lab)
    _by_hand(lab, [JOE], _message(to=JOE))  # the header forgot jane
    assert "should name jane" in _fails(check.header_says_jane, lab)
    _by_hand(lab, [JOE], _message(to=f"{JANE}, {JOE}"))
    assert "names joe" in _fails(check.header_says_jane, lab)
    with lab.smtp("joe-laptop", lab.server("someplace.org").submission) as s:
        s.login(JOE, "joe-password")
        s.sendmail(JOE, [JOE], _message())  # right envelope, but smtplib wrote the commands
    assert "size=" in _fails(check.header_says_jane, lab)
    _by_hand(lab, [JOE], _message())
    check.header_says_jane(lab)
    assert capsys.readouterr().out.startswith("✔ Correct:")


def test_header_says_jane_wants_joes_own_provider(lab: Lab) -> None:
    with lab.smtp("joe-laptop", lab.server("somewhereelse.com").mx) as s:
        s.ehlo("joe-laptop")
        s.docmd(f"MAIL FROM:<{JOE}>")
        s.docmd(f"RCPT TO:<{JANE}>")
        s.data(_message())
    assert "through joe's own provider" in _fails(check.header_says_jane, lab)


def test_header_says_jane_reads_a_refused_envelope(lab: Lab) -> None:
    with pytest.raises(smtplib.SMTPDataError):  # no recipient accepted: DATA gets 503
        _by_hand(lab, ["bob@someplace.org"], _message())
    assert "no message with the subject" in _fails(check.header_says_jane, lab)


def test_the_checks_of_lesson_03_that_read_the_wire_say_so() -> None:
    for name in ("refused_at_rcpt", "blind_copy_sent", "header_says_jane"):
        assert getattr(check, name).reads_the_wire, name
