"""The checks of lesson 06 against a live lab: each failure message, and the passing case.

The sessions are real IMAP sessions: imaplib by hand, or the devices' own
sync (`ClientHost.imap`), with the lab's IMAP server. The checks read them
back from the trace and from the server's store.
"""
from __future__ import annotations

import imaplib
from collections.abc import Callable, Iterator

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


# -- 1. the UIDs of the unread messages -------------------------------------------------------------


@pytest.fixture
def unread(lab: Lab) -> Lab:
    """INBOX: UID 1 read, UID 2 gone, UIDs 3 and 4 unread; so sequence numbers 2 and 3 are unread."""
    joe_writes_to_jane(lab, "one", "two", "three", "four")
    laptop = lab.client("jane-laptop")
    laptop.imap.sync()
    laptop.imap.mark_read(1)
    laptop.imap.delete(2)
    laptop.imap.sync()
    return lab


def test_unread_uids_accepts_the_uids_in_any_shape(unread: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    box = _session(unread)
    _, by_uid = box.uid("SEARCH", "UNSEEN")
    assert by_uid == [b"3 4"]
    check.unread_uids(unread, by_uid)  # imaplib's own answer
    check.unread_uids(unread, [3, 4])
    check.unread_uids(unread, (4, "3"))
    check.unread_uids(unread, b"3 4")
    box.logout()
    assert capsys.readouterr().out.count("✔ Correct: UIDs 3, 4") == 4


def test_unread_uids_explains_wrong_answers(unread: Lab) -> None:
    box = _session(unread)
    _, by_number = box.search(None, "UNSEEN")
    assert by_number == [b"2 3"]
    assert "not answered yet" in check_fails(check.unread_uids, unread, ...)
    assert "not a list of numbers" in check_fails(check.unread_uids, unread, "three and four")
    assert "not a list of numbers" in check_fails(check.unread_uids, unread, [True])
    assert "*sequence numbers*" in check_fails(check.unread_uids, unread, by_number)
    assert "has the UID 99" in check_fails(check.unread_uids, unread, [3, 4, 99])
    included = check_fails(check.unread_uids, unread, [1, 3, 4])
    assert "UID 1 has the \\Seen flag" in included and "BODY[]" not in included
    assert "UID 4 is unread too" in check_fails(check.unread_uids, unread, [3])
    assert "UID 3, 4 is unread too" in check_fails(check.unread_uids, unread, [])

    box.uid("FETCH", "3", "(BODY[])")  # no PEEK: jane has "read" it now
    explained = check_fails(check.unread_uids, unread, [3, 4])
    assert "UID 3 has the \\Seen flag" in explained and "without .PEEK" in explained
    check.unread_uids(unread, [4])  # the store is the truth, whatever marked it
    box.uid("FETCH", "4", "(RFC822.TEXT)")  # marks read too
    assert "no unread message now" in check_fails(check.unread_uids, unread, [])
    box.logout()


# -- 2. the line that told the phone ---------------------------------------------------------------------


def _idle(box: imaplib.IMAP4, during: Callable[[], None], lines: int) -> list[str]:
    """IDLE by hand, as the lesson does: send it, do something, read what is pushed, DONE."""
    box.send(b"A001 IDLE\r\n")
    heard = [box.readline().decode().rstrip()]
    during()
    heard += [box.readline().decode().rstrip() for _ in range(lines)]
    box.send(b"DONE\r\n")
    heard.append(box.readline().decode().rstrip())
    return heard


def test_idle_news(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    assert "not answered yet" in check_fails(check.idle_news, lab, ...)
    joe_writes_to_jane(lab, "one", "two", "three", "four")
    box = _session(lab)
    assert "has not idled yet" in check_fails(check.idle_news, lab, "* 5 EXISTS")
    heard = _idle(box, lambda: joe_writes_to_jane(lab, "Are you there?"), lines=2)
    assert heard == ["+ idling", "* 5 EXISTS", "* 5 RECENT", "A001 OK IDLE terminated"]

    check.idle_news(lab, "* 5 EXISTS")
    check.idle_news(lab, " S: * 5 EXISTS ")
    assert capsys.readouterr().out.count("✔ Correct:") == 2

    assert "the phone sent it" in check_fails(check.idle_news, lab, "C: A001 IDLE")
    assert "a line the phone sent" in check_fails(check.idle_news, lab, "DONE")
    assert "a line the phone sent" in check_fails(check.idle_news, lab, "A001 IDLE")
    assert "continuation request" in check_fails(check.idle_news, lab, "S: + idling")
    assert "Close: RECENT" in check_fails(check.idle_news, lab, "* 5 RECENT")
    assert "tagged completion of IDLE" in check_fails(check.idle_news, lab, "A001 OK IDLE terminated")
    assert "answered a command" in check_fails(check.idle_news, lab, "* 4 EXISTS")  # SELECT's
    assert "answered one of the phone's commands" in check_fails(check.idle_news, lab, "* 4 RECENT")
    assert "not a line the server sent" in check_fails(check.idle_news, lab, "* 6 EXISTS")

    # Flags changed by another session are pushed too, but they are not news of a new message.
    def flag_elsewhere() -> None:
        other = _session(lab, "jane-laptop")
        other.uid("STORE", "1", "+FLAGS", r"(\Flagged)")
        other.logout()

    heard = _idle(box, flag_elsewhere, lines=1)
    assert heard[1] == r"* 1 FETCH (FLAGS (\Flagged \Recent))"
    assert "reports flags that changed" in check_fails(check.idle_news, lab, heard[1])
    box.logout()


def test_idle_news_looks_only_at_the_phone(lab: Lab) -> None:
    joe_writes_to_jane(lab, "one")
    box = _session(lab, "jane-laptop")
    heard = _idle(box, lambda: joe_writes_to_jane(lab, "two"), lines=2)
    box.logout()
    assert heard[1] == "* 2 EXISTS"
    assert "has not idled yet" in check_fails(check.idle_news, lab, "* 2 EXISTS")


def test_a_line_inside_a_message_is_not_a_response(lab: Lab) -> None:
    joe_writes_to_jane(lab, "one")
    box = _session(lab)
    _idle(box, lambda: joe_writes_to_jane(lab, "two", body="* 77 EXISTS\r\nJoe"), lines=2)
    box.uid("FETCH", "2", "(BODY.PEEK[])")
    box.logout()
    assert "not a line the server sent" in check_fails(check.idle_news, lab, "* 77 EXISTS")


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
