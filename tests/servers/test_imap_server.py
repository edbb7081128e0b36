"""The IMAP endpoint over real sockets: imaplib, and a bare socket where imaplib is too polite.

Mail reaches jane's mailbox as it does in the lab, by SMTP or straight into
the store with exact bytes. The tests read it with the standard library's
IMAP client, look at the bytes on the wire where the order of untagged
responses matters, and look at what is on disk afterwards.
"""
from __future__ import annotations

import base64
import imaplib
import re
import socket

import pytest
from helpers import JANE, JOE, raw_message, submit

from mailcourse import Lab, Limits
from mailcourse.protocols.imap.session import CAPABILITIES

JANE_PASSWORD = "jane-password"


def jane_server(lab: Lab):
    return lab.server("somewhereelse.com")


def imap_address(lab: Lab) -> tuple[str, int]:
    return jane_server(lab).endpoints["imap"].address


def deliver(lab: Lab, *messages: bytes, folder: str = "INBOX", flags: set[str] = frozenset()) -> list[int]:
    """Put exact bytes into jane's mailbox, as local delivery does."""
    return [jane_server(lab).store.deliver("jane", raw, folder, flags) for raw in messages]


def client(lab: Lab, login: bool = True, device: str = "jane-laptop") -> imaplib.IMAP4:
    c = lab.imap(device, jane_server(lab).endpoints["imap"])
    if login:
        c.login(JANE, JANE_PASSWORD)
    return c


class RawIMAP:
    """An IMAP client on a bare socket: sends exactly what it is given, returns the lines it gets."""

    def __init__(self, address: tuple[str, int], timeout: float = 5.0) -> None:
        self.sock = socket.create_connection(address, timeout=timeout)
        self.file = self.sock.makefile("rb")
        self.greeting = self.line()

    def __enter__(self) -> RawIMAP:  # noqa: PYI034 (as RawPOP3 in test_pop3_server.py)
        return self

    def __exit__(self, *exc: object) -> None:
        self.file.close()
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def line(self) -> bytes:
        line = self.file.readline()
        assert line, "the server closed the connection"
        return line

    def until(self, pattern: bytes) -> list[bytes]:
        """Lines up to and including the first that starts with ``pattern``; literals read whole."""
        lines = []
        while True:
            line = self.line()
            m = re.search(rb"\{(\d+)\}\r\n$", line)
            if m:
                line += self.file.read(int(m.group(1))) + self.line()
            lines.append(line)
            if line.startswith(pattern):
                return lines

    def command(self, tag: str, text: str | bytes) -> list[bytes]:
        self.send(tag.encode() + b" " + (text.encode() if isinstance(text, str) else text) + b"\r\n")
        return self.until(tag.encode() + b" ")

    def login(self) -> None:
        assert self.command("L", f"LOGIN {JANE} {JANE_PASSWORD}")[-1].startswith(b"L OK")


# -- the basics with imaplib ---------------------------------------------------------------

def test_greeting_login_and_the_same_capabilities_before_and_after(lab):
    c = client(lab, login=False)
    assert c.welcome.startswith(b"* OK [CAPABILITY IMAP4rev1 ")
    before = c.capabilities
    assert "IDLE" in before and "UIDPLUS" in before and "LOGINDISABLED" not in before
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        c.login(JANE, "wrong")
    status, data = c.login("jane", JANE_PASSWORD)  # the local part alone works too
    # STARTTLS is offered outside TLS, after login too: the list stays the same (see CAPABILITIES).
    listed = ["IMAP4rev1", "STARTTLS", *CAPABILITIES[1:]]
    assert status == "OK" and data[0].startswith(b"[CAPABILITY " + " ".join(listed).encode())
    assert c.capability()[1][0].split() == [cap.encode() for cap in listed]
    assert list(before) == [cap.upper() for cap in listed]
    c.logout()


def test_message_delivered_by_smtp_is_read_by_imap_exactly(lab):
    submit(lab, JOE, [JANE], raw_message(JOE, JANE, "over SMTP", b"Line one.\r\n.dot line\r\n"))
    assert lab.wait_for_delivery()
    [stored] = jane_server(lab).store.list("jane")
    on_disk = stored.path.read_bytes()
    c = client(lab)
    assert c.select("INBOX") == ("OK", [b"1"])
    _status, data = c.fetch("1", "(BODY.PEEK[] RFC822.SIZE)")
    assert data[0][1] == on_disk and f"RFC822.SIZE {len(on_disk)}".encode() in data[1]
    assert jane_server(lab).store.list("jane")[0].flags == frozenset()  # PEEK
    _, data = c.fetch("1", "(BODY[HEADER.FIELDS (SUBJECT)])")
    assert data[0][1] == b"Subject: over SMTP\r\n\r\n"
    assert b"\\Seen" in data[1]  # the FETCH that set \Seen says so
    assert jane_server(lab).store.list("jane")[0].flags == {"\\Seen"}
    c.logout()


def test_append_with_a_literal_then_fetch_it_back(lab):
    raw = raw_message(JANE, JOE, "draft", b"\xc3\xa9t\xc3\xa9\r\n")
    c = client(lab)
    status, data = c.append("Drafts", "(\\Draft)", imaplib.Time2Internaldate(1_600_000_000), raw)
    validity = jane_server(lab).store.uidvalidity("jane", "Drafts")
    assert (status, data) == ("OK", [b"[APPENDUID %d 1] APPEND completed" % validity])
    [info] = jane_server(lab).store.list("jane", "Drafts")
    assert info.flags == {"\\Draft"} and info.internaldate == 1_600_000_000
    assert info.path.read_bytes() == raw
    c.select("Drafts", readonly=True)
    status, data = c.uid("FETCH", "1", "(INTERNALDATE BODY[])")
    assert data[0][1] == raw and b"UID 1" in data[0][0] and b'"13-Sep-2020 12:26:40 +0000"' in data[0][0]
    assert jane_server(lab).store.list("jane", "Drafts")[0].flags == {"\\Draft"}  # EXAMINE never sets \Seen
    c.logout()


def test_store_search_expunge_and_uid_commands_after_expunges(lab):
    deliver(lab, *(raw_message(JOE, JANE, f"m{i}") for i in range(1, 6)))
    c = client(lab)
    c.select()
    assert c.store("2,4", "+FLAGS", "(\\Deleted)")[0] == "OK"
    assert c.search(None, "DELETED") == ("OK", [b"2 4"])
    assert c.expunge() == ("OK", [b"4", b"2"])  # highest first
    assert c.uid("SEARCH", None, "ALL") == ("OK", [b"1 3 5"])
    assert c.search(None, "ALL") == ("OK", [b"1 2 3"])
    _status, data = c.uid("STORE", "5", "+FLAGS", "(\\Flagged)")
    assert data == [b"3 (UID 5 FLAGS (\\Flagged \\Recent))"]
    assert c.uid("SEARCH", None, "FLAGGED SUBJECT m5") == ("OK", [b"5"])
    _, data = c.uid("FETCH", "3:5", "(FLAGS)")
    assert data == [b"2 (UID 3 FLAGS (\\Recent))", b"3 (UID 5 FLAGS (\\Flagged \\Recent))"]
    c.uid("STORE", "1", "+FLAGS.SILENT", "(\\Deleted)")
    c.uid("STORE", "3", "+FLAGS.SILENT", "(\\Deleted)")
    assert c.uid("EXPUNGE", "3")[0] == "OK"
    assert c.response("EXPUNGE") == ("EXPUNGE", [b"2"])  # UIDPLUS: only UID 3, not UID 1
    assert [m.uid for m in jane_server(lab).store.list("jane")] == [1, 5]
    c.close()  # expunges UID 1 silently
    assert [m.uid for m in jane_server(lab).store.list("jane")] == [5]
    c.logout()


def test_copy_move_list_status_and_special_use(lab):
    deliver(lab, raw_message(JOE, JANE, "keep"), raw_message(JOE, JANE, "bin"))
    c = client(lab)
    _status, folders = c.list()
    assert folders == [b'(\\HasNoChildren) "." INBOX', b'(\\HasNoChildren \\Drafts) "." Drafts',
                       b'(\\HasNoChildren \\Sent) "." Sent', b'(\\HasNoChildren \\Trash) "." Trash']
    assert c.list('""', '""') == ("OK", [b'(\\Noselect) "." ""'])
    assert c.lsub() == ("OK", [b'() "." Drafts', b'() "." Sent', b'() "." Trash'])
    assert c.create("Archive") == ("OK", [b"CREATE completed"])
    c.select()
    trash = jane_server(lab).store.uidvalidity("jane", "Trash")
    assert c.copy("1", "Archive")[0] == "OK"
    assert c._simple_command("MOVE", "2", "Trash")[0] == "OK" and c.untagged_responses.get("EXPUNGE") == [b"2"]
    assert c.untagged_responses["OK"][-1] == b"[COPYUID %d 2 1] Moved" % trash
    assert [m.uid for m in jane_server(lab).store.list("jane", "Trash")] == [1]
    assert c.status("Archive", "(MESSAGES UNSEEN UIDNEXT)") == ("OK", [b"Archive (MESSAGES 1 UNSEEN 1 UIDNEXT 2)"])
    assert c.copy("1", "Nowhere") == ("NO", [b"[TRYCREATE] No such mailbox: Nowhere"])
    assert c.rename("Archive", "Old") == ("OK", [b"RENAME completed"])
    assert c.delete("Old") == ("OK", [b"DELETE completed"])
    assert jane_server(lab).store.folders("jane") == ["INBOX", "Drafts", "Sent", "Trash"]
    c.logout()


def test_namespace_enable_id_idle_noop(lab):
    with RawIMAP(imap_address(lab)) as s:
        s.login()
        assert s.command("n", "NAMESPACE") == [b'* NAMESPACE (("" ".")) NIL NIL\r\n', b"n OK NAMESPACE completed\r\n"]
        assert s.command("e", "ENABLE CONDSTORE") == [b"* ENABLED CONDSTORE\r\n", b"e OK ENABLE completed\r\n"]
        assert s.command("i", 'ID ("name" "test")') == [b'* ID ("name" "mailcourse")\r\n', b"i OK ID completed\r\n"]


# -- several sessions, IDLE, pipelining ----------------------------------------------------------

def test_two_sessions_see_each_others_flags_and_expunges_on_the_wire(lab):
    deliver(lab, *(raw_message(JOE, JANE, f"m{i}") for i in range(1, 4)))
    with RawIMAP(imap_address(lab)) as a, RawIMAP(imap_address(lab)) as b:
        for s in (a, b):
            s.login()
            s.command("S", "SELECT INBOX")
        assert a.command("1", "STORE 3 +FLAGS.SILENT (\\Seen)") == [b"1 OK STORE completed\r\n"]
        assert b.command("2", "NOOP") == [b"* 3 FETCH (FLAGS (\\Seen))\r\n", b"2 OK NOOP completed\r\n"]
        a.command("3", "STORE 1 +FLAGS.SILENT (\\Deleted)")
        assert a.command("4", "EXPUNGE") == [b"* 1 EXPUNGE\r\n", b"4 OK EXPUNGE completed\r\n"]
        # b is told during a command that may carry EXPUNGE, not during FETCH (RFC 3501 section 7.4.1).
        assert b.command("5", "FETCH 1 (UID)") == [b"* 1 FETCH (UID 1)\r\n", b"5 OK FETCH completed\r\n"]
        assert b.command("6", "NOOP") == [b"* 1 EXPUNGE\r\n", b"6 OK NOOP completed\r\n"]
        assert b.command("7", "FETCH 1:* (UID)") == [b"* 1 FETCH (UID 2)\r\n", b"* 2 FETCH (UID 3)\r\n",
                                                    b"7 OK FETCH completed\r\n"]


def test_idle_hears_about_a_message_delivered_by_smtp(lab):
    with RawIMAP(imap_address(lab)) as s:
        s.login()
        s.command("S", "SELECT INBOX")
        s.send(b"I IDLE\r\n")
        assert s.line() == b"+ idling\r\n"
        submit(lab, JOE, [JANE], raw_message(JOE, JANE, "while idling"))
        assert s.line() == b"* 1 EXISTS\r\n"
        assert s.line() == b"* 1 RECENT\r\n"
        s.send(b"DONE\r\n")
        assert s.line() == b"I OK IDLE terminated\r\n"
        [fetched] = s.command("F", "FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT)]")[:-1]
        assert b"Subject: while idling" in fetched


def test_idle_hears_about_flags_and_expunges_from_another_session(lab):
    deliver(lab, raw_message(JOE, JANE, "one"), raw_message(JOE, JANE, "two"))
    with RawIMAP(imap_address(lab)) as idler:
        idler.login()
        idler.command("S", "SELECT INBOX")
        idler.send(b"I IDLE\r\n")
        assert idler.line() == b"+ idling\r\n"
        c = client(lab, device="jane-phone")
        c.select()
        c.store("1", "+FLAGS", "(\\Deleted)")
        assert idler.line() == b"* 1 FETCH (FLAGS (\\Deleted \\Recent))\r\n"
        c.expunge()
        assert idler.line() == b"* 1 EXPUNGE\r\n"
        c.logout()
        idler.send(b"DONE\r\n")
        assert idler.line() == b"I OK IDLE terminated\r\n"


def test_pipelined_commands_are_answered_in_order(lab):
    deliver(lab, raw_message(JOE, JANE, "p1"), raw_message(JOE, JANE, "p2"))
    message = raw_message(JANE, JOE, "sent copy")
    with RawIMAP(imap_address(lab)) as s:
        s.send(f"1 LOGIN {JANE} {JANE_PASSWORD}\r\n2 SELECT INBOX\r\n".encode()
               + b"3 UID STORE 1 +FLAGS.SILENT (\\Seen)\r\n4 UID STORE 2 +FLAGS.SILENT (\\Answered)\r\n5 CHECK\r\n"
               + b"6 APPEND Sent (\\Seen) {%d+}\r\n%s\r\n7 UID FETCH 1:* (FLAGS)\r\n8 LOGOUT\r\n" % (len(message), message))
        lines = s.until(b"8 ")
    tagged = [line.split(b" ", 2)[:2] for line in lines if not line.startswith(b"*")]
    assert tagged == [[str(n).encode(), b"OK"] for n in range(1, 9)]
    assert b"* 1 FETCH (UID 1 FLAGS (\\Recent \\Seen))\r\n" in lines
    assert b"* 2 FETCH (UID 2 FLAGS (\\Answered \\Recent))\r\n" in lines
    assert jane_server(lab).store.get("jane", 1, "Sent") == message


def test_mbsync_opening_sequence(lab):
    """What mbsync 1.4 writes: it reads the greeting's capabilities, never asks CAPABILITY."""
    deliver(lab, raw_message(JOE, JANE, "for mbsync"))
    with RawIMAP(imap_address(lab)) as s:
        caps = re.search(rb"\[CAPABILITY ([^\]]*)\]", s.greeting).group(1).split()
        assert {b"IMAP4rev1", b"LITERAL+", b"UIDPLUS", b"SASL-IR", b"AUTH=PLAIN"} <= set(caps)
        blob = base64.b64encode(f"\0{JANE}\0{JANE_PASSWORD}".encode()).decode()
        assert s.command("1", f"AUTHENTICATE PLAIN {blob}")[-1].startswith(b"1 OK [CAPABILITY")
        assert s.command("2", "NAMESPACE")[-1] == b"2 OK NAMESPACE completed\r\n"
        assert b'* LIST (\\HasNoChildren) "." INBOX\r\n' in s.command("3", 'LIST "" "*"')
        lines = s.command("4", 'SELECT "INBOX"')
        assert b"* 1 EXISTS\r\n" in lines and any(line.startswith(b"* OK [UIDNEXT 2]") for line in lines)
        lines = s.command("5", "UID FETCH 1:* (UID FLAGS)")
        assert lines == [b"* 1 FETCH (UID 1 FLAGS (\\Recent))\r\n", b"5 OK FETCH completed\r\n"]
        s.send(b'6 UID STORE 1 +FLAGS.SILENT \\Seen\r\n7 APPEND "Sent" {5+}\r\nhello\r\n8 CLOSE\r\n9 LOGOUT\r\n')
        lines = s.until(b"9 ")
        assert [line[:4] for line in lines if not line.startswith(b"*")] == [b"6 OK", b"7 OK", b"8 OK", b"9 OK"]


def test_mutt_opening_sequence(lab):
    """mutt 2 sends LIST before ENABLE is answered; both are answered, in order."""
    with RawIMAP(imap_address(lab)) as s:
        assert b"IMAP4rev1" in s.greeting and b"IDLE" in s.greeting
        s.login()
        s.send(b'a0001 ENABLE UTF8=ACCEPT\r\na0002 LIST "" ""\r\n')
        assert s.until(b"a0002 ") == [b"* ENABLED\r\n", b"a0001 OK ENABLE completed\r\n",
                                      b'* LIST (\\Noselect) "." ""\r\n', b"a0002 OK LIST completed\r\n"]
        assert s.command("a0003", 'LIST "" "INBOX"')[0] == b'* LIST (\\HasNoChildren) "." INBOX\r\n'
        lines = s.command("a0004", 'SELECT "INBOX"')
        assert lines[-1] == b"a0004 OK [READ-WRITE] SELECT completed\r\n"
        lines = s.command("a0005", "FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS (DATE FROM)])")
        assert lines == [b"a0005 OK FETCH completed\r\n"]  # an empty mailbox: nothing to say
        assert s.command("a0006", "LOGOUT")[-1] == b"a0006 OK LOGOUT completed\r\n"


# -- names that must not leave the account ---------------------------------------------------------

@pytest.mark.parametrize("name", ["../joe", "..", "a/../../b", "x" * 300, "a..b"])
def test_folder_names_cannot_escape_the_account(lab, name):
    root = jane_server(lab).store.root
    c = client(lab)
    before = sorted(p for p in lab.workspace.rglob("*") if "queue" not in p.parts)
    assert c.create(f'"{name}"')[0] == "NO"
    assert c.rename("Trash", f'"{name}"')[0] == "NO"
    assert c.select(f'"{name}"')[0] == "NO"
    assert c.append(f'"{name}"', None, None, b"Subject: x\r\n\r\nx\r\n")[0] == "NO"
    c.logout()
    after = sorted(p for p in lab.workspace.rglob("*") if "queue" not in p.parts)
    assert after == before and (root / "jane" / ".Trash").is_dir()


@pytest.mark.parametrize("name", ["/etc/passwd", "~/x", "foo\\\\bar"])
def test_names_with_slash_or_backslash_are_folders_inside_the_account(lab, name):
    # RFC 3501 section 5.1 allows them (Dovecot accepts foo\bar); on disk "/" and "\" are %2F and %5C.
    root = jane_server(lab).store.root
    c = client(lab)
    before = {p for p in lab.workspace.rglob("*") if "queue" not in p.parts}
    assert c.create(f'"{name}"')[0] == "OK"
    assert c.append(f'"{name}"', None, None, b"Subject: x\r\n\r\nx\r\n")[0] == "OK"
    assert c.select(f'"{name}"') == ("OK", [b"1"])
    assert c.subscribe(f'"{name}"')[0] == "OK"
    c.logout()
    new = {p for p in lab.workspace.rglob("*") if "queue" not in p.parts} - before
    assert new and all(p.is_relative_to(root / "jane") for p in new), sorted(new)


# -- limits -------------------------------------------------------------------------------------

def test_append_over_the_size_limit_is_toobig_and_the_session_goes_on():
    with Lab.classic(seed=1, limits=Limits(max_message_size=1000)) as lab:
        with RawIMAP(imap_address(lab)) as s:
            s.login()
            assert s.command("1", "APPEND INBOX {5000}") == [b"1 NO [TOOBIG] Literal too big: at most 1000 octets per command\r\n"]
            # {n+}: the octets come anyway and are thrown away; RFC 7888 section 4 wants a tagged BAD [TOOBIG].
            s.send(b"2 APPEND INBOX {2000+}\r\n" + b"x" * 2000 + b"\r\n")
            assert s.until(b"2 ") == [(b"2 BAD [TOOBIG] Non-synchronizing literal too big: at most 1000 octets "
                                       b"per command\r\n")]
            assert s.command("3", "APPEND INBOX {5+}\r\nhello")[-1].startswith(b"3 OK [APPENDUID")
        assert [m.size for m in jane_server(lab).store.list("jane")] == [5]


def test_idle_connection_gets_autologout():
    with Lab.classic(seed=1, limits=Limits(idle_timeout=0.5)) as lab, RawIMAP(imap_address(lab), timeout=10) as s:
        s.login()
        s.send(b"I IDLE\r\n")
        assert s.line() == b"+ idling\r\n"
        assert s.line() == b"* BYE Autologout; idle for too long\r\n"
        assert s.file.readline() == b""  # and closed


def test_too_many_connections_get_bye_and_the_others_keep_working():
    with Lab.classic(seed=1, limits=Limits(max_connections=2)) as lab:
        first = [RawIMAP(imap_address(lab)) for _ in range(2)]
        try:
            with RawIMAP(imap_address(lab)) as extra:
                assert extra.greeting == b"* BYE [UNAVAILABLE] Too many connections, try later\r\n"
            for s in first:
                s.login()
                assert s.command("n", "NOOP") == [b"n OK NOOP completed\r\n"]
        finally:
            for s in first:
                s.__exit__()


# -- persistence and the trace ----------------------------------------------------------------------

def test_uidvalidity_and_uidnext_survive_a_restart(tmp_path):
    workspace = tmp_path / "ws"
    with Lab.classic(workspace=workspace, seed=1) as lab:
        c = client(lab)
        for i in range(3):
            c.append("INBOX", None, None, raw_message(JOE, JANE, f"r{i}"))
        c.select()
        c.store("3", "+FLAGS", "(\\Deleted)")
        c.expunge()  # the highest UID goes: it must never come back
        validity = c.response("UIDVALIDITY")
        c.logout()
    with Lab.classic(workspace=workspace, seed=2) as lab:
        c = client(lab)
        c.select()
        assert c.response("UIDVALIDITY") == validity
        assert c.response("UIDNEXT") == ("UIDNEXT", [b"4"])
        _, data = c.append("INBOX", None, None, raw_message(JOE, JANE, "after restart"))
        assert data[0].startswith(b"[APPENDUID %s 4]" % validity[1][0])
        assert c.uid("SEARCH", None, "ALL") == ("OK", [b"1 2 4"])
        c.logout()


def test_trace_masks_the_password_and_labels_the_device(lab):
    c = client(lab, device="jane-phone")
    c.logout()
    [conn] = lab.trace.sessions(protocol="IMAP")
    sent = b"".join(e.data for e in lab.trace.events if e.connection == conn)
    assert JANE_PASSWORD.encode() not in sent
    transcript = lab.trace.transcript()
    assert "jane-phone -> mail.somewhereelse.com (IMAP imap)" in transcript
    assert "LOGIN jane@somewhereelse.com ********" in transcript and JANE_PASSWORD not in transcript


def test_serve_lists_the_imap_endpoint(served_lab):
    host, port = served_lab.endpoint("somewhereelse.com", "imap")
    c = imaplib.IMAP4(host, port, timeout=5)
    c.login(JANE, served_lab.password(JANE))
    assert c.select() == ("OK", [b"0"])
    c.logout()


# -- CONDSTORE (RFC 7162) with imaplib ---------------------------------------------------------------

def _highest(c: imaplib.IMAP4) -> int:
    typ, data = c.status("INBOX", "(HIGHESTMODSEQ)")
    assert typ == "OK"
    return int(re.search(rb"HIGHESTMODSEQ (\d+)", data[0]).group(1))


def test_condstore_fetch_changedsince_and_store_unchangedsince_with_imaplib(lab):
    deliver(lab, *(raw_message(JOE, JANE, f"m{i}") for i in range(3)))
    c = client(lab)
    assert "CONDSTORE" in c.capabilities
    typ, data = c.select("INBOX (CONDSTORE)")
    assert typ == "OK"
    since = int(c.response("HIGHESTMODSEQ")[1][-1])
    other = client(lab, device="jane-phone")
    other.select()
    other.uid("STORE", "2", "+FLAGS", "(\\Flagged)")  # jane's phone changes message 2
    typ, data = c.uid("FETCH", "1:*", "(FLAGS)", f"(CHANGEDSINCE {since})")
    assert typ == "OK" and len(data) == 1 and re.match(rb"2 \(UID 2 FLAGS \(\\Flagged( \\Recent)?\) MODSEQ \(\d+\)\)", data[0])
    # A conditional store: message 2 changed after `since`, so it is left alone (and named in the
    # tagged OK's [MODIFIED 2], which imaplib does not show); 1 and 3 are told with their new MODSEQ.
    typ, data = c.uid("STORE", "1:3", f"(UNCHANGEDSINCE {since})", "+FLAGS.SILENT", "(\\Seen)")
    assert typ == "OK" and [re.sub(rb"MODSEQ \(\d+\)", b"MODSEQ (n)", d) for d in data[:2]] == [
        b"1 (UID 1 MODSEQ (n))", b"3 (UID 3 MODSEQ (n))"]
    flags = {m.uid: m.flags for m in jane_server(lab).store.list("jane")}
    assert flags == {1: {"\\Seen"}, 2: {"\\Flagged"}, 3: {"\\Seen"}}
    typ, data = c.uid("SEARCH", "MODSEQ", str(since + 1))
    assert typ == "OK" and re.fullmatch(rb"1 2 3 \(MODSEQ \d+\)", data[0])
    for session in (c, other):
        session.logout()


def test_highestmodseq_survives_a_restart_and_never_goes_back_after_an_expunge(tmp_path):
    workspace = tmp_path / "ws"
    with Lab.classic(workspace=workspace, seed=1) as lab:
        c = client(lab)
        for i in range(3):
            c.append("INBOX", None, None, raw_message(JOE, JANE, f"r{i}"))
        c.select()
        before = _highest(c)
        c.store("3", "+FLAGS", "(\\Deleted)")
        c.expunge()  # the expunged message took the highest mod-sequence with it: HIGHESTMODSEQ still grows
        after_expunge = _highest(c)
        assert after_expunge > before
        _, data = c.fetch("1:2", "(MODSEQ)")
        modseqs = [int(m) for m in re.findall(rb"MODSEQ \((\d+)\)", b" ".join(data))]
        c.logout()
    with Lab.classic(workspace=workspace, seed=2) as lab:
        c = client(lab)
        c.select()
        restarted = int(c.response("HIGHESTMODSEQ")[1][-1])
        assert restarted >= after_expunge  # never backwards for one UIDVALIDITY, also across a restart
        _, data = c.fetch("1:2", "(MODSEQ)")
        assert [int(m) for m in re.findall(rb"MODSEQ \((\d+)\)", b" ".join(data))] == modseqs  # kept on disk
        # A change after the restart gets a mod-sequence above everything before it.
        _, data = c.store("1", "+FLAGS", "(\\Answered)")
        assert int(re.search(rb"MODSEQ \((\d+)\)", data[0]).group(1)) > restarted
        assert _highest(c) > restarted
        c.logout()


def test_an_over_long_line_during_idle_ends_it_with_a_tagged_bad(lab):
    with RawIMAP(imap_address(lab)) as s:
        s.login()
        s.command("s", "SELECT INBOX")
        s.send(b"i IDLE\r\n")
        assert s.line() == b"+ idling\r\n"
        s.send(b"x" * 9000 + b"\r\n")
        assert s.until(b"i ") == [b"i BAD Line too long (at most 8192 octets with its CRLF)\r\n"]
        assert s.command("n", "NOOP") == [b"n OK NOOP completed\r\n"]
