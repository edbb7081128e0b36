"""The checks of lessons 03 and 05 against a live lab: each failure message, and the passing case.

The checks that read the student's own typing from the wire are tested in test_lesson03.py and
test_lesson05.py.
"""
from __future__ import annotations

from email.message import EmailMessage
from typing import Callable, Iterator

import pytest

import mailcourse.exercises as check
from mailcourse import Lab
from mailcourse.exercises import ExerciseError

JOE, JANE, ANN = "joe@someplace.org", "jane@somewhereelse.com", "ann@elsewhere.net"


@pytest.fixture
def lab() -> Iterator[Lab]:
    with Lab.classic(seed=5, retry_intervals=(0.3,)) as lab:
        lab.add_user(ANN, "ann-password")
        yield lab


def _fails(call: Callable[..., None], *args: object) -> str:
    with pytest.raises(ExerciseError) as failure:
        call(*args)
    return str(failure.value)


def _session(lab: Lab, endpoint=None):
    s = lab.smtp("joe-laptop", endpoint or lab.server("someplace.org").submission)
    return s


def test_refused_at_rcpt(lab: Lab, capsys) -> None:
    assert "no RCPT TO for an address at someplace.org" in _fails(check.refused_at_rcpt, lab)
    with _session(lab, lab.server("somewhereelse.com").mx) as s:
        s.ehlo("x"); s.mail(JOE); s.rcpt("bob@someplace.org")
    assert "Only the server of someplace.org" in _fails(check.refused_at_rcpt, lab)
    with _session(lab) as s:
        s.ehlo("x"); s.rcpt("bob@someplace.org")
    assert "must log in" in _fails(check.refused_at_rcpt, lab)
    with _session(lab) as s:
        s.login(JOE, "joe-password"); s.rcpt("bob@someplace.org")
    assert "no transaction was open" in _fails(check.refused_at_rcpt, lab)
    with _session(lab) as s:
        s.login(JOE, "joe-password"); s.mail(JOE); s.rcpt("bob@someplace.org")
    check.refused_at_rcpt(lab)
    assert capsys.readouterr().out.startswith("✔ Correct:")


def _guests(bcc: bool = True, cc_ann: bool = False) -> EmailMessage:
    m = EmailMessage()
    m["From"] = JOE
    m["To"] = JANE
    if bcc:
        m["Bcc"] = ANN
    if cc_ann:
        m["Cc"] = ANN
    m["Subject"] = "Guest list"
    m.set_content("x")
    return m


def test_blind_copy_sent(lab: Lab, capsys) -> None:
    assert "No message with the subject 'Guest list'" in _fails(check.blind_copy_sent, lab)
    with _session(lab) as s:
        s.login(JOE, "joe-password")
        s.send_message(_guests(bcc=False))
    assert "not ann" in _fails(check.blind_copy_sent, lab)
    with _session(lab) as s:
        s.login(JOE, "joe-password")
        s.sendmail(JOE, [JANE, ANN], _guests().as_bytes())  # Bcc: line crosses the wire
    assert "this line crossed the wire" in _fails(check.blind_copy_sent, lab)
    with _session(lab) as s:
        s.login(JOE, "joe-password")
        s.send_message(_guests(bcc=False, cc_ann=True))
    assert "not a blind copy" in _fails(check.blind_copy_sent, lab)
    with _session(lab) as s:
        s.login(JOE, "joe-password")
        s.send_message(_guests())
    check.blind_copy_sent(lab)
    assert capsys.readouterr().out.startswith("✔ Correct:")


def test_bounce_status(lab: Lab, capsys) -> None:
    assert "not answered yet" in _fails(check.bounce_status, lab, ...)
    assert "No bounce" in _fails(check.bounce_status, lab, "5.1.1")
    joe = lab.client("joe-laptop")
    joe.compose(JANE, "Wrong door", "x")
    joe.send_all()
    assert "that user exists" in _fails(check.bounce_status, lab, "5.1.1")
    joe.compose("nobody@somewhereelse.com", "Wrong door", "x")
    joe.send_all()
    lab.wait_for_delivery()
    assert "SMTP reply code" in _fails(check.bounce_status, lab, "550")
    assert "does not say" in _fails(check.bounce_status, lab, "5.1.2")
    check.bounce_status(lab, "Status: 5.1.1")
    check.bounce_status(lab, " 5.1.1 ")
    assert capsys.readouterr().out.count("✔ Correct:") == 2


def test_bounce_status_temporary(lab: Lab) -> None:
    lab.server("someplace.org").queue.lifetime = 0.5
    lab.server("somewhereelse.com").go_offline()
    joe = lab.client("joe-laptop")
    joe.compose("nobody@somewhereelse.com", "Wrong door", "x")
    joe.send_all()
    assert lab.wait_for_delivery()
    assert "temporary failure" in _fails(check.bounce_status, lab, "4.4.7")
