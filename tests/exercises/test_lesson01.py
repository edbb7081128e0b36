"""The checks of lesson 01 against a live lab: jane's laptop speaks SMTP, rightly and wrongly."""
from __future__ import annotations

import smtplib
from typing import Iterator

import pytest
from helpers import check_fails as _fails

import mailcourse.exercises as check
from mailcourse import Lab

JOE, JANE = "joe@someplace.org", "jane@somewhereelse.com"


def _message(subject: str) -> str:
    return f"From: {JANE}\r\nTo: {JOE}\r\nSubject: {subject}\r\n\r\nJoe,\r\nJane\r\n"


@pytest.fixture
def lab() -> Iterator[Lab]:
    with Lab.classic(seed=5, retry_intervals=(1,)) as lab:
        yield lab


def _jane_laptop(lab: Lab) -> smtplib.SMTP:
    return lab.smtp("jane-laptop", lab.server("somewhereelse.com").submission)


def _send(lab: Lab, *subjects: str) -> None:
    """One session from jane's laptop, one transaction per subject."""
    with _jane_laptop(lab) as smtp:
        smtp.login(JANE, "jane-password")
        for subject in subjects:
            smtp.sendmail(JANE, [JOE], _message(subject))


# -- waiting_for_joe --------------------------------------------------------------------------


def test_waiting_for_joe_before_anything(lab: Lab) -> None:
    lab.server("someplace.org").go_offline()
    assert "no SMTP session from jane's laptop" in _fails(check.waiting_for_joe, lab)


def test_waiting_for_joe_without_login(lab: Lab) -> None:
    lab.server("someplace.org").go_offline()
    with _jane_laptop(lab) as smtp, pytest.raises(smtplib.SMTPSenderRefused):
        smtp.sendmail(JANE, [JOE], _message("Back at you"))
    assert "'530" in _fails(check.waiting_for_joe, lab)


def test_waiting_for_joe_wants_joe_as_the_recipient(lab: Lab) -> None:
    lab.server("someplace.org").go_offline()
    with _jane_laptop(lab) as smtp:
        smtp.login(JANE, "jane-password")
        smtp.sendmail(JANE, [JANE], _message("To myself"))
    assert "none carried a message to joe" in _fails(check.waiting_for_joe, lab)


def test_waiting_for_joe_with_joe_server_still_on(lab: Lab) -> None:
    _send(lab, "Back at you")
    assert lab.wait_for_delivery()
    assert "is online" in _fails(check.waiting_for_joe, lab)
    lab.server("someplace.org").go_offline()
    assert "in joe's inbox already" in _fails(check.waiting_for_joe, lab)


def test_waiting_for_joe_passes(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    lab.server("someplace.org").go_offline()
    _send(lab, "Back at you")
    check.waiting_for_joe(lab)
    assert capsys.readouterr().out.startswith("✔ Correct: mail.somewhereelse.com answered 250")
    lab.server("someplace.org").go_online()
    assert lab.wait_for_delivery()


# -- several_in_one_session ------------------------------------------------------------------


def test_several_in_one_session_before_anything(lab: Lab) -> None:
    assert "no SMTP session from jane's laptop" in _fails(check.several_in_one_session, lab)


def test_several_in_one_session_after_the_stub(lab: Lab) -> None:
    with _jane_laptop(lab):
        pass
    assert "without sending a message" in _fails(check.several_in_one_session, lab)


def test_several_in_one_session_one_session_each(lab: Lab) -> None:
    _send(lab, "From the train (1)")
    _send(lab, "From the train (2)")
    assert "carried one message" in _fails(check.several_in_one_session, lab)


def test_several_in_one_session_both_recipients_in_one_transaction_is_one_message(lab: Lab) -> None:
    with _jane_laptop(lab) as smtp:
        smtp.login(JANE, "jane-password")
        smtp.sendmail(JANE, [JOE, JANE], _message("From the train"))
    assert "carried one message" in _fails(check.several_in_one_session, lab)


def test_several_in_one_session_login_refused(lab: Lab) -> None:
    with _jane_laptop(lab) as smtp, pytest.raises(smtplib.SMTPAuthenticationError):
        smtp.login(JANE, "joe-password")
    assert "refused the login" in _fails(check.several_in_one_session, lab)


def test_several_in_one_session_passes(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    _send(lab, "From the train (1)", "From the train (2)")
    check.several_in_one_session(lab)
    assert capsys.readouterr().out.startswith("✔ Correct: the trace shows one session from jane's laptop")
