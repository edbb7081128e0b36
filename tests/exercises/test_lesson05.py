"""Lesson 05's checks of failures typed by hand, against a live lab and the real wire.

The student types the commands; the checks read their sessions back from the
tap. Each wrong attempt is one a student makes: too few failures, a code
not kept or invented, a 451 never retried, a retry while the fault is on.
"""
from __future__ import annotations

import pytest

from helpers import check_fails as _fails

import mailcourse.exercises as check
from mailcourse import Lab
from mailcourse.failures import provoke

JOE, JANE = "joe@someplace.org", "jane@somewhereelse.com"
# `lab`: the classic lab of tests/conftest.py


def _type(lab: Lab, commands: list[str], endpoint: str = "mx") -> list[int]:
    """Each command by docmd on jane's server, as joe-laptop; the codes of the failures."""
    codes = []
    with lab.smtp("joe-laptop", lab.server("somewhereelse.com").endpoints[endpoint]) as s:
        s.ehlo("joe-laptop")
        for command in commands:
            code, _ = s.docmd(command)
            if code >= 400:
                codes.append(code)
    return codes


FOUR = ["DATA", f"MAIL FROM:<{JOE}> SIZE=20000000", f"MAIL FROM:<{JOE}>",
        "RCPT TO:<nobody@somewhereelse.com>", "RCPT TO:<ann@elsewhere.net>", "RSET"]


def test_failures_by_hand_counts_only_the_students_sessions(lab: Lab) -> None:
    start = lab.trace.mark()
    assert "no SMTP session of yours" in _fails(check.failures_by_hand, lab, start, [])
    provoke(lab, "bad_sequence")  # joe-laptop's 503s, but before the bookmark
    provoke(lab, "relay_refused")
    later = lab.trace.mark()
    _type(lab, ["NOOP"])
    assert "none of them" in _fails(check.failures_by_hand, lab, later, [])
    assert "bookmark" in _fails(check.failures_by_hand, lab, "start", [])


def test_failures_by_hand_names_what_is_missing(lab: Lab) -> None:
    start = lab.trace.mark()
    codes = _type(lab, ["DATA", f"MAIL FROM:<{JOE}>", "RCPT TO:<nobody@somewhereelse.com>"])
    message = _fails(check.failures_by_hand, lab, start, codes)
    assert "command out of order (503); unknown user (550)" in message
    assert "message too large: 552 to MAIL FROM with a SIZE=" in message
    assert "relaying refused" in message


def test_failures_by_hand_relaying_is_refused_on_an_mx_only(lab: Lab) -> None:
    start = lab.trace.mark()
    codes = _type(lab, ["DATA", "AUTH PLAIN", f"MAIL FROM:<{JOE}> SIZE=20000000"])  # 502 for AUTH at an MX
    assert "Other failures you got: AUTH PLAIN -> 502" in _fails(check.failures_by_hand, lab, start, codes)


def test_failures_by_hand_wants_each_code_read(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    start = lab.trace.mark()
    codes = _type(lab, FOUR)
    assert codes == [503, 552, 550, 554]
    assert "codes_read is empty" in _fails(check.failures_by_hand, lab, start, ...)
    assert "does not hold those codes" in _fails(check.failures_by_hand, lab, start, codes[:2])
    assert "holds 421" in _fails(check.failures_by_hand, lab, start, [*codes, 421])
    assert "as numbers" in _fails(check.failures_by_hand, lab, start, ["five hundred"])
    check.failures_by_hand(lab, start, codes)
    check.failures_by_hand(lab, start, [str(c) for c in codes])
    assert capsys.readouterr().out.count("✔ Correct: you caused") == 2


def _send(s, subject: str = "Second try") -> tuple[int, bytes]:
    s.mail(JOE)
    s.rcpt(JANE)
    return s.data(f"From: {JOE}\r\nTo: {JANE}\r\nSubject: {subject}\r\n\r\nDid this one arrive?\r\n")


def test_sent_again(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    ours = lab.server("someplace.org")
    start = lab.trace.mark()
    assert "no message of yours reached its final" in _fails(check.sent_again, lab, start)
    with lab.smtp("joe-laptop", ours.submission) as s:
        s.login(JOE, "joe-password")
        assert _send(s)[0] == 250  # no fault switched on
        assert "never a 4yz" in _fails(check.sent_again, lab, start)
        ours.faults.temporary_failure = True
        assert _send(s)[0] == 451
        assert "still has its temporary failure switched on" in _fails(check.sent_again, lab, start)
        ours.faults.temporary_failure = False
        assert "A 4yz means" in _fails(check.sent_again, lab, start)
        ours.faults.temporary_failure = True
        assert _send(s)[0] == 451  # sent again, but while the failure lasts
        ours.faults.temporary_failure = False
        assert "You sent it again, but got 451" in _fails(check.sent_again, lab, start)
        assert _send(s, "Another subject")[0] == 250
        assert "Send the same message again" in _fails(check.sent_again, lab, start)
        assert _send(s)[0] == 250
    check.sent_again(lab, start)
    assert capsys.readouterr().out.startswith("✔ Correct:")


def test_the_checks_of_lesson_04_that_read_the_wire_say_so() -> None:
    for name in ("failures_by_hand", "sent_again"):
        assert getattr(check, name).reads_the_wire, name
