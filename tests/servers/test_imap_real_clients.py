"""Real IMAP clients against ``python -m mailcourse serve``: IMAPClient, imap-tools, curl and mutt.

These are the programs people read their mail with, or write mail tools
with: IMAPClient and imap-tools (the two IMAP libraries Python mail tools
build on), curl's imap:// URLs (RFC 5092) and mutt, a terminal mail reader
run here in a pseudo-terminal as a person would run it.

Mail reaches jane as it does in the chapter: joe submits it to his provider
(someplace.org), which relays it to jane's (somewhereelse.com) by SMTP. The
proof is always on jane's server's disk, read without the server:

* ``mailcourse-uidlist`` in each Maildir folder: ``V<uidvalidity>
  N<uidnext>`` on its first line, then a line per message that starts with
  its UID and ends with its file name (see `mailcourse.store`), which ties
  each UID a client sees to a file;
* the message files themselves, whose bytes a client must get back exactly;
* the flags in the file names (``:2,FS`` is \\Flagged \\Seen, maildir(5)).

One ``serve`` process serves the whole module (``served_lab`` in
tests/conftest.py); every test starts from an empty INBOX. Under CI=true a
missing curl or mutt is a failure (.ci/run installs both); elsewhere those
tests are skipped.
"""
from __future__ import annotations

import datetime
import email.policy
import fcntl
import os
import re
import select
import signal
import smtplib
import struct
import subprocess
import termios
import time
import uuid
from email.message import EmailMessage
from pathlib import Path

import pytest
from helpers import program
from imap_tools import AND, MailBoxUnencrypted, MailMessageFlags
from imapclient import IMAPClient
from imapclient.imapclient import DRAFTS, SENT, TRASH

DOMAIN = "somewhereelse.com"
JANE, JOE = f"jane@{DOMAIN}", "joe@someplace.org"


# -- jane's mail, as it lies on her server's disk ----------------------------------------------------

def folder_dir(served, folder: str = "INBOX") -> Path:
    """A folder of jane's, as a Maildir++ directory: the INBOX, or ``.<name>`` beside it."""
    root = served.workspace / "servers" / DOMAIN / "mail" / "jane"
    return root if folder == "INBOX" else root / f".{folder}"


def uidlist(served, folder: str = "INBOX") -> tuple[dict[str, int], dict[int, str]]:
    """The folder's ``mailcourse-uidlist``: its first line's fields, and UID -> unique name.

    The first line is ``V<uidvalidity> N<uidnext>`` (and, with CONDSTORE,
    ``M<modseq ceiling>``); each later line starts with a UID and ends with
    the message's file name, flags or not (``<uid> [M<modseq>] <name>[:2,FS]``).
    A flag change appends a line; the last one of a UID wins.
    """
    head, *lines = (folder_dir(served, folder) / "mailcourse-uidlist").read_text().splitlines()
    fields = {word[0]: int(word[1:]) for word in head.split()}
    names = {int(words[0]): words[-1].partition(":2,")[0] for words in map(str.split, lines) if words}
    return fields, names


def uidlist_head(served, folder: str = "INBOX") -> tuple[int, int]:
    """(UIDVALIDITY, UIDNEXT) as ``mailcourse-uidlist`` says.

    The first line is rewritten only now and then; a delivery appends its
    line. So UIDNEXT is one more than the last UID listed, or N if that is
    higher (the message with the highest UID was expunged): the store reads
    it the same way.
    """
    fields, names = uidlist(served, folder)
    return fields["V"], max([fields["N"], *(uid + 1 for uid in names)])


def files_by_uid(served, folder: str = "INBOX") -> dict[int, Path]:
    """UID -> message file, from ``mailcourse-uidlist`` and the files in new/ and cur/.

    A delivery writes the message file first and its uidlist line just after:
    a file seen in between gets a moment to receive its UID.
    """
    box = folder_dir(served, folder)
    deadline = time.monotonic() + 5
    while True:
        files = {p.name.partition(":2,")[0]: p for sub in ("new", "cur") for p in (box / sub).iterdir()}
        by_uid = {uid: files[name] for uid, name in uidlist(served, folder)[1].items() if name in files}
        if len(by_uid) == len(files) or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert len(by_uid) == len(files), f"message files without a UID in {box}: {files}"
    return by_uid


def letters(path: Path) -> str:
    """The Maildir flag letters of a message file: "FS" for \\Flagged \\Seen (maildir(5))."""
    return path.name.partition(":2,")[2]


def file_holding(served, needle: bytes, folder: str = "INBOX") -> tuple[int, Path]:
    """The (UID, file) of the one message in ``folder`` that contains ``needle``."""
    found = [(uid, path) for uid, path in files_by_uid(served, folder).items() if needle in path.read_bytes()]
    assert len(found) == 1, f"{len(found)} messages in {folder} contain {needle!r}"
    return found[0]


# -- joe mails jane ------------------------------------------------------------------------------

def unique(words: str) -> str:
    return f"{words} {uuid.uuid4().hex[:8]}"


def plain_message(subject: str, body: str = "Hello Jane.\n") -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"Joe <{JOE}>"
    message["To"] = f"Jane <{JANE}>"
    message["Subject"] = subject
    message.set_content(body)
    return message


def mail_jane(served, message: EmailMessage | str) -> bytes:
    """joe submits ``message`` (or a plain one with this subject); returns its bytes once in jane's INBOX."""
    if isinstance(message, str):
        message = plain_message(message)
    with smtplib.SMTP(*served.endpoint("someplace.org", "submission"), timeout=10) as client:
        client.login(JOE, served.password(JOE))
        client.sendmail(JOE, [JANE], message.as_bytes(policy=email.policy.SMTP))
    return served.wait_for_message(JANE, f"Subject: {message['Subject']}".encode())


# -- the clients ---------------------------------------------------------------------------------

def imapclient(served) -> IMAPClient:
    host, port = served.endpoint(DOMAIN, "imap")
    client = IMAPClient(host, port=port, ssl=False, timeout=10)
    client.login(JANE, served.password(JANE))
    return client


@pytest.fixture
def served(served_lab):
    """The module's ``serve`` process, with jane's INBOX emptied (with IMAPClient) before the test."""
    with imapclient(served_lab) as client:
        client.select_folder("INBOX")
        uids = client.search(["ALL"])
        if uids:
            client.delete_messages(uids)
            client.expunge()
    assert files_by_uid(served_lab) == {}
    return served_lab


# == IMAPClient ==================================================================================

def test_imapclient_logs_in_and_lists_the_special_use_folders(served):
    host, port = served.endpoint(DOMAIN, "imap")
    with IMAPClient(host, port=port, ssl=False, timeout=10) as client:
        assert b"IMAP4REV1" in client.capabilities()
        assert client.login(JANE, served.password(JANE)).endswith(b"LOGIN completed")
        assert {b"IDLE", b"UIDPLUS", b"MOVE", b"SPECIAL-USE", b"LITERAL+"} <= set(client.capabilities())
        folders = {name: set(flags) for flags, delimiter, name in client.list_folders()}
        assert {"INBOX", "Sent", "Drafts", "Trash"} <= set(folders)
        assert b"\\Sent" in folders["Sent"] and b"\\Drafts" in folders["Drafts"] and b"\\Trash" in folders["Trash"]
        # RFC 6154 is how a client finds them whatever their names: IMAPClient asks LIST for the attribute.
        assert (client.find_special_folder(SENT), client.find_special_folder(DRAFTS),
                client.find_special_folder(TRASH)) == ("Sent", "Drafts", "Trash")
        assert all(folder_dir(served, name).is_dir() for name in ("Sent", "Drafts", "Trash"))


def test_imapclient_selects_searches_and_fetches_what_is_on_disk(served):
    subject = unique("Lunch on Friday?")
    raw = mail_jane(served, plain_message(subject, "Shall we meet at noon?\n"))
    other = mail_jane(served, unique("Another one"))
    with imapclient(served) as client:
        selected = client.select_folder("INBOX")
        validity, uidnext = uidlist_head(served)
        assert selected[b"UIDVALIDITY"] == validity and selected[b"UIDNEXT"] == uidnext
        assert selected[b"EXISTS"] == 2 == len(files_by_uid(served))
        uid, path = file_holding(served, subject.encode())
        assert path.read_bytes() == raw and raw != other
        assert uid in client.search(["UNSEEN"]) and client.search(["SUBJECT", subject]) == [uid]

        items = ["ENVELOPE", "BODYSTRUCTURE", "FLAGS", "RFC822.SIZE", "BODY.PEEK[]",
                 "BODY[HEADER.FIELDS (SUBJECT FROM)]"]
        data = client.fetch([uid], items)[uid]
        envelope = data[b"ENVELOPE"]
        assert envelope.subject.decode() == subject
        [sender] = envelope.from_
        assert (sender.name, sender.mailbox, sender.host) == (b"Joe", b"joe", b"someplace.org")
        [to] = envelope.to
        assert (to.mailbox, to.host) == (b"jane", DOMAIN.encode())
        structure = data[b"BODYSTRUCTURE"]
        assert (structure[0].lower(), structure[1].lower()) == (b"text", b"plain")
        assert data[b"RFC822.SIZE"] == len(raw)
        assert data[b"BODY[]"] == raw  # byte for byte the file on disk
        assert data[b"BODY[HEADER.FIELDS (SUBJECT FROM)]"] == (
            f"From: Joe <{JOE}>\r\nSubject: {subject}\r\n\r\n".encode())
        # BODY[...] without .PEEK sets \Seen (RFC 3501 section 6.4.5): on disk, and for SEARCH.
        assert b"\\Seen" in client.get_flags([uid])[uid]
        assert letters(files_by_uid(served)[uid]) == "S"
        assert uid not in client.search(["UNSEEN"]) and client.search(["SEEN"]) == [uid]


def test_imapclient_sorts_and_threads_rfc_5256(served):
    first = plain_message(unique("Plan"))
    first["Message-ID"] = "<plan-1@someplace.org>"
    reply = plain_message(f"Re: {first['Subject']}", "Yes.\n" * 50)
    reply["In-Reply-To"] = "<plan-1@someplace.org>"
    mail_jane(served, first)
    mail_jane(served, reply)
    mail_jane(served, unique("Aardvark"))
    with imapclient(served) as client:
        assert {b"SORT", b"THREAD=REFERENCES", b"THREAD=ORDEREDSUBJECT"} <= set(client.capabilities())
        client.select_folder("INBOX")
        plan, answer = client.search(["SUBJECT", first["Subject"]])
        [aardvark] = client.search(["SUBJECT", "Aardvark"])
        # IMAPClient sends UID SORT and UID THREAD: the answers are UIDs.
        assert client.sort(["SUBJECT"]) == [aardvark, plan, answer]  # "Re:" is no part of the base subject
        assert client.sort(["REVERSE", "SIZE"])[0] == answer
        assert client.thread("REFERENCES") == ((plan, answer), (aardvark,))
        assert client.thread("ORDEREDSUBJECT") == ((plan, answer), (aardvark,))


def test_imapclient_adds_removes_and_reads_flags(served):
    mail_jane(served, subject := unique("flags"))
    with imapclient(served) as client:
        client.select_folder("INBOX")
        [uid] = client.search(["SUBJECT", subject])
        client.add_flags([uid], [b"\\Flagged", b"\\Answered", b"$Important"])
        assert {b"\\Flagged", b"\\Answered", b"$Important"} <= set(client.get_flags([uid])[uid])
        assert re.fullmatch("FR[a-z]", letters(files_by_uid(served)[uid]))  # a keyword is a letter a-z
        client.remove_flags([uid], [b"\\Answered", b"$Important"])
        assert set(client.get_flags([uid])[uid]) - {b"\\Recent"} == {b"\\Flagged"}
        assert letters(files_by_uid(served)[uid]) == "F"
        client.set_flags([uid], [b"\\Seen"])
        assert letters(files_by_uid(served)[uid]) == "S"
    with imapclient(served) as again:  # flags are the store's, not the session's
        again.select_folder("INBOX", readonly=True)
        assert set(again.get_flags([uid])[uid]) == {b"\\Seen"}


def test_imapclient_appends_copies_moves_and_deletes(served):
    draft = f"From: {JANE}\r\nTo: {JOE}\r\nSubject: {unique('draft')}\r\n\r\nNot finished.\r\n".encode()
    when = datetime.datetime(2024, 3, 1, 12, 30, 0, tzinfo=datetime.UTC)
    with imapclient(served) as client:
        answer = client.append("INBOX", draft, flags=[b"\\Seen", b"\\Draft"], msg_time=when)
        m = re.match(rb"\[APPENDUID (\d+) (\d+)\]", answer)
        assert m, answer  # UIDPLUS, RFC 4315 section 3
        validity, uid = int(m.group(1)), int(m.group(2))
        assert validity == uidlist_head(served)[0]
        path = files_by_uid(served)[uid]
        assert path.read_bytes() == draft and letters(path) == "DS"
        assert path.stat().st_mtime == when.timestamp()  # the internal date is the file's time

        client.select_folder("INBOX")
        trash_before = set(files_by_uid(served, "Trash"))
        client.copy([uid], "Trash")
        [copied] = set(files_by_uid(served, "Trash")) - trash_before
        assert files_by_uid(served, "Trash")[copied].read_bytes() == draft
        assert uid in files_by_uid(served)  # COPY leaves the original

        drafts_before = set(files_by_uid(served, "Drafts"))
        client.move([uid], "Drafts")  # RFC 6851
        [moved] = set(files_by_uid(served, "Drafts")) - drafts_before
        assert files_by_uid(served, "Drafts")[moved].read_bytes() == draft
        assert letters(files_by_uid(served, "Drafts")[moved]) == "DS"  # flags travel with the message
        assert files_by_uid(served) == {} and client.search(["ALL"]) == []

        client.select_folder("Trash")
        client.delete_messages([copied])
        assert "T" in letters(files_by_uid(served, "Trash")[copied])  # \Deleted: still there
        number = sorted(files_by_uid(served, "Trash")).index(copied) + 1  # its sequence number
        _text, expunged = client.expunge()
        assert [r for r in expunged if r[1] == b"EXPUNGE"] == [(number, b"EXPUNGE")]
        assert copied not in files_by_uid(served, "Trash")


def test_imapclient_creates_renames_and_deletes_folders(served):
    name = f"Projects-{uuid.uuid4().hex[:6]}"
    with imapclient(served) as client:
        client.create_folder(name)
        assert client.folder_exists(name) and folder_dir(served, name).is_dir()
        client.create_folder(f"{name}.2024")  # "." is the hierarchy delimiter
        listed = {n: set(flags) for flags, _, n in client.list_folders(name, "*")}
        assert b"\\HasChildren" in listed[name] and f"{name}.2024" in listed
        assert client.folder_status(name, ["MESSAGES", "UNSEEN"]) == {b"MESSAGES": 0, b"UNSEEN": 0}
        client.rename_folder(f"{name}.2024", f"{name}.Old")
        assert folder_dir(served, f"{name}.Old").is_dir() and not folder_dir(served, f"{name}.2024").exists()
        client.delete_folder(f"{name}.Old")
        client.delete_folder(name)
        assert not client.folder_exists(name)
        assert not folder_dir(served, name).exists() and not folder_dir(served, f"{name}.Old").exists()


def test_imapclient_folder_status_counts_what_is_on_disk(served):
    mail_jane(served, unique("one"))
    mail_jane(served, seen := unique("two"))
    with imapclient(served) as client:
        client.select_folder("INBOX")
        client.add_flags(client.search(["SUBJECT", seen]), [b"\\Seen"])
        client.unselect_folder()
        status = client.folder_status("INBOX", ["MESSAGES", "UNSEEN", "UIDNEXT", "UIDVALIDITY"])
    files = files_by_uid(served)
    validity, uidnext = uidlist_head(served)
    assert status == {b"MESSAGES": len(files), b"UNSEEN": sum("S" not in letters(p) for p in files.values()),
                      b"UIDNEXT": uidnext, b"UIDVALIDITY": validity}
    assert status[b"MESSAGES"] == 2 and status[b"UNSEEN"] == 1


def test_imapclient_idle_hears_of_a_message_that_arrives_by_smtp(served):
    with imapclient(served) as client:
        client.select_folder("INBOX")
        client.idle()  # RFC 2177
        mail_jane(served, unique("while you were idling"))  # on disk when this returns
        heard: list = []
        deadline = time.monotonic() + 10
        while not any(kind == b"EXISTS" for _, kind, *_ in heard) and time.monotonic() < deadline:
            heard += client.idle_check(timeout=1)
        client.idle_done()
        assert (1, b"EXISTS") in heard, heard
        assert client.search(["ALL"]) == list(files_by_uid(served))


# == imap-tools ==================================================================================

def imap_tools_mailbox(served) -> MailBoxUnencrypted:
    host, port = served.endpoint(DOMAIN, "imap")
    return MailBoxUnencrypted(host, port, timeout=10).login(JANE, served.password(JANE))


def test_imap_tools_fetches_a_multipart_with_an_attachment_without_marking_it_seen(served):
    subject = unique("The minutes")
    attachment = bytes(range(256)) * 4
    message = plain_message(subject, "The minutes are attached.\n")
    message.add_attachment(attachment, maintype="application", subtype="octet-stream", filename="minutes.bin")
    raw = mail_jane(served, message)
    with imap_tools_mailbox(served) as mailbox:
        [fetched] = mailbox.fetch(AND(subject=subject), mark_seen=False)
        assert fetched.subject == subject and fetched.from_ == JOE and fetched.to == (JANE,)
        assert fetched.text.replace("\r\n", "\n") == "The minutes are attached.\n"
        [part] = fetched.attachments
        assert (part.filename, part.content_type, part.payload) == ("minutes.bin", "application/octet-stream",
                                                                   attachment)
        assert fetched.size_rfc822 == len(raw)
        uid = int(fetched.uid)
        # mark_seen=False is BODY.PEEK[] (RFC 3501 section 6.4.5): neither the server nor the disk has \Seen.
        assert MailMessageFlags.SEEN not in next(mailbox.fetch(AND(uid=str(uid)), mark_seen=False,
                                                               headers_only=True)).flags
        assert "S" not in letters(files_by_uid(served)[uid])
        list(mailbox.fetch(AND(uid=str(uid))))  # the default, mark_seen=True, does set it
        assert MailMessageFlags.SEEN in next(mailbox.fetch(AND(uid=str(uid)), mark_seen=False)).flags
        assert letters(files_by_uid(served)[uid]) == "S"


def test_imap_tools_flags_moves_and_deletes(served):
    mail_jane(served, subject := unique("tidy up"))
    with imap_tools_mailbox(served) as mailbox:
        [uid] = mailbox.uids(AND(subject=subject))
        mailbox.flag(uid, MailMessageFlags.FLAGGED, True)
        assert letters(files_by_uid(served)[int(uid)]) == "F"
        assert MailMessageFlags.FLAGGED in next(mailbox.fetch(AND(uid=uid), mark_seen=False)).flags
        trash_before = set(files_by_uid(served, "Trash"))
        mailbox.move(uid, "Trash")
        assert files_by_uid(served) == {}
        [moved] = set(files_by_uid(served, "Trash")) - trash_before
        mailbox.folder.set("Trash")
        assert mailbox.folder.get() == "Trash"
        assert [m.subject for m in mailbox.fetch(AND(uid=str(moved)), mark_seen=False)] == [subject]
        mailbox.delete(str(moved))  # \Deleted, then EXPUNGE
        assert moved not in files_by_uid(served, "Trash")


def test_imap_tools_lists_folders_and_appends(served):
    draft = f"From: {JANE}\r\nTo: {JOE}\r\nSubject: {unique('note')}\r\n\r\nRemember the milk.\r\n".encode()
    with imap_tools_mailbox(served) as mailbox:
        folders = {f.name: f for f in mailbox.folder.list()}
        assert {"INBOX", "Sent", "Drafts", "Trash"} <= set(folders)
        assert "\\Drafts" in folders["Drafts"].flags and folders["INBOX"].delim == "."
        before = set(files_by_uid(served, "Drafts"))
        status, answer = mailbox.append(draft, "Drafts", flag_set=[MailMessageFlags.DRAFT])
        assert status == "OK", answer
        [uid] = set(files_by_uid(served, "Drafts")) - before
        path = files_by_uid(served, "Drafts")[uid]
        assert path.read_bytes() == draft and letters(path) == "D"


def test_imap_tools_idle_hears_of_new_mail(served):
    with imap_tools_mailbox(served) as mailbox:
        mailbox.idle.start()
        mail_jane(served, unique("idle news"))
        responses = mailbox.idle.poll(timeout=10)
        mailbox.idle.stop()
        assert b"* 1 EXISTS" in responses, responses
        # wait() is start, poll and stop in one: with nothing new it returns when the time is up.
        # (Not with mail that arrived just before it: imap-tools reads "+ idling" through imaplib's
        # buffered file and then polls the socket, so an "* n EXISTS" that came with the "+" stays in
        # that buffer, wait() returns [] at its timeout, and the EXISTS ends up in imaplib's
        # untagged_responses. A client quirk: RFC 2177 lets the server report it at once.)
        assert mailbox.idle.wait(timeout=0.2) == []
        assert len(list(mailbox.fetch(mark_seen=False))) == 1 == len(files_by_uid(served))


# == curl ========================================================================================

def curl(served, path: str, *options: str) -> subprocess.CompletedProcess[bytes]:
    host, port = served.endpoint(DOMAIN, "imap")
    return subprocess.run(
        [program("curl"), "--silent", "--show-error", "--verbose", "--max-time", "20",
         f"imap://{host}:{port}/{path}", "--user", f"{JANE}:{served.password(JANE)}", *options],
        check=False, capture_output=True, timeout=60)


def test_curl_lists_the_folders(served):
    done = curl(served, "")
    assert done.returncode == 0, done.stderr.decode()
    lines = done.stdout.decode().splitlines()
    assert lines[0] == '* LIST (\\HasNoChildren) "." INBOX'
    for name, attribute in (("Sent", "\\Sent"), ("Drafts", "\\Drafts"), ("Trash", "\\Trash")):
        assert any(re.fullmatch(rf'\* LIST \([^)]*\{attribute}[^)]*\) "\." {name}', line) for line in lines), lines


def test_curl_fetches_a_message_by_uid(served):
    raw = mail_jane(served, subject := unique("for curl"))
    uid, path = file_holding(served, subject.encode())
    assert path.read_bytes() == raw
    done = curl(served, f"INBOX;UID={uid}")
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout == raw
    assert letters(files_by_uid(served)[uid]) == "S"  # curl asks for BODY[], which sets \Seen
    missing = curl(served, f"INBOX;UID={uid + 1000}")
    assert missing.returncode != 0 and missing.stdout == b""


def test_curl_custom_commands_uid_search_and_examine(served):
    mail_jane(served, unique("a"))
    mail_jane(served, unique("b"))
    searched = curl(served, "INBOX", "--request", "UID SEARCH ALL")
    assert searched.returncode == 0, searched.stderr.decode()
    assert searched.stdout == b"* SEARCH %s\r\n" % " ".join(map(str, files_by_uid(served))).encode()

    examined = curl(served, "", "--request", "EXAMINE INBOX")
    assert examined.returncode == 0, examined.stderr.decode()
    validity, uidnext = uidlist_head(served)
    out = examined.stdout.decode()
    assert "* 2 EXISTS\r\n" in out and f"[UIDVALIDITY {validity}]" in out and f"[UIDNEXT {uidnext}]" in out
    assert "* OK [PERMANENTFLAGS ()]" in out  # nothing may be changed in a mailbox opened by EXAMINE
    assert re.search(rb"^< A\d+ OK \[READ-ONLY\] ", examined.stderr, re.MULTILINE), examined.stderr.decode()


# == mutt ========================================================================================

_ESCAPES = re.compile(rb"\x1b(\[[0-9;?]*[A-Za-z]|[()][A-Z0-9]|[=>])")


def run_in_terminal(argv: list[str], cwd: Path, env: dict[str, str], timeout: float) -> tuple[int, str]:
    """Run a full-screen program in a pseudo-terminal of 80x24; kill it if it is not done in ``timeout`` s.

    Returns its exit status and the text it drew (escape sequences removed),
    for the assertion messages. The terminal is read all along, so that the
    program never blocks on a full terminal.
    """
    controller, terminal = os.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    process = subprocess.Popen(argv, stdin=terminal, stdout=terminal, stderr=terminal, cwd=cwd, env=env,
                               start_new_session=True)  # its own session: the pty is its controlling terminal
    os.close(terminal)
    screen = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(controller, 65536)
                except OSError:  # EIO: the program has gone and the terminal is closed
                    chunk = b""
                screen += chunk
                if not chunk:
                    break
            elif process.poll() is not None:
                break
        if process.poll() is None:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        pass
    finally:
        os.close(controller)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            pytest.fail(f"{argv[0]} still ran after {timeout} s; its screen:\n"
                        + _ESCAPES.sub(b"", screen).decode("utf-8", "replace"))
    return process.returncode, _ESCAPES.sub(b"", screen).decode("utf-8", "replace")


def test_mutt_opens_the_inbox_reads_a_message_and_marks_it_seen(served, tmp_path):
    mutt = program("mutt")
    subject = unique("Read me in mutt")
    raw = mail_jane(served, plain_message(subject, "A line for mutt to show.\n"))
    uid, path = file_holding(served, subject.encode())
    assert "S" not in letters(path)
    host, port = served.endpoint(DOMAIN, "imap")
    out = tmp_path / "piped.eml"
    muttrc = tmp_path / "muttrc"
    # No caches, no TLS (the lab has none), no questions. (A muttrc error stops mutt at "Press any
    # key to continue": run_in_terminal's time limit ends that, and the failure shows the screen.)
    muttrc.write_text(f"""\
set folder="imap://jane%40{DOMAIN}@{host}:{port}/"
set imap_pass="{served.password(JANE)}"
set spoolfile="+INBOX"
set header_cache=""
set message_cachedir=""
set imap_check_subscribed=no
set mail_check=0
set timeout=1
set wait_key=no
set quit=yes
set move=no
set record=""
set postponed="+Drafts"
set confirmappend=no
set beep=no
set ssl_starttls=no
set ssl_force_tls=no
""")
    keys = f"<display-message><pipe-message>cat > {out}<enter><exit><quit>"
    env = dict(os.environ, TERM="xterm", COLUMNS="80", LINES="24", HOME=str(tmp_path))
    status, screen = run_in_terminal([mutt, "-n", "-F", str(muttrc), "-e", f"push '{keys}'"],
                                     tmp_path, env, timeout=10)
    assert status == 0, screen
    assert out.exists(), screen
    piped = out.read_bytes()
    assert f"Subject: {subject}".encode() in piped and b"A line for mutt to show." in piped, piped
    # Reading it in mutt set \Seen, on the server, in the store: it is in the file's name.
    assert letters(files_by_uid(served)[uid]) == "S"
    assert files_by_uid(served)[uid].read_bytes() == raw  # and nothing else changed
