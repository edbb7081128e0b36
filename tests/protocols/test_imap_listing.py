"""LIST-EXTENDED (RFC 5258) and LIST-STATUS (RFC 5819), as transcripts: what the client sends, what it gets."""
from __future__ import annotations

from pathlib import Path

import pytest

from mailcourse.protocols.imap.session import CAPABILITIES, IMAPSession
from mailcourse.servers.imap import Mailboxes
from mailcourse.store import MailStore


@pytest.fixture
def session(tmp_path: Path) -> IMAPSession:
    store = MailStore(tmp_path / "mail", hostname="test")
    store.create_account("jane")
    s = IMAPSession(Mailboxes(store, lambda login, password: "jane"), "mail.test")
    s.receive_data(b"L LOGIN jane secret\r\n")  # makes Drafts, Sent, Trash, subscribed
    s.receive_data(b"a CREATE Work\r\nb CREATE Work.2024\r\nc CREATE Gone\r\nd SUBSCRIBE Gone\r\ne DELETE Gone\r\n"
                   b"f SUBSCRIBE Work.2024\r\n")
    store.deliver("jane", b"Subject: one\r\n\r\nx\r\n")
    store.deliver("jane", b"Subject: two\r\n\r\nx\r\n", flags={"\\Seen"})
    return s


def lines(out: bytes) -> list[bytes]:
    return out.split(b"\r\n")[:-1]


def test_capability_names_both():
    assert {"LIST-EXTENDED", "LIST-STATUS"} <= set(CAPABILITIES)


def test_subscribed_selection_shows_nonexistent_and_implies_return_subscribed(session):
    assert lines(session.receive_data(b't LIST (SUBSCRIBED) "" *\r\n')) == [
        b'* LIST (\\HasNoChildren \\Subscribed \\Drafts) "." Drafts',
        b'* LIST (\\NonExistent \\HasNoChildren \\Subscribed) "." Gone',  # RFC 5258 section 3.4
        b'* LIST (\\HasNoChildren \\Subscribed \\Sent) "." Sent',
        b'* LIST (\\HasNoChildren \\Subscribed \\Trash) "." Trash',
        b'* LIST (\\HasNoChildren \\Subscribed) "." Work.2024',
        b"t OK LIST completed"]


def test_recursivematch_lists_parents_with_childinfo(session):
    # RFC 5258 section 3.5: Work is not subscribed, but something below it is.
    assert lines(session.receive_data(b't LIST (SUBSCRIBED RECURSIVEMATCH) "" W%\r\n')) == [
        b'* LIST (\\HasChildren) "." Work ("CHILDINFO" ("SUBSCRIBED"))', b"t OK LIST completed"]
    assert session.receive_data(b't LIST (RECURSIVEMATCH) "" *\r\n').startswith(b"t BAD")


def test_several_patterns_return_subscribed_and_special_use_selection(session):
    assert lines(session.receive_data(b't LIST "" (INBOX Work.*) RETURN (SUBSCRIBED CHILDREN)\r\n')) == [
        b'* LIST (\\HasNoChildren) "." INBOX',
        b'* LIST (\\HasNoChildren \\Subscribed) "." Work.2024',
        b"t OK LIST completed"]
    assert lines(session.receive_data(b't LIST (SPECIAL-USE) "" * RETURN (SPECIAL-USE)\r\n')) == [
        b'* LIST (\\HasNoChildren \\Drafts) "." Drafts', b'* LIST (\\HasNoChildren \\Sent) "." Sent',
        b'* LIST (\\HasNoChildren \\Trash) "." Trash', b"t OK LIST completed"]


def test_list_status_gives_every_folders_counts_in_one_command(session):
    assert lines(session.receive_data(b't LIST "" % RETURN (STATUS (MESSAGES UNSEEN))\r\n')) == [
        b'* LIST (\\HasNoChildren) "." INBOX', b"* STATUS INBOX (MESSAGES 2 UNSEEN 1)",
        b'* LIST (\\HasNoChildren \\Drafts) "." Drafts', b"* STATUS Drafts (MESSAGES 0 UNSEEN 0)",
        b'* LIST (\\HasNoChildren \\Sent) "." Sent', b"* STATUS Sent (MESSAGES 0 UNSEEN 0)",
        b'* LIST (\\HasNoChildren \\Trash) "." Trash', b"* STATUS Trash (MESSAGES 0 UNSEEN 0)",
        b'* LIST (\\HasChildren) "." Work', b"* STATUS Work (MESSAGES 0 UNSEEN 0)",
        b"t OK LIST completed"]
    # No STATUS for a name that cannot be selected (RFC 5819 section 2).
    assert b"STATUS Gone" not in session.receive_data(b't LIST (SUBSCRIBED) "" * RETURN (STATUS (MESSAGES))\r\n')


@pytest.mark.parametrize("command", [
    b'LIST (NOSUCH) "" *', b'LIST "" * RETURN (NOSUCH)', b'LIST "" * RETURN (STATUS)',
    b'LIST "" * RETURN (STATUS (NOSUCH))', b'LIST "" * RETURN', b'LIST "" ()', b"LIST ()",
])
def test_bad_extended_lists_are_bad_and_the_session_goes_on(session, command):
    assert session.receive_data(b"t " + command + b"\r\n").startswith(b"t BAD")
    assert session.receive_data(b"z NOOP\r\n") == b"z OK NOOP completed\r\n"
