"""The IMAP session without a network: bytes in, exact bytes out, as in the RFC's examples.

A `MailStore` in a temporary folder is the mail; `Mailboxes` (the server's
own backend) puts the session on it. Each test reads as a transcript: what
the client sends, what the server must answer.
"""
from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from mailcourse.protocols.imap.session import (
    CAPABILITIES,
    COMMANDS,
    IMAPSession,
    State,
    uid_set,
)
from mailcourse.servers.imap import Mailboxes
from mailcourse.store import INBOX, MailStore

CAPS = " ".join(CAPABILITIES)


def message(n: int | str, body: str = "Hello.") -> bytes:
    return f"From: joe@someplace.org\r\nTo: jane@somewhereelse.com\r\nSubject: {n}\r\n\r\n{body}\r\n".encode()


@pytest.fixture
def store(tmp_path: Path) -> MailStore:
    s = MailStore(tmp_path / "mail", hostname="test")
    s.create_account("jane")
    return s


@pytest.fixture
def backend(store: MailStore) -> Mailboxes:
    return Mailboxes(store, lambda login, password: "jane" if (login, password) == ("jane", "secret") else None)


def new_session(backend: Mailboxes, login: bool = True, select: str | None = None) -> IMAPSession:
    session = IMAPSession(backend, "mail.test")
    if login:
        assert session.receive_data(b"L LOGIN jane secret\r\n").startswith(b"L OK")
    if select:
        assert b"S OK" in session.receive_data(f"S SELECT {select}\r\n".encode())
    return session


def lines(out: bytes) -> list[bytes]:
    return out.split(b"\r\n")[:-1]


def test_greeting_and_capability_are_the_same_before_and_after_login(backend):
    session = IMAPSession(backend, "mail.test")
    assert session.greeting == f"* OK [CAPABILITY {CAPS}] mail.test IMAP4rev1 ready\r\n".encode()
    before = session.receive_data(b"c1 CAPABILITY\r\n")
    assert before == f"* CAPABILITY {CAPS}\r\nc1 OK CAPABILITY completed\r\n".encode()
    assert "LOGINDISABLED" not in CAPS and "IMAP4rev1" in CAPS
    assert session.receive_data(b"a LOGIN jane secret\r\n") == f"a OK [CAPABILITY {CAPS}] LOGIN completed\r\n".encode()
    assert session.receive_data(b"c2 CAPABILITY\r\n") == before.replace(b"c1", b"c2")


def test_wrong_password_and_commands_in_the_wrong_state(backend):
    session = IMAPSession(backend, "mail.test")
    assert session.receive_data(b"a SELECT INBOX\r\n") == b"a BAD SELECT is not valid in the not authenticated state\r\n"
    assert session.receive_data(b"b LOGIN jane wrong\r\n") == b"b NO [AUTHENTICATIONFAILED] Invalid login or password\r\n"
    assert session.state is State.NOT_AUTHENTICATED
    assert session.receive_data(b"c FROB\r\n") == b"c BAD Unknown command FROB\r\n"
    assert session.receive_data(b"d LOGIN jane secret\r\n").startswith(b"d OK")
    assert session.receive_data(b"e FETCH 1 FLAGS\r\n") == b"e BAD FETCH is not valid in the authenticated state\r\n"
    assert session.receive_data(b"f LOGIN jane secret\r\n") == b"f BAD LOGIN is not valid in the authenticated state\r\n"


def test_state_table_names_every_command_method():
    for name in COMMANDS:
        assert hasattr(IMAPSession, f"cmd_{name}"), name


def test_authenticate_plain_with_initial_response_and_with_continuation(backend):
    blob = base64.b64encode(b"\0jane\0secret")
    session = IMAPSession(backend, "mail.test")
    assert session.receive_data(b"a AUTHENTICATE PLAIN " + blob + b"\r\n").startswith(b"a OK [CAPABILITY")
    session = IMAPSession(backend, "mail.test")
    assert session.receive_data(b"a AUTHENTICATE PLAIN\r\n") == b"+ \r\n"
    assert session.receive_data(blob + b"\r\nb NOOP\r\n") == (
        f"a OK [CAPABILITY {CAPS}] AUTHENTICATE completed\r\nb OK NOOP completed\r\n".encode())
    # "*" cancels; someone else's authzid is refused; garbage is BAD.
    session = IMAPSession(backend, "mail.test")
    assert session.receive_data(b"a AUTHENTICATE PLAIN\r\n*\r\n") == b"+ \r\na BAD Authentication cancelled\r\n"
    other = base64.b64encode(b"joe\0jane\0secret")
    assert session.receive_data(b"b AUTHENTICATE PLAIN " + other + b"\r\n").startswith(b"b NO [AUTHORIZATIONFAILED]")
    assert session.receive_data(b"c AUTHENTICATE PLAIN !!!\r\n").startswith(b"c BAD")
    assert session.receive_data(b"d AUTHENTICATE CRAM-MD5\r\n").startswith(b"d NO")
    same = base64.b64encode(b"jane\0jane\0secret")
    assert session.receive_data(b"e AUTHENTICATE PLAIN " + same + b"\r\n").startswith(b"e OK")


def test_select_tells_what_is_in_the_mailbox(backend, store):
    store.deliver("jane", message(1), flags={"\\Seen"})
    store.deliver("jane", message(2))
    session = new_session(backend)
    out = session.receive_data(b"s SELECT inbox\r\n")
    validity = store.uidvalidity("jane")
    assert lines(out) == [
        b"* FLAGS (\\Answered \\Deleted \\Draft \\Flagged \\Seen)",
        b"* OK [PERMANENTFLAGS (\\* \\Answered \\Deleted \\Draft \\Flagged \\Seen)] Flags permitted",
        b"* 2 EXISTS",
        b"* 2 RECENT",
        b"* OK [UNSEEN 2] Message 2 is the first unseen",
        b"* OK [UIDVALIDITY %d] UIDs valid" % validity,
        b"* OK [UIDNEXT 3] Predicted next UID",
        b"s OK [READ-WRITE] SELECT completed",
    ]
    # \Recent belongs to the first session: the second one sees none.
    other = new_session(backend)
    out = other.receive_data(b"x EXAMINE INBOX\r\n")
    assert b"* 0 RECENT\r\n" in out and b"* OK [PERMANENTFLAGS ()]" in out
    assert out.endswith(b"x OK [READ-ONLY] EXAMINE completed\r\n")
    assert new_session(backend).receive_data(b"y SELECT Nope\r\n") == b"y NO [NONEXISTENT] No such mailbox: Nope\r\n"


def test_fetch_body_sets_seen_and_says_so_but_peek_and_examine_do_not(backend, store):
    raw = message(1)
    store.deliver("jane", raw)
    store.deliver("jane", message(2))
    session = new_session(backend, select="INBOX")
    literal = b"{%d}\r\n" % len(raw) + raw
    assert session.receive_data(b"f1 FETCH 1 BODY.PEEK[]\r\n") == b"* 1 FETCH (BODY[] " + literal + b")\r\nf1 OK FETCH completed\r\n"
    assert store.list("jane")[0].flags == frozenset()
    assert session.receive_data(b"f2 FETCH 1 BODY[]\r\n") == (
        b"* 1 FETCH (BODY[] " + literal + b" FLAGS (\\Recent \\Seen))\r\nf2 OK FETCH completed\r\n")
    assert store.list("jane")[0].flags == {"\\Seen"}
    assert session.receive_data(b"f3 UID FETCH 2 (FLAGS)\r\n") == b"* 2 FETCH (UID 2 FLAGS (\\Recent))\r\nf3 OK FETCH completed\r\n"
    examiner = new_session(backend, select=None)
    examiner.receive_data(b"e EXAMINE INBOX\r\n")
    out = examiner.receive_data(b"f4 FETCH 2 (BODY[TEXT] RFC822.SIZE)\r\n")
    assert out == b"* 2 FETCH (BODY[TEXT] {8}\r\nHello.\r\n RFC822.SIZE %d)\r\nf4 OK FETCH completed\r\n" % len(message(2))
    assert store.list("jane")[1].flags == frozenset()
    assert session.receive_data(b"f5 FETCH 3 FLAGS\r\n").startswith(b"f5 BAD")
    assert session.receive_data(b"f6 FETCH 1 (FLAGS BOGUS)\r\n").startswith(b"f6 BAD")


def test_store_flags_silent_and_uid_store(backend, store):
    for i in range(3):
        store.deliver("jane", message(i))
    session = new_session(backend, select="INBOX")
    assert session.receive_data(b"a STORE 1:2 +FLAGS (\\Flagged $Work)\r\n") == (
        b"* 1 FETCH (FLAGS (\\Flagged \\Recent $Work))\r\n* 2 FETCH (FLAGS (\\Flagged \\Recent $Work))\r\n"
        # A new keyword: FLAGS again, so that the client knows it (RFC 3501 section 7.2.6).
        b"* FLAGS (\\Answered \\Deleted \\Draft \\Flagged \\Seen $Work)\r\n"
        b"a OK STORE completed\r\n")
    assert session.receive_data(b"b STORE 1 -FLAGS.SILENT \\Flagged\r\n") == b"b OK STORE completed\r\n"
    assert session.receive_data(b"c UID STORE 3 FLAGS (\\Seen \\Deleted)\r\n") == (
        b"* 3 FETCH (UID 3 FLAGS (\\Deleted \\Recent \\Seen))\r\nc OK STORE completed\r\n")
    assert [m.flags for m in store.list("jane")] == [{"$Work"}, {"\\Flagged", "$Work"}, {"\\Seen", "\\Deleted"}]
    assert session.receive_data(b"d STORE 1 +FLAGS (\\Bogus)\r\n").startswith(b"d BAD")
    assert session.receive_data(b"e STORE 1 PLUSFLAGS (\\Seen)\r\n").startswith(b"e BAD")
    # Keywords survive a restart (they are letters in the file name, see mailcourse-keywords).
    assert MailStore(store.root).list("jane")[0].flags == {"$Work"}


def test_expunge_and_uid_expunge(backend, store):
    for i in range(5):
        store.deliver("jane", message(i), flags={"\\Deleted"} if i in (1, 2, 4) else set())
    session = new_session(backend, select="INBOX")
    assert session.receive_data(b"a UID EXPUNGE 3:5\r\n") == b"* 5 EXPUNGE\r\n* 3 EXPUNGE\r\na OK EXPUNGE completed\r\n"
    assert [m.uid for m in store.list("jane")] == [1, 2, 4]
    assert session.receive_data(b"b EXPUNGE\r\n") == b"* 2 EXPUNGE\r\nb OK EXPUNGE completed\r\n"
    assert session.receive_data(b"c UID FETCH 1:* UID\r\n") == b"* 1 FETCH (UID 1)\r\n* 2 FETCH (UID 4)\r\nc OK FETCH completed\r\n"
    assert session.receive_data(b"d FETCH 2 UID\r\n") == b"* 2 FETCH (UID 4)\r\nd OK FETCH completed\r\n"


def test_close_expunges_silently_unselect_does_not(backend, store):
    store.deliver("jane", message(1), flags={"\\Deleted"})
    store.deliver("jane", message(2), flags={"\\Deleted"})
    session = new_session(backend, select="INBOX")
    assert session.receive_data(b"u UNSELECT\r\n") == b"u OK UNSELECT completed\r\n"
    assert len(store.list("jane")) == 2
    session.receive_data(b"e EXAMINE INBOX\r\n")
    assert session.receive_data(b"c CLOSE\r\n") == b"c OK CLOSE completed\r\n"  # read-only: nothing removed
    assert len(store.list("jane")) == 2
    session.receive_data(b"s SELECT INBOX\r\n")
    assert session.receive_data(b"c CLOSE\r\n") == b"c OK CLOSE completed\r\n"
    assert store.list("jane") == [] and session.state is State.AUTHENTICATED


def test_search_by_flag_header_and_uid(backend, store):
    store.deliver("jane", message("lunch"), flags={"\\Seen"})
    store.deliver("jane", message("dinner"))
    store.deliver("jane", message("lunch again", body="Pizza"))
    session = new_session(backend, select="INBOX")
    assert session.receive_data(b"a SEARCH UNSEEN\r\n") == b"* SEARCH 2 3\r\na OK SEARCH completed\r\n"
    assert session.receive_data(b"b UID SEARCH SUBJECT lunch\r\n") == b"* SEARCH 1 3\r\nb OK SEARCH completed\r\n"
    assert session.receive_data(b"c SEARCH CHARSET UTF-8 BODY pizza NOT SEEN\r\n") == b"* SEARCH 3\r\nc OK SEARCH completed\r\n"
    assert session.receive_data(b"d SEARCH DELETED\r\n") == b"* SEARCH\r\nd OK SEARCH completed\r\n"
    assert session.receive_data(b"e SEARCH FROBNICATED\r\n").startswith(b"e BAD")


def test_two_sessions_see_each_others_changes_and_expunge_waits_for_a_fit_moment(backend, store):
    for i in range(3):
        store.deliver("jane", message(i))
    a = new_session(backend, select="INBOX")
    b = new_session(backend, select="INBOX")
    a.receive_data(b"1 STORE 2 +FLAGS.SILENT (\\Deleted)\r\n")
    assert b.receive_data(b"2 NOOP\r\n") == b"* 2 FETCH (FLAGS (\\Deleted))\r\n2 OK NOOP completed\r\n"
    a.receive_data(b"3 EXPUNGE\r\n")
    store.deliver("jane", message("new"))
    # During FETCH no EXPUNGE (RFC 3501 section 7.4.1); the new message is announced already.
    assert b.receive_data(b"4 FETCH 1 FLAGS\r\n") == (
        b"* 1 FETCH (FLAGS ())\r\n* 4 EXISTS\r\n* 1 RECENT\r\n4 OK FETCH completed\r\n")
    # The ghost can still be named; its body is gone.
    assert b.receive_data(b"5 FETCH 2 BODY.PEEK[]\r\n") == b"5 NO [EXPUNGEISSUED] 1 of the messages have been expunged meanwhile\r\n"
    assert b.receive_data(b"6 NOOP\r\n") == b"* 2 EXPUNGE\r\n6 OK NOOP completed\r\n"
    assert b.receive_data(b"7 UID SEARCH ALL\r\n") == b"* SEARCH 1 3 4\r\n7 OK SEARCH completed\r\n"
    # The new message is \Recent for b, which noticed it first; a keeps its own two.
    assert a.receive_data(b"8 NOOP\r\n") == b"* 3 EXISTS\r\n* 2 RECENT\r\n8 OK NOOP completed\r\n"


def test_idle_pushes_news_and_done_ends_it(backend, store):
    session = new_session(backend, select="INBOX")
    assert session.receive_data(b"i IDLE\r\n") == b"+ idling\r\n"
    assert session.updates() == b""
    store.deliver("jane", message(1))
    assert session.updates() == b"* 1 EXISTS\r\n* 1 RECENT\r\n"
    assert session.updates() == b""
    # Commands pipelined after DONE are answered after IDLE's tagged OK.
    assert session.receive_data(b"DONE\r\nn NOOP\r\n") == b"i OK IDLE terminated\r\nn OK NOOP completed\r\n"
    assert session.updates() == b""  # not idling any more
    session.receive_data(b"j IDLE\r\n")
    assert session.receive_data(b"NOT DONE\r\n") == b"j BAD Expected DONE\r\n"


def test_pipelined_commands_are_answered_in_order(backend, store):
    store.deliver("jane", message(1))
    session = new_session(backend)
    out = session.receive_data(b"a SELECT INBOX\r\nb STORE 1 +FLAGS (\\Seen)\r\nc CHECK\r\n"
                               b"d APPEND INBOX {%d+}\r\n%s\r\ne NOOP\r\n" % (len(message(2)), message(2)))
    tags = [line.split(b" ")[0] for line in lines(out) if not line.startswith(b"*")]
    assert tags == [b"a", b"b", b"c", b"d", b"e"]
    assert b"* 2 EXISTS" in out


def test_append_with_flags_date_and_a_synchronizing_literal(backend, store):
    session = new_session(backend)
    raw = message("appended")
    assert session.receive_data(b'a APPEND Drafts (\\Draft \\Seen) " 7-Jul-2020 10:00:00 +0200" {%d}\r\n' % len(raw)) == (
        b"+ Ready for literal data\r\n")
    out = session.receive_data(raw + b"\r\n")
    validity = store.uidvalidity("jane", "Drafts")
    assert out == b"a OK [APPENDUID %d 1] APPEND completed\r\n" % validity
    [info] = store.list("jane", "Drafts")
    assert info.flags == {"\\Draft", "\\Seen"} and store.get("jane", 1, "Drafts") == raw
    assert info.internaldate == 1594108800.0  # 2020-07-07 08:00:00 UTC
    assert session.receive_data(b"b APPEND Nowhere {1+}\r\nx\r\n") == b"b NO [TRYCREATE] No such mailbox: Nowhere\r\n"
    assert session.receive_data(b'c APPEND INBOX "31-Foo-2020 10:00:00 +0000" {1+}\r\nx\r\n').startswith(b"c BAD")


def test_copy_and_move_report_copyuid(backend, store):
    for i in range(3):
        store.deliver("jane", message(i), flags={"\\Flagged"} if i == 0 else set())
    session = new_session(backend, select="INBOX")
    trash = store.uidvalidity("jane", "Trash")
    assert session.receive_data(b"c COPY 1:2 Trash\r\n") == b"c OK [COPYUID %d 1:2 1:2] COPY completed\r\n" % trash
    assert [m.flags for m in store.list("jane", "Trash")] == [{"\\Flagged"}, set()]
    assert session.receive_data(b"m UID MOVE 1,3 Trash\r\n") == (
        b"* OK [COPYUID %d 1,3 3:4] Moved\r\n* 3 EXPUNGE\r\n* 1 EXPUNGE\r\nm OK MOVE completed\r\n" % trash)
    assert [m.uid for m in store.list("jane")] == [2]
    assert session.receive_data(b"x COPY 1 Nowhere\r\n") == b"x NO [TRYCREATE] No such mailbox: Nowhere\r\n"


def test_list_lsub_and_special_use(backend, store):
    session = new_session(backend)
    assert session.receive_data(b'a LIST "" ""\r\n') == b'* LIST (\\Noselect) "." ""\r\na OK LIST completed\r\n'
    session.receive_data(b"b CREATE Work.2024\r\nc CREATE Archive.\r\n")
    assert lines(session.receive_data(b'd LIST "" *\r\n')) == [
        b'* LIST (\\HasNoChildren) "." INBOX',
        b'* LIST (\\HasNoChildren) "." Archive',
        b'* LIST (\\HasNoChildren \\Drafts) "." Drafts',
        b'* LIST (\\HasNoChildren \\Sent) "." Sent',
        b'* LIST (\\HasNoChildren \\Trash) "." Trash',
        b'* LIST (\\Noselect \\HasChildren) "." Work',  # Maildir++ keeps Work.2024 without a Work
        b'* LIST (\\HasNoChildren) "." Work.2024',
        b"d OK LIST completed",
    ]
    assert lines(session.receive_data(b'e LIST Work. %\r\n')) == [b'* LIST (\\HasNoChildren) "." Work.2024', b"e OK LIST completed"]
    assert lines(session.receive_data(b'f LIST "" inbox\r\n')) == [b'* LIST (\\HasNoChildren) "." INBOX', b"f OK LIST completed"]
    session.receive_data(b"g SUBSCRIBE Archive\r\nh SUBSCRIBE Gone\r\n")
    assert lines(session.receive_data(b'i LSUB "" *\r\n')) == [
        b'* LSUB () "." Archive', b'* LSUB () "." Drafts', b'* LSUB (\\Noselect) "." Gone', b'* LSUB () "." Sent',
        b'* LSUB () "." Trash', b"i OK LSUB completed"]
    assert session.receive_data(b"j UNSUBSCRIBE Gone\r\n") == b"j OK UNSUBSCRIBE completed\r\n"
    assert "Gone" not in store.subscriptions("jane")


def test_create_delete_rename(backend, store):
    session = new_session(backend)
    assert session.receive_data(b"a CREATE Projects\r\n") == b"a OK CREATE completed\r\n"
    assert session.receive_data(b"b CREATE Projects\r\n").startswith(b"b NO [ALREADYEXISTS]")
    assert session.receive_data(b"c CREATE INBOX\r\n").startswith(b"c NO [ALREADYEXISTS]")
    session.receive_data(b"d CREATE Projects.Old\r\n")
    store.deliver("jane", message(1), folder="Projects.Old")
    assert session.receive_data(b"e RENAME Projects Done\r\n") == b"e OK RENAME completed\r\n"
    assert store.folders("jane") == [INBOX, "Done", "Done.Old", "Drafts", "Sent", "Trash"]
    assert len(store.list("jane", "Done.Old")) == 1
    assert session.receive_data(b"f DELETE Done\r\n").startswith(b"f NO [CANNOT]")  # it has a folder inside
    assert session.receive_data(b"g DELETE Done.Old\r\nh DELETE Done\r\n") == b"g OK DELETE completed\r\nh OK DELETE completed\r\n"
    assert session.receive_data(b"i DELETE INBOX\r\n").startswith(b"i NO")
    assert session.receive_data(b"j DELETE Done\r\n").startswith(b"j NO [NONEXISTENT]")
    # RENAME INBOX moves its messages into the new folder and leaves INBOX empty (RFC 3501 section 6.3.5).
    store.deliver("jane", message(2), flags={"\\Seen"})
    assert session.receive_data(b"k RENAME INBOX Old-Inbox\r\n") == b"k OK RENAME completed\r\n"
    assert store.list("jane") == [] and [m.flags for m in store.list("jane", "Old-Inbox")] == [{"\\Seen"}]


@pytest.mark.parametrize("name", [b"../jane", b"..", b"a/../../b", b"/etc", b'"a\\\\b"', b"a..b", b".hidden",
                                  b"Trash/../../x", b"x" * 300, b'"~/x"', b"{3+}\r\na\x00b"])
def test_names_that_would_leave_the_account_are_refused(backend, store, name):
    session = new_session(backend)
    before = sorted(p.relative_to(store.root) for p in store.root.rglob("*"))
    for command in (b"CREATE " + name, b"RENAME Trash " + name, b"SELECT " + name, b"APPEND " + name + b" {1+}\r\nx",
                    b"SUBSCRIBE " + name):
        out = session.receive_data(b"t " + command + b"\r\n")
        assert re.match(rb"t (NO|BAD) ", out), (command, out)
    assert sorted(p.relative_to(store.root) for p in store.root.rglob("*")) == before
    assert session.receive_data(b"z NOOP\r\n") == b"z OK NOOP completed\r\n"


def test_status_namespace_enable_id_logout(backend, store):
    store.deliver("jane", message(1))
    store.deliver("jane", message(2), flags={"\\Seen"})
    session = new_session(backend)
    validity = store.uidvalidity("jane")
    assert session.receive_data(b"a STATUS INBOX (MESSAGES UNSEEN UIDNEXT UIDVALIDITY RECENT)\r\n") == (
        b"* STATUS INBOX (MESSAGES 2 UNSEEN 1 UIDNEXT 3 UIDVALIDITY %d RECENT 2)\r\na OK STATUS completed\r\n" % validity)
    assert session.receive_data(b"b STATUS INBOX (BOGUS)\r\n").startswith(b"b BAD")
    assert session.receive_data(b"c NAMESPACE\r\n") == b'* NAMESPACE (("" ".")) NIL NIL\r\nc OK NAMESPACE completed\r\n'
    assert session.receive_data(b"d ENABLE CONDSTORE\r\n") == b"* ENABLED\r\nd OK ENABLE completed\r\n"
    assert session.receive_data(b'e ID ("name" "mutt")\r\n') == b'* ID ("name" "mailcourse")\r\ne OK ID completed\r\n'
    assert session.receive_data(b"f LOGOUT\r\ng NOOP\r\n") == (
        b"* BYE mail.test IMAP4rev1 server logging out\r\nf OK LOGOUT completed\r\n")
    assert session.ended and session.state is State.LOGOUT


def test_uid_set_is_compact():
    assert uid_set([1, 2, 3, 5, 7, 8]) == "1:3,5,7:8"
    assert uid_set([4]) == "4"
