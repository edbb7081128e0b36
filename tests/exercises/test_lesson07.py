"""The checks of lesson 07 against a live lab: each failure message, and the passing case.

The sessions are real IMAP sessions: imaplib by hand, or the devices' own
sync (`ClientHost.imap`), with the lab's IMAP server. The checks read them
back from the trace and from the server's store.
"""
from __future__ import annotations

import imaplib
from collections.abc import Iterator

import pytest
from helpers import check_fails, joe_writes_to_jane

import mailcourse.exercises as check
from mailcourse import Lab

JANE, PASSWORD = "jane@somewhereelse.com", "jane-password"


@pytest.fixture
def lab() -> Iterator[Lab]:
    with Lab.classic(seed=6) as lab:
        yield lab


def _session(lab: Lab, device: str = "jane-phone", folder: str | None = "INBOX") -> imaplib.IMAP4:
    box = lab.imap(device, lab.server("somewhereelse.com").endpoints["imap"])
    box.login(JANE, PASSWORD)
    if folder is not None:
        box.select(folder)
    return box


def _uid_of(lab: Lab, subject: str, folder: str = "INBOX") -> int:
    laptop = lab.client("jane-laptop")
    return next(m.uid for m in laptop.imap.messages(folder) if m.subject == subject)


# -- reading IMAP sessions back from the trace ---------------------------------------------------


def test_literals_are_folded_so_their_lines_are_never_taken_for_responses(lab: Lab) -> None:
    # A body whose lines look like an untagged response and a tagged completion.
    joe_writes_to_jane(lab, "tricky", body="* 99 EXISTS\r\nA001 OK IDLE terminated\r\nDONE\r\nJoe")
    box = _session(lab)
    box.uid("FETCH", "1", "(BODY.PEEK[])")
    box.append("INBOX", None, None, b"Subject: appended\r\n\r\n* 98 EXISTS\r\nB002 OK fake\r\n")
    box.logout()
    conn = lab.trace.sessions(protocol="IMAP", device="jane-phone")[-1]
    assert lab.wait_for(lambda: conn.closed is not None)
    greeting, *exchanges = lab.trace.exchanges(conn)
    assert greeting.command == "" and greeting.status == "OK"
    assert [e.verb for e in exchanges] == ["CAPABILITY", "LOGIN", "SELECT", "UID FETCH", "APPEND", "LOGOUT"]
    assert [e.status for e in exchanges] == ["OK"] * 6
    fetched = exchanges[3].untagged
    assert len(fetched) == 1 and fetched[0].startswith("* 1 FETCH (UID 1 BODY[] {") and fetched[0].endswith(")")
    assert exchanges[4].text.startswith("[APPENDUID ")
    every = [line for e in exchanges for line in e.untagged]
    assert "* 99 EXISTS" not in every and "* 98 EXISTS" not in every
    assert "* 1 EXISTS" in exchanges[2].untagged


# -- 1. jane opens her unread mail, by hand ------------------------------------------------------


@pytest.fixture
def unread(lab: Lab) -> Lab:
    """INBOX: UID 1 read, UID 2 gone, UIDs 3 and 4 unread (sequence numbers 2 and 3), UID 4 flagged."""
    joe_writes_to_jane(lab, "one", "two", "three", "four")
    laptop = lab.client("jane-laptop")
    laptop.imap.sync()
    laptop.imap.mark_read(1)
    laptop.imap.delete(2)
    laptop.imap.flag(4)
    laptop.imap.sync()
    return lab


def _flags(lab: Lab, uid: int) -> set[str]:
    return next(set(i.flags) for i in lab.server("somewhereelse.com").store.list("jane") if i.uid == uid)


def test_unread_by_hand_passes_with_the_three_commands(unread: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    box = _session(unread)
    _, data = box.uid("SEARCH", "UNSEEN")
    assert data == [b"3 4"]
    box.uid("FETCH", "3,4", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    box.uid("STORE", "3:4", "+FLAGS", r"(\Seen)")
    check.unread_by_hand(unread)
    assert capsys.readouterr().out.startswith("✔ Correct: jane-phone's session searched, fetched UIDs 3, 4")
    assert _flags(unread, 4) == {"\\Seen", "\\Flagged"}
    box.logout()


def test_unread_by_hand_with_a_silent_store_and_a_star(unread: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    box = _session(unread)
    box.uid("SEARCH", "UNSEEN")
    box.uid("FETCH", "3", "(ENVELOPE)")
    box.uid("FETCH", "4", "(BODY.PEEK[])")
    box.uid("STORE", "3:*", "+FLAGS.SILENT", r"(\Seen)")
    box.logout()
    check.unread_by_hand(unread)
    assert "✔ Correct" in capsys.readouterr().out


def test_unread_by_hand_explains_what_is_missing(unread: Lab) -> None:
    assert "has searched for the unread messages yet" in check_fails(check.unread_by_hand, unread)
    box = _session(unread, folder=None)
    box.send(b"Z1 UID SEARCH UNSEEN\r\n")  # by hand, before SELECT (imaplib itself would refuse)
    assert box.readline().startswith(b"Z1 BAD")
    assert "Is the INBOX selected" in check_fails(check.unread_by_hand, unread)
    box.select("INBOX")
    box.search(None, "UNSEEN")
    assert "sent SEARCH, which names messages by sequence number" in check_fails(check.unread_by_hand, unread)
    box.uid("SEARCH", "UNSEEN")
    assert "fetched nothing after it" in check_fails(check.unread_by_hand, unread)
    box.fetch("2:3", "(FLAGS)")
    assert "fetched with FETCH, which takes sequence numbers" in check_fails(check.unread_by_hand, unread)
    box.uid("FETCH", "3", "(FLAGS)")
    assert "fetched only 3" in check_fails(check.unread_by_hand, unread)
    box.uid("FETCH", "1:4", "(FLAGS)")
    assert "fetched UID 1, which your search did not find" in check_fails(check.unread_by_hand, unread)
    box.uid("SEARCH", "UNSEEN")
    box.uid("FETCH", "3,4", "(FLAGS)")
    assert "stored no flag afterwards" in check_fails(check.unread_by_hand, unread)
    box.uid("STORE", "3", "+FLAGS", r"(\Answered)")
    assert "not \\Seen" in check_fails(check.unread_by_hand, unread)
    box.logout()


def test_unread_by_hand_refuses_a_store_that_replaces_or_misses(unread: Lab) -> None:
    box = _session(unread)
    box.uid("SEARCH", "UNSEEN")
    box.uid("FETCH", "3,4", "(FLAGS)")
    box.uid("STORE", "3,4", "FLAGS", r"(\Seen)")  # wipes \Flagged of UID 4
    assert "replaces every flag" in check_fails(check.unread_by_hand, unread)
    assert _flags(unread, 4) == {"\\Seen"}
    box.uid("STORE", "4", "+FLAGS", r"(\Flagged)")
    box.uid("STORE", "3,4", "-FLAGS", r"(\Seen)")
    box.uid("SEARCH", "UNSEEN")
    box.uid("FETCH", "3,4", "(FLAGS)")
    box.uid("STORE", "3", "+FLAGS", r"(\Seen)")
    assert "but not 4" in check_fails(check.unread_by_hand, unread)
    box.uid("STORE", "4", "+FLAGS", r"(\Seen)")
    box.logout()
    check.unread_by_hand(unread)  # two STOREs together mark both
    lab_laptop = unread.client("jane-laptop")
    lab_laptop.imap.sync()
    lab_laptop.imap.mark_unread(3)
    lab_laptop.imap.sync()
    assert "UID 3 is unread again" in check_fails(check.unread_by_hand, unread)


def test_unread_by_hand_on_a_read_only_folder(unread: Lab) -> None:
    box = _session(unread, folder=None)
    box.select("INBOX", readonly=True)  # EXAMINE
    box.uid("SEARCH", "UNSEEN")
    box.uid("FETCH", "3,4", "(FLAGS)")
    box.uid("STORE", "3,4", "+FLAGS", r"(\Seen)")
    assert "opened with EXAMINE is read-only" in check_fails(check.unread_by_hand, unread)
    box.logout()


def test_unread_by_hand_with_nothing_unread(lab: Lab) -> None:
    joe_writes_to_jane(lab, "one")
    box = _session(lab)
    box.uid("STORE", "1", "+FLAGS", r"(\Seen)")
    box.uid("SEARCH", "UNSEEN")
    assert "found no unread message" in check_fails(check.unread_by_hand, lab)
    box.logout()


# -- 3. filed away on the train ------------------------------------------------------------------


def _ready(lab: Lab) -> imaplib.IMAP4:
    """The lesson's set-up: the phone creates Archive, joe sends "Tax return", the laptop syncs."""
    assert "no folder 'Archive'" in check_fails(check.archived_offline, lab)
    box = _session(lab, folder=None)
    assert box.create("Archive")[0] == "OK"
    joe_writes_to_jane(lab, "Other news", "Tax return")
    lab.client("jane-laptop").imap.sync()
    box.select("INBOX")  # after the mail came: a session names only the messages it has been told of
    return box


def test_both_checks_read_the_wire() -> None:
    assert check.unread_by_hand.reads_the_wire and check.archived_offline.reads_the_wire


def test_archived_offline_passes_when_the_laptop_moves_it_offline_and_syncs(
        lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    _ready(lab).logout()
    laptop = lab.client("jane-laptop")
    assert "journal holds no move" in check_fails(check.archived_offline, lab)
    laptop.go_offline()
    laptop.imap.move(_uid_of(lab, "Tax return"), "Archive")
    assert "still offline" in check_fails(check.archived_offline, lab)
    laptop.go_online()
    assert "has not synced since" in check_fails(check.archived_offline, lab)
    laptop.imap.sync()
    check.archived_offline(lab)
    assert capsys.readouterr().out.startswith("✔ Correct: jane-laptop's sync replayed the move (UID MOVE)")


def test_archived_offline_wrong_folder_and_deletion(lab: Lab) -> None:
    _ready(lab).logout()
    laptop = lab.client("jane-laptop")
    laptop.go_offline()
    laptop.imap.move(_uid_of(lab, "Tax return"), "Trash")
    assert "to 'Trash', not to 'Archive'" in check_fails(check.archived_offline, lab)
    laptop.go_online()
    laptop.imap.sync()
    assert "is in 'Trash' on the server" in check_fails(check.archived_offline, lab)
    laptop.imap.delete(_uid_of(lab, "Tax return", "Trash"), "Trash")
    laptop.imap.sync()
    assert "in none of jane's folders" in check_fails(check.archived_offline, lab)


def test_archived_offline_by_the_wrong_session(lab: Lab) -> None:
    box = _ready(lab)
    uid = str(_uid_of(lab, "Tax return"))
    assert box.uid("COPY", uid, "Archive")[0] == "OK"
    assert "that was a copy, not a move" in check_fails(check.archived_offline, lab)
    box.uid("STORE", uid, "+FLAGS.SILENT", r"(\Deleted)")
    box.uid("EXPUNGE", uid)  # now a move, done by the phone, online
    assert "It was jane-phone's session" in check_fails(check.archived_offline, lab)
    box.logout()


def test_archived_offline_online_by_hand_or_on_the_server(lab: Lab) -> None:
    _ready(lab).logout()
    desk = _session(lab, "jane-laptop")
    assert desk.uid("MOVE", str(_uid_of(lab, "Tax return")), "Archive")[0] == "OK"
    desk.logout()
    assert "IMAP commands of its own, online" in check_fails(check.archived_offline, lab)

    store = lab.server("somewhereelse.com").store
    joe_writes_to_jane(lab, "Tax return")  # a second one, moved on the server itself
    lab.client("jane-laptop").imap.sync()
    for info in store.list("jane", "Archive"):
        store.delete("jane", info.uid, "Archive")
    store.move("jane", store.list("jane")[-1].uid, "INBOX", "Archive")
    assert "no IMAP session in the trace moved it" in check_fails(check.archived_offline, lab)
