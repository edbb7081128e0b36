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
        b"* OK [HIGHESTMODSEQ 2] Highest",  # RFC 7162 section 3.1.2.1: always, mod-sequences are kept on disk
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
    # SUBSCRIBE to a missing name is refused (RFC 3501 section 6.3.6 allows it; Dovecot does, clients expect it),
    # but a subscribed folder deleted afterwards stays subscribed, shown as \Noselect.
    assert session.receive_data(b"g0 SUBSCRIBE Gone\r\n") == b"g0 NO [NONEXISTENT] No such mailbox: Gone\r\n"
    session.receive_data(b"g1 CREATE Gone\r\ng SUBSCRIBE Archive\r\nh SUBSCRIBE Gone\r\ng2 DELETE Gone\r\n")
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


@pytest.mark.parametrize("name", [b"../jane", b"..", b"a/../../b", b"a..b", b".hidden",
                                  b"Trash/../../x", b"x" * 300, b"{3+}\r\na\x00b"])
def test_names_that_would_leave_the_account_are_refused(backend, store, name):
    session = new_session(backend)
    before = sorted(p.relative_to(store.root) for p in store.root.rglob("*"))
    for command in (b"CREATE " + name, b"RENAME Trash " + name, b"SELECT " + name, b"APPEND " + name + b" {1+}\r\nx",
                    b"SUBSCRIBE " + name):
        out = session.receive_data(b"t " + command + b"\r\n")
        assert re.match(rb"t (NO|BAD) ", out), (command, out)
    assert sorted(p.relative_to(store.root) for p in store.root.rglob("*")) == before
    assert session.receive_data(b"z NOOP\r\n") == b"z OK NOOP completed\r\n"


@pytest.mark.parametrize("name, shown", [(b'"foo\\\\bar"', b'"foo\\\\bar"'), (b"/etc", b"/etc"),
                                         (b'"~/x"', b"~/x"), (b'"50% off"', b'"50% off"')])
def test_every_name_rfc_3501_allows_is_a_folder_and_stays_in_the_account(backend, store, name, shown):
    session = new_session(backend)
    assert session.receive_data(b"a CREATE " + name + b"\r\n") == b"a OK CREATE completed\r\n"
    assert b'* LIST (\\HasNoChildren) "." ' + shown + b"\r\n" in session.receive_data(b'b LIST "" *\r\n')
    assert b"c OK [READ-WRITE]" in session.receive_data(b"c SELECT " + name + b"\r\n")
    assert session.receive_data(b"d SUBSCRIBE " + name + b"\r\n") == b"d OK SUBSCRIBE completed\r\n"
    assert all(p.relative_to(store.root).parts[0] == "jane" for p in store.root.rglob("*"))


def test_status_namespace_enable_id_logout(backend, store):
    store.deliver("jane", message(1))
    store.deliver("jane", message(2), flags={"\\Seen"})
    session = new_session(backend)
    validity = store.uidvalidity("jane")
    assert session.receive_data(b"a STATUS INBOX (MESSAGES UNSEEN UIDNEXT UIDVALIDITY RECENT)\r\n") == (
        b"* STATUS INBOX (MESSAGES 2 UNSEEN 1 UIDNEXT 3 UIDVALIDITY %d RECENT 2)\r\na OK STATUS completed\r\n" % validity)
    assert session.receive_data(b"b STATUS INBOX (BOGUS)\r\n").startswith(b"b BAD")
    assert session.receive_data(b"c NAMESPACE\r\n") == b'* NAMESPACE (("" ".")) NIL NIL\r\nc OK NAMESPACE completed\r\n'
    # RFC 5161: ENABLED names what this command switched on; a second time, nothing; unknown names are ignored.
    assert session.receive_data(b"d ENABLE CONDSTORE X-UNKNOWN\r\n") == b"* ENABLED CONDSTORE\r\nd OK ENABLE completed\r\n"
    assert session.receive_data(b"d2 ENABLE CONDSTORE\r\n") == b"* ENABLED\r\nd2 OK ENABLE completed\r\n"
    assert session.receive_data(b'e ID ("name" "mutt")\r\n') == b'* ID ("name" "mailcourse")\r\ne OK ID completed\r\n'
    assert session.receive_data(b"f LOGOUT\r\ng NOOP\r\n") == (
        b"* BYE mail.test IMAP4rev1 server logging out\r\nf OK LOGOUT completed\r\n")
    assert session.ended and session.state is State.LOGOUT


def test_uid_set_is_compact():
    assert uid_set([1, 2, 3, 5, 7, 8]) == "1:3,5,7:8"
    assert uid_set([4]) == "4"


# -- CONDSTORE (RFC 7162): mod-sequences, transcript by transcript -----------------------------

def test_condstore_is_advertised_and_select_and_examine_tell_highestmodseq(backend, store):
    assert "CONDSTORE" in CAPABILITIES  # so also in the greeting, CAPABILITY and the LOGIN reply
    for i in range(3):
        store.deliver("jane", message(i))  # mod-sequences 1, 2, 3
    session = new_session(backend)
    out = lines(session.receive_data(b"s SELECT INBOX (CONDSTORE)\r\n"))
    assert out[-2:] == [b"* OK [HIGHESTMODSEQ 3] Highest", b"s OK [READ-WRITE] SELECT completed"]
    assert session.condstore  # SELECT ... (CONDSTORE) is a CONDSTORE-enabling command (section 3.1)
    out = lines(session.receive_data(b"e EXAMINE INBOX\r\n"))
    assert out[-2:] == [b"* OK [HIGHESTMODSEQ 3] Highest", b"e OK [READ-ONLY] EXAMINE completed"]
    assert session.receive_data(b"x SELECT INBOX (QRESYNC (1 2))\r\n") == (
        b"x BAD Unknown SELECT parameter (only CONDSTORE)\r\n")
    # Without a CONDSTORE-enabling command, a session is not enabled.
    assert not new_session(backend, select="INBOX").condstore


def test_status_highestmodseq_grows_with_every_change_expunge_included(backend, store):
    uids = [store.deliver("jane", message(i)) for i in range(2)]
    session = new_session(backend)

    def highest() -> int:
        out = session.receive_data(b"t STATUS INBOX (MESSAGES HIGHESTMODSEQ)\r\n")
        return int(re.search(rb"HIGHESTMODSEQ (\d+)\)", out).group(1))

    seen = [highest()]
    store.set_flags("jane", uids[0], {"\\Seen"})
    seen.append(highest())
    store.set_flags("jane", uids[0], {"\\Seen"})  # no change, no new mod-sequence
    seen.append(highest())
    store.set_flags("jane", uids[0], {"$Forwarded", "\\Seen"})  # a keyword is a change too
    seen.append(highest())
    store.delete("jane", uids[1])  # an expunge
    seen.append(highest())
    assert seen == [2, 3, 3, 4, 5]
    assert session.condstore  # STATUS (HIGHESTMODSEQ) enables CONDSTORE too


def test_fetch_modseq_and_changedsince_rfc7162_section_3_1_4(backend, store):
    for i in range(4):
        store.deliver("jane", message(i))  # UIDs 1-4, mod-sequences 1-4
    store.set_flags("jane", 2, {"\\Seen"})  # mod-sequence 5
    store.set_flags("jane", 4, {"\\Flagged"})  # mod-sequence 6
    new_session(backend, select="INBOX")  # takes \Recent, which would only clutter the transcript
    session = new_session(backend, select="INBOX")
    # "C: s100 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)": only what changed after 4, with MODSEQ.
    assert session.receive_data(b"s100 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 4)\r\n") == (
        b"* 2 FETCH (UID 2 FLAGS (\\Seen) MODSEQ (5))\r\n"
        b"* 4 FETCH (UID 4 FLAGS (\\Flagged) MODSEQ (6))\r\n"
        b"s100 OK FETCH completed\r\n")
    assert session.receive_data(b"a FETCH 1:4 (FLAGS) (CHANGEDSINCE 6)\r\n") == b"a OK FETCH completed\r\n"
    assert session.receive_data(b"b FETCH 1,3 (MODSEQ)\r\n") == (
        b"* 1 FETCH (MODSEQ (1))\r\n* 3 FETCH (MODSEQ (3))\r\nb OK FETCH completed\r\n")
    assert session.receive_data(b"c FETCH 1 (FLAGS) (CHANGEDSINCE x)\r\n").startswith(b"c BAD CHANGEDSINCE wants")
    assert session.receive_data(b"d FETCH 1 (FLAGS) (VANISHED)\r\n").startswith(b"d BAD Unknown FETCH modifier")


def test_store_unchangedsince_reports_modified_rfc7162_section_3_1_3(backend, store):
    for i in range(3):
        store.deliver("jane", message(i))  # UIDs 1-3, mod-sequences 1-3
    other = new_session(backend, select="INBOX")  # the first: it takes \Recent
    session = new_session(backend, select="INBOX")
    # The other session changes message 2 after our client last looked (at mod-sequence 3).
    assert other.receive_data(b"o STORE 2 +FLAGS.SILENT (\\Seen)\r\n") == b"o OK STORE completed\r\n"
    # "C: a103 UID STORE 6,4,8 (UNCHANGEDSINCE 12121230045) +FLAGS.SILENT (\Deleted)": every message
    # stored is told with its UID and MODSEQ, even with .SILENT; the one that failed is in [MODIFIED].
    assert session.receive_data(b"a103 UID STORE 1:3 (UNCHANGEDSINCE 3) +FLAGS.SILENT (\\Deleted)\r\n") == (
        b"* 1 FETCH (UID 1 MODSEQ (5))\r\n"
        b"* 3 FETCH (UID 3 MODSEQ (6))\r\n"
        b"* 2 FETCH (UID 2 FLAGS (\\Seen) MODSEQ (4))\r\n"  # the news about 2, at the end of the command
        b"a103 OK [MODIFIED 2] Conditional STORE failed for some messages\r\n")
    assert [m.flags for m in store.list("jane")] == [{"\\Deleted"}, {"\\Seen"}, {"\\Deleted"}]
    # "UNCHANGEDSINCE 0" always fails: every message has a mod-sequence of 1 or more.
    assert session.receive_data(b"b STORE 1:2 (UNCHANGEDSINCE 0) FLAGS ()\r\n") == (
        b"b OK [MODIFIED 1:2] Conditional STORE failed for some messages\r\n")
    # Passing the test without changing anything gives no new mod-sequence.
    assert session.receive_data(b"c STORE 2 (UNCHANGEDSINCE 4) +FLAGS (\\Seen)\r\n") == (
        b"* 2 FETCH (UID 2 FLAGS (\\Seen) MODSEQ (4))\r\nc OK STORE completed\r\n")
    assert session.receive_data(b"d STORE 1 (UNCHANGEDSINCE -1) +FLAGS (\\Seen)\r\n").startswith(b"d BAD")
    assert store.list("jane")[1].modseq == 4


def test_once_enabled_every_unsolicited_fetch_carries_uid_and_modseq(backend, store):
    store.deliver("jane", message(1))
    store.deliver("jane", message(2))
    new_session(backend, select="INBOX")  # takes \Recent
    session = new_session(backend)
    assert session.receive_data(b"e ENABLE CONDSTORE\r\n") == b"* ENABLED CONDSTORE\r\ne OK ENABLE completed\r\n"
    session.receive_data(b"s SELECT INBOX\r\n")
    store.set_flags("jane", 1, {"\\Answered"})  # another client: mod-sequence 3
    assert session.receive_data(b"n NOOP\r\n") == (
        b"* 1 FETCH (UID 1 FLAGS (\\Answered) MODSEQ (3))\r\nn OK NOOP completed\r\n")
    # A flag set and cleared again elsewhere leaves the flags as they were, but not the mod-sequence.
    store.set_flags("jane", 2, {"\\Flagged"})
    store.set_flags("jane", 2, set())
    assert session.receive_data(b"m NOOP\r\n") == b"* 2 FETCH (UID 2 FLAGS () MODSEQ (5))\r\nm OK NOOP completed\r\n"
    # A FETCH that sets \Seen tells the new flags with UID and MODSEQ.
    out = session.receive_data(b"f FETCH 2 (BODY[HEADER.FIELDS (SUBJECT)])\r\n")
    assert out == (b"* 2 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {14}\r\nSubject: 2\r\n\r\n FLAGS (\\Seen) "
                   b"UID 2 MODSEQ (6))\r\nf OK FETCH completed\r\n")
    # A plain STORE too.
    assert session.receive_data(b"g STORE 1 -FLAGS (\\Answered)\r\n") == (
        b"* 1 FETCH (UID 1 FLAGS () MODSEQ (7))\r\ng OK STORE completed\r\n")


def test_search_modseq_rfc7162_section_3_1_5(backend, store):
    for i in range(4):
        store.deliver("jane", message(i))  # mod-sequences 1-4
    store.set_flags("jane", 3, {"\\Seen"})  # 5
    session = new_session(backend, select="INBOX")
    # "S: * SEARCH 2 5 6 7 11 12 18 19 20 23 (MODSEQ 917162500)": the highest of the messages found.
    assert session.receive_data(b"a SEARCH MODSEQ 4\r\n") == b"* SEARCH 3 4 (MODSEQ 5)\r\na OK SEARCH completed\r\n"
    assert session.receive_data(b"b UID SEARCH OR MODSEQ 5 DELETED\r\n") == (
        b"* SEARCH 3 (MODSEQ 5)\r\nb OK SEARCH completed\r\n")
    # Nothing found: no (MODSEQ n) at all.
    assert session.receive_data(b"c SEARCH MODSEQ 6\r\n") == b"* SEARCH\r\nc OK SEARCH completed\r\n"
    assert session.receive_data(b"d SEARCH UNSEEN\r\n") == b"* SEARCH 1 2 4\r\nd OK SEARCH completed\r\n"


# -- lines that cannot be read, literals that are too big ------------------------------------------

def test_an_over_long_line_ends_idle_and_authenticate_with_a_tagged_bad(backend, store):
    session = new_session(backend, select="INBOX")
    session.reader.max_line = 64
    assert session.receive_data(b"i IDLE\r\n") == b"+ idling\r\n"
    out = session.receive_data(b"x" * 100 + b"\r\nn NOOP\r\n")
    assert out == b"i BAD Line too long (at most 64 octets with its CRLF)\r\nn OK NOOP completed\r\n"
    # IDLE is over: news waits for a command again.
    store.deliver("jane", message(1))
    assert session.updates() == b""
    session = IMAPSession(backend, "mail.test", max_line=64)
    assert session.receive_data(b"a AUTHENTICATE PLAIN\r\n") == b"+ \r\n"
    assert session.receive_data(b"A" * 100 + b"\r\n") == b"a BAD Line too long (at most 64 octets with its CRLF)\r\n"
    blob = base64.b64encode(b"\0jane\0secret")
    assert session.receive_data(b"b AUTHENTICATE PLAIN " + blob + b"\r\n").startswith(b"b OK")


def test_a_literal_over_the_limit_is_no_toobig_when_synchronizing_and_bad_toobig_when_not(backend, store):
    session = IMAPSession(backend, "mail.test", max_literal=10)
    session.receive_data(b"L LOGIN jane secret\r\n")
    # {n}: the client waits for "+", which does not come; nothing was sent (RFC 7889 section 4 style).
    assert session.receive_data(b"a APPEND INBOX {20}\r\n") == (
        b"a NO [TOOBIG] Literal too big: at most 10 octets per command\r\n")
    # {n+}: the octets come anyway and are thrown away (RFC 7888 section 4): a tagged BAD [TOOBIG].
    assert session.receive_data(b"b APPEND INBOX {20+}\r\n" + b"x" * 20 + b"\r\nc NOOP\r\n") == (
        b"b BAD [TOOBIG] Non-synchronizing literal too big: at most 10 octets per command\r\n"
        b"c OK NOOP completed\r\n")
    assert store.list("jane") == []
