"""The checks of lesson 07b against a live lab: each failure message, and the passing case.

Real IMAP sessions with imaplib (and lines typed by hand, as the lesson has
the student do for IDLE), read back from the trace by the checks.
"""
from __future__ import annotations

import imaplib
import re

import pytest
from helpers import check_fails, joe_writes_to_jane

from test_lesson07 import _session, lab  # noqa: F401  (the lab fixture, and a logged-in imaplib session)

import mailcourse.exercises as check
from mailcourse import Lab


def test_both_checks_read_the_wire() -> None:
    assert check.changes_since.reads_the_wire and check.idle_by_hand.reads_the_wire


# -- 1. only what changed: CHANGEDSINCE ------------------------------------------------------------


@pytest.fixture
def changed(lab: Lab) -> tuple[Lab, int]:
    """Four messages (mod-sequences 1 to 4), then UIDs 1 and 3 changed by another session."""
    joe_writes_to_jane(lab, "one", "two", "three", "four")
    box = _session(lab, "jane-phone", folder=None)
    last_seen = int(re.search(rb"HIGHESTMODSEQ (\d+)", box.status("INBOX", "(HIGHESTMODSEQ)")[1][0]).group(1))
    box.select("INBOX")
    box.uid("STORE", "1", "+FLAGS", r"(\Seen)")
    box.uid("STORE", "3", "+FLAGS", r"(\Flagged)")
    box.logout()
    return lab, last_seen


def test_changes_since_passes(changed: tuple[Lab, int], capsys: pytest.CaptureFixture[str]) -> None:
    lab, last_seen = changed
    start = lab.trace.mark()
    box = _session(lab, "jane-laptop")
    _, data = box.uid("FETCH", "1:*", "(FLAGS)", f"(CHANGEDSINCE {last_seen})")
    box.logout()
    assert [line.split(b" (")[0] for line in data] == [b"1", b"3"]
    check.changes_since(lab, start, last_seen, [1, 3])
    check.changes_since(lab, start, last_seen, ("3", b"1"))
    assert capsys.readouterr().out.count(f"✔ Correct: CHANGEDSINCE {last_seen} brought back only the 2") == 2


def test_changes_since_explains_wrong_attempts(changed: tuple[Lab, int]) -> None:
    lab, last_seen = changed
    start = lab.trace.mark()
    assert "No IMAP session started in your cell" in check_fails(check.changes_since, lab, start, last_seen, ...)
    box = _session(lab, "jane-laptop")  # the student edition: a session, and the stub
    assert "no FETCH with the CHANGEDSINCE modifier" in check_fails(check.changes_since, lab, start, last_seen, ...)
    box.uid("FETCH", "1:*", "(FLAGS)")
    assert "without the CHANGEDSINCE modifier" in check_fails(check.changes_since, lab, start, last_seen, ...)
    box.fetch("1:*", f"(FLAGS) (CHANGEDSINCE {last_seen})")
    assert "Use the UID form" in check_fails(check.changes_since, lab, start, last_seen, ...)
    box.uid("FETCH", "1:*", "(FLAGS)", "(CHANGEDSINCE 0)")
    assert "repeats changes the laptop knew" in check_fails(check.changes_since, lab, start, last_seen, ...)
    box.uid("FETCH", "1:*", "(FLAGS)", f"(CHANGEDSINCE {last_seen + 1})")
    assert "misses changes" in check_fails(check.changes_since, lab, start, last_seen, ...)
    box.uid("FETCH", "1:*", "(FLAGS)", f"(CHANGEDSINCE {last_seen})")
    assert "named UIDs 1, 3: now put them" in check_fails(check.changes_since, lab, start, last_seen, ...)
    assert "not a list of numbers" in check_fails(check.changes_since, lab, start, last_seen, "one and three")
    assert "not the sequence number" in check_fails(check.changes_since, lab, start, last_seen, [1, 2, 3])
    box.logout()


def test_changes_since_on_a_folder_not_selected(changed: tuple[Lab, int]) -> None:
    lab, last_seen = changed
    start = lab.trace.mark()
    box = _session(lab, "jane-laptop", folder=None)
    box.send(f"Z1 UID FETCH 1:* (FLAGS) (CHANGEDSINCE {last_seen})\r\n".encode())
    assert box.readline().startswith(b"Z1 BAD")
    assert "Is the INBOX selected" in check_fails(check.changes_since, lab, start, last_seen, [1, 3])
    box.logout()


# -- 2. IDLE by hand ---------------------------------------------------------------------------------


def _read_until(box: imaplib.IMAP4, tag: bytes) -> list[str]:
    lines = [box.readline()]
    while not lines[-1].startswith(tag):
        lines.append(box.readline())
    return [line.decode().rstrip() for line in lines]


def test_idle_by_hand_passes(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    joe_writes_to_jane(lab, "one")
    box = _session(lab, "jane-phone")
    box.send(b"I001 IDLE\r\n")
    assert box.readline() == b"+ idling\r\n"
    joe_writes_to_jane(lab, "two")
    news = box.readline()
    box.send(b"DONE\r\n")
    *recent, done = _read_until(box, b"I001 ")
    assert done == "I001 OK IDLE terminated" and recent[0].endswith(" RECENT")
    box.logout()
    check.idle_by_hand(lab, news)
    check.idle_by_hand(lab, "S: * 2 EXISTS")
    assert capsys.readouterr().out.count("✔ Correct: '* 2 EXISTS' came while jane-phone was idling") == 2
    assert "continuation request" in check_fails(check.idle_by_hand, lab, "+ idling")
    assert "does not say how many" in check_fails(check.idle_by_hand, lab, recent[0])
    assert "tagged completion" in check_fails(check.idle_by_hand, lab, "I001 OK IDLE terminated")
    assert "not one of the lines the server pushed" in check_fails(check.idle_by_hand, lab, "* 1 EXISTS")
    assert "now put the line" in check_fails(check.idle_by_hand, lab, ...)


def test_idle_by_hand_explains_wrong_attempts(lab: Lab) -> None:
    assert "has sent no IDLE yet" in check_fails(check.idle_by_hand, lab, ...)
    joe_writes_to_jane(lab, "one")
    laptop = _session(lab, "jane-laptop")  # the wrong device
    laptop.send(b"I001 IDLE\r\n")
    laptop.readline()
    laptop.send(b"DONE\r\n")
    _read_until(laptop, b"I001 ")
    laptop.logout()
    assert "jane-phone has sent no IDLE yet" in check_fails(check.idle_by_hand, lab, ...)

    box = _session(lab, "jane-phone")
    box.send(b"I001 IDLE now\r\n")
    assert box.readline().startswith(b"I001 BAD")
    assert "Send the command alone" in check_fails(check.idle_by_hand, lab, ...)

    box.send(b"I002 IDLE\r\n")  # and joe writes nothing
    assert box.readline() == b"+ idling\r\n"
    assert "still idling" in check_fails(check.idle_by_hand, lab, ...)
    box.send(b"DONE\r\n")
    _read_until(box, b"I002 ")
    assert "nothing about a new message was pushed" in check_fails(check.idle_by_hand, lab, ...)

    box.send(b"I003 IDLE\r\n")
    box.readline()
    joe_writes_to_jane(lab, "three")
    assert "still idling" in check_fails(check.idle_by_hand, lab, "* 2 EXISTS")  # DONE not sent yet
    box.send(b"DONE\r\n")
    _read_until(box, b"I003 ")
    box.logout()
    check.idle_by_hand(lab, "* 2 EXISTS")
