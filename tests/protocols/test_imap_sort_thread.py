"""SORT and THREAD (RFC 5256): the base subject, the two threading algorithms, and the session's answers."""
from __future__ import annotations

from pathlib import Path

import pytest

from mailcourse.protocols.imap.mime import parse_message
from mailcourse.protocols.imap.session import CAPABILITIES, IMAPSession
from mailcourse.protocols.imap.sort import Sortable, base_subject, parse_sort_criteria, sort
from mailcourse.protocols.imap.thread import render, thread
from mailcourse.servers.imap import Mailboxes
from mailcourse.store import MailStore


@pytest.mark.parametrize("subject, base, reply", [
    ("Lunch", "Lunch", False),
    ("Re: Lunch", "Lunch", True),
    ("RE:   Lunch", "Lunch", True),
    ("Fwd: Re: Lunch (fwd)", "Lunch", True),
    ("Lunch (fwd) (FWD)  ", "Lunch", True),
    ("Re: [course] Re: Lunch", "Lunch", True),
    ("[course] Lunch", "Lunch", False),  # step (4): a leading blob goes when something is left
    ("[course]", "[course]", False),  # ... and stays when nothing would be
    ("Re[2]: Lunch", "Lunch", True),  # subj-refwd's optional blob
    ("[Fwd: Re: Lunch]", "Lunch", True),  # step (6): the [fwd: ...] wrapper, then again from (2)
    ("Fw: Lunch\tat\r\n noon", "Lunch at noon", True),  # step (1): tabs, continuations, runs of spaces
    ("Really: no", "Really: no", False),
    ("", "", False),
])
def test_base_subject_follows_rfc_5256_section_2_1(subject, base, reply):
    assert base_subject(subject) == (base, reply)


def sortable(seq: int, header: str, internaldate: float = 0, size: int = 0) -> Sortable:
    raw = header.replace("\n", "\r\n").encode() + b"\r\n\r\nbody\r\n"
    return Sortable(seq, seq, internaldate, size, lambda: parse_message(raw))


def numbers(messages: list[Sortable]) -> list[int]:
    return [m.number for m in messages]


def test_sort_keys_reverse_and_ties_in_mailbox_order():
    messages = [
        sortable(1, "From: Zed <zed@x>\nSubject: Re: beta\nDate: Mon, 1 Jan 2024 10:00:00 +0000", 30, 300),
        sortable(2, "From: \"A\" <amy@x>\nSubject: alpha\nDate: Mon, 1 Jan 2024 11:00:00 +0200", 10, 100),
        sortable(3, "From: bob@x\nSubject: BETA\nDate: not a date", 20, 100),
        sortable(4, "From: group: amy@x;\nSubject: [list] Alpha", 40, 200),
    ]
    by = lambda *words: numbers(sort(messages, parse_sort_criteria(list(words))))  # noqa: E731
    assert by("ARRIVAL") == [2, 3, 1, 4]
    assert by("SIZE") == [2, 3, 4, 1]  # 2 and 3 tie: mailbox order
    assert by("REVERSE", "SIZE") == [1, 4, 2, 3]  # REVERSE turns the key round, not the tie-break
    assert by("SUBJECT") == [2, 4, 1, 3]  # base subjects, i;ascii-casemap
    assert by("SUBJECT", "REVERSE", "ARRIVAL") == [4, 2, 1, 3]
    assert by("FROM") == [2, 4, 3, 1]  # the mailbox (local part); a group's first member counts
    # DATE: 2 was sent at 09:00 UTC; 3 has no date that parses, so its internal date (20) is used.
    assert by("DATE") == [3, 4, 2, 1]
    with pytest.raises(ValueError):
        parse_sort_criteria(["DATE", "REVERSE"])
    with pytest.raises(ValueError):
        parse_sort_criteria(["COLOUR"])


def test_orderedsubject_groups_by_base_subject_oldest_first():
    messages = [
        sortable(1, "Subject: Lunch\nDate: 1 Jan 2024 10:00 +0000"),
        sortable(2, "Subject: Re: Lunch\nDate: 1 Jan 2024 12:00 +0000"),
        sortable(3, "Subject: Other\nDate: 1 Jan 2024 11:00 +0000"),
        sortable(4, "Subject: Re: lunch\nDate: 1 Jan 2024 09:00 +0000"),
        sortable(5, "Subject: Other\nDate: 1 Jan 2024 13:00 +0000"),
    ]
    assert render(thread(messages, "ORDEREDSUBJECT")) == "(4 (1)(2))(3 5)"


def test_references_builds_the_tree_and_joins_lost_parents_by_subject():
    messages = [
        sortable(1, "Message-ID: <a@x>\nSubject: Plan\nDate: 1 Jan 2024 10:00 +0000"),
        sortable(2, "Message-ID: <b@x>\nIn-Reply-To: <a@x>\nSubject: Re: Plan\nDate: 1 Jan 2024 11:00 +0000"),
        sortable(3, "Message-ID: <c@x>\nReferences: <a@x> <b@x>\nSubject: Re: Plan\nDate: 1 Jan 2024 12:00 +0000"),
        sortable(4, "Message-ID: <d@x>\nReferences: <a@x>\nSubject: Re: Plan\nDate: 1 Jan 2024 13:00 +0000"),
        # Replies to a message this mailbox does not have: a dummy parent holds them.
        sortable(5, "Message-ID: <e@x>\nReferences: <lost@x>\nSubject: Re: Trip\nDate: 2 Jan 2024 10:00 +0000"),
        sortable(6, "Message-ID: <f@x>\nReferences: <lost@x>\nSubject: Re: Trip\nDate: 2 Jan 2024 11:00 +0000"),
        # No references at all, but the same base subject as a thread: joined as its child (step 5).
        sortable(7, "Message-ID: <g@x>\nSubject: Re: Plan\nDate: 3 Jan 2024 10:00 +0000"),
        # A duplicate Message-ID is a message of its own (step 1).
        sortable(8, "Message-ID: <a@x>\nSubject: Else\nDate: 4 Jan 2024 10:00 +0000"),
    ]
    assert render(thread(messages, "REFERENCES")) == "(1 (2 3)(4)(7))((5)(6))(8)"


def test_references_survives_loops_and_self_references():
    messages = [
        sortable(1, "Message-ID: <a@x>\nReferences: <b@x> <a@x>\nSubject: x"),
        sortable(2, "Message-ID: <b@x>\nReferences: <a@x>\nSubject: y"),
    ]
    out = render(thread(messages, "REFERENCES"))
    assert sorted(out.replace("(", " ").replace(")", " ").split()) == ["1", "2"]


# -- the session -----------------------------------------------------------------------------------

@pytest.fixture
def session(tmp_path: Path) -> IMAPSession:
    store = MailStore(tmp_path / "mail", hostname="test")
    store.create_account("jane")
    for n, (subject, extra) in enumerate([("Plan", ""), ("Re: Plan", "In-Reply-To: <m1@x>\r\n"), ("Other", "")], 1):
        store.deliver("jane", f"Message-ID: <m{n}@x>\r\n{extra}Subject: {subject}\r\nFrom: u{4 - n}@x\r\n"
                              f"Date: {n} Jan 2024 10:00 +0000\r\n\r\nbody {'x' * n}\r\n".encode())
    s = IMAPSession(Mailboxes(store, lambda login, password: "jane"), "mail.test")
    s.receive_data(b"L LOGIN jane secret\r\nS SELECT INBOX\r\n")
    return s


def test_capability_names_sort_and_both_thread_algorithms():
    assert {"SORT", "THREAD=ORDEREDSUBJECT", "THREAD=REFERENCES"} <= set(CAPABILITIES)


def test_sort_and_uid_sort_answers(session):
    assert session.receive_data(b"a SORT (FROM) UTF-8 ALL\r\n") == b"* SORT 3 2 1\r\na OK SORT completed\r\n"
    assert session.receive_data(b"b SORT (REVERSE SIZE) US-ASCII NOT SUBJECT other\r\n") == (
        b"* SORT 2 1\r\nb OK SORT completed\r\n")
    assert session.receive_data(b"c STORE 1 +FLAGS (\\Deleted)\r\nd EXPUNGE\r\n").endswith(b"d OK EXPUNGE completed\r\n")
    assert session.receive_data(b"e UID SORT (SUBJECT) UTF-8 ALL\r\n") == b"* SORT 3 2\r\ne OK SORT completed\r\n"
    assert session.receive_data(b"f SORT (DATE) UTF-8 SUBJECT nothing\r\n") == b"* SORT\r\nf OK SORT completed\r\n"


def test_thread_and_uid_thread_answers(session):
    assert session.receive_data(b"a THREAD REFERENCES UTF-8 ALL\r\n") == (
        b"* THREAD (1 2)(3)\r\na OK THREAD completed\r\n")
    assert session.receive_data(b"b THREAD ORDEREDSUBJECT UTF-8 ALL\r\n") == (
        b"* THREAD (1 2)(3)\r\nb OK THREAD completed\r\n")
    session.receive_data(b"c STORE 1 +FLAGS (\\Deleted)\r\nd EXPUNGE\r\n")
    assert session.receive_data(b"e UID THREAD REFERENCES UTF-8 ALL\r\n") == (
        b"* THREAD (2)(3)\r\ne OK THREAD completed\r\n")
    assert session.receive_data(b"f THREAD REFERENCES UTF-8 SUBJECT nothing\r\n") == (
        b"* THREAD\r\nf OK THREAD completed\r\n")


@pytest.mark.parametrize("command, reply", [
    (b"SORT (DATE) KOI8-R ALL", b"t NO [BADCHARSET (US-ASCII UTF-8)]"),  # RFC 5256 section 3: NO, not BAD
    (b"THREAD REFERENCES KOI8-R ALL", b"t NO [BADCHARSET (US-ASCII UTF-8)]"),
    (b"SORT DATE UTF-8 ALL", b"t BAD"),
    (b"SORT (DATE)", b"t BAD"),
    (b"SORT (REVERSE) UTF-8 ALL", b"t BAD"),
    (b"SORT (COLOUR) UTF-8 ALL", b"t BAD"),
    (b"SORT (DATE) UTF-8 FROBNICATE", b"t BAD"),
    (b"THREAD WEAVE UTF-8 ALL", b"t BAD"),
    (b"THREAD REFERENCES UTF-8", b"t BAD"),
    (b"UID THREAD (REFERENCES) UTF-8 ALL", b"t BAD"),
])
def test_bad_sort_and_thread_get_the_proper_error_and_the_session_goes_on(session, command, reply):
    assert session.receive_data(b"t " + command + b"\r\n").startswith(reply)
    assert session.receive_data(b"z NOOP\r\n") == b"z OK NOOP completed\r\n"


# -- ESEARCH (RFC 4731), which shares the search engine ----------------------------------------------

def test_esearch_return_min_max_count_all(session):
    assert "ESEARCH" in CAPABILITIES
    assert session.receive_data(b"a SEARCH RETURN (MIN MAX COUNT) ALL\r\n") == (
        b'* ESEARCH (TAG "a") MIN 1 MAX 3 COUNT 3\r\na OK SEARCH completed\r\n')
    assert session.receive_data(b"b UID SEARCH RETURN () SUBJECT plan\r\n") == (
        b'* ESEARCH (TAG "b") UID ALL 1:2\r\nb OK SEARCH completed\r\n')  # RETURN () is RETURN (ALL)
    assert session.receive_data(b"c SEARCH RETURN (MIN COUNT) SUBJECT nothing\r\n") == (
        b'* ESEARCH (TAG "c") COUNT 0\r\nc OK SEARCH completed\r\n')  # no MIN when nothing matched
    assert session.receive_data(b"d SEARCH RETURN (SAVE) ALL\r\n").startswith(b"d BAD")  # SEARCHRES: not offered
    assert session.receive_data(b"e SEARCH SUBJECT plan\r\n") == b"* SEARCH 1 2\r\ne OK SEARCH completed\r\n"
