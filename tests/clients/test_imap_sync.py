"""Client hosts syncing by IMAP: the disconnected access model (RFC 1733, RFC 3501).

Every test runs the devices' real IMAP sessions (imaplib over 127.0.0.1,
through the tap) against the lab's IMAP server, then looks at what a person
could look at: the server's store, each device's cache and journal, the trace.
jane has two devices, her laptop and her phone; each changes mail while
offline, and after both have synced they agree with the server.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from helpers import JANE, JANE_PASSWORD, JOE, raw_message

from mailcourse import ClientHost, Lab, LabError
from mailcourse.clients.imapsync import IMAPMailbox
from mailcourse.protocols.imap import session as session_module
from mailcourse.trace import C2S, S2C, TraceEvent

SEEN, FLAGGED, ANSWERED, DELETED = "\\Seen", "\\Flagged", "\\Answered", "\\Deleted"
State = dict[str, dict[str, frozenset[str]]]  # folder -> subject -> flags


@pytest.fixture
def lab():
    """The classic lab, with a second device for jane (her phone) and a folder "Work" on her server."""
    with Lab.classic(seed=7) as lab:
        lab.add_client(JANE, "jane-phone")
        lab.server("somewhereelse.com").store.create_folder("jane", "Work")
        yield lab


def mail_jane(lab: Lab, *subjects: str) -> None:
    """Final delivery of one message per subject into jane's INBOX on her server."""
    server = lab.server("somewhereelse.com")
    for subject in subjects:
        server.deliver(JANE, JOE, raw_message(JOE, JANE, subject, f"About {subject}.\r\n".encode()))


def on_server(lab: Lab) -> State:
    """jane's folders as her server's store holds them (every folder, even empty ones)."""
    store = lab.server("somewhereelse.com").store
    state: State = {}
    for folder in store.folders("jane"):
        state[folder] = {}
        for info in store.list("jane", folder):
            raw = store.get("jane", info.uid, folder)
            state[folder][_subject(raw)] = info.flags
    return state


def on_device(device: ClientHost) -> State:
    """The same picture from the device's cache, with no network."""
    return {folder: {m.subject: m.flags for m in device.imap.messages(folder)} for folder in device.imap.folders()}


def uids_on_server(lab: Lab, folder: str = "INBOX") -> dict[str, int]:
    store = lab.server("somewhereelse.com").store
    return {_subject(store.get("jane", m.uid, folder)): m.uid for m in store.list("jane", folder)}


def uid(device: ClientHost, subject: str, folder: str = "INBOX") -> int:
    return next(m.uid for m in device.imap.messages(folder) if m.subject == subject)


def _subject(raw: bytes) -> str:
    for line in raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"subject:"):
            return line.split(b":", 1)[1].strip().decode()
    return ""


def fetch_responses(lab: Lab, result) -> int:
    """How many ``* n FETCH`` responses the server sent in a sync's IMAP session."""
    got = b"".join(e.data for e in lab.trace.filter(result.connection) if e.direction == S2C and e.data)
    return len(re.findall(rb"^\* \d+ FETCH ", got, re.MULTILINE))


def wire_bytes(lab: Lab, result) -> int:
    return sum(len(e.data) for e in lab.trace.filter(result.connection) if e.data)


def commands(lab: Lab, result) -> list[str]:
    """The client's command lines of a sync's IMAP session, tags removed."""
    sent = b"".join(e.data for e in lab.trace.filter(result.connection) if e.direction == C2S and e.data)
    return [line.split(b" ", 1)[1].decode() for line in sent.split(b"\r\n") if b" " in line]


@pytest.fixture
def synced(lab):
    """Mail A, B, C, D in jane's INBOX, downloaded by both devices; both then go offline."""
    mail_jane(lab, "A", "B", "C", "D")
    laptop, phone = lab.client("jane-laptop"), lab.client("jane-phone")
    laptop.imap.sync()
    phone.imap.sync()
    laptop.go_offline()
    phone.go_offline()
    return laptop, phone


# -- the first sync, and reading offline ----------------------------------------------------


def switch_off_after(lab: Lab, server, command: bytes, count: int):
    """Take ``server`` off the network once a client has sent ``command`` ``count`` times; returns the unsubscribe.

    Runs on the lab's loop as the tap records the command, so the server goes
    off right after it has answered that command.
    """
    seen = []

    def watch(event: TraceEvent) -> None:
        if event.direction == C2S and event.data and command in event.data:
            seen.append(event)
            if len(seen) == count:
                lab.loop.call_soon_threadsafe(lambda: lab.loop.create_task(off()))

    async def off() -> None:
        # Off the network first, at once; the queue (which waits for relays under way) after.
        for endpoint in server.endpoints.values():
            await endpoint.stop()
        await server.queue.stop()

    return lab.trace.subscribe(watch)

def test_the_first_sync_downloads_every_folder_and_marks_nothing_seen(lab):
    mail_jane(lab, "A", "B")
    laptop = lab.client("jane-laptop")
    assert laptop.imap.messages() == []  # nothing cached yet

    result = laptop.imap.sync()
    assert sorted(m.subject for m in result.downloaded) == ["A", "B"]
    assert on_device(laptop) == on_server(lab)
    assert set(laptop.imap.folders()) == set(on_server(lab)) and laptop.imap.folders()[0] == "INBOX"
    # Downloading is not reading: BODY.PEEK[] leaves \Seen alone (RFC 3501 section 6.4.5).
    assert on_server(lab)["INBOX"] == {"A": frozenset(), "B": frozenset()}
    assert [m.uid for m in laptop.imap.messages()] == sorted(uids_on_server(lab).values())
    # The session is in the trace, from jane's laptop to her server.
    assert result.connection is not None and result.connection.client == "jane-laptop"
    sent = commands(lab, result)
    assert "UID FETCH 1:* (FLAGS)" in sent
    # Both new messages in one command: a batch, not a round trip each.
    assert [c for c in sent if c.startswith("UID FETCH") and "BODY.PEEK[]" in c] == ["UID FETCH 1,2 (BODY.PEEK[])"]


def test_a_second_sync_downloads_nothing_again(lab):
    mail_jane(lab, "A")
    laptop = lab.client("jane-laptop")
    laptop.imap.sync()
    again = laptop.imap.sync()
    assert (again.downloaded, again.removed, again.flags_updated, again.replayed) == ([], [], [], [])
    assert not any("BODY" in c for c in commands(lab, again))


def test_the_cache_reads_offline_and_reading_sets_seen_on_the_server_at_the_next_sync(lab):
    mail_jane(lab, "A", "B")
    laptop = lab.client("jane-laptop")
    laptop.imap.sync()
    laptop.go_offline()

    a = uid(laptop, "A")
    assert laptop.imap.read(a).get_content() == "About A.\n"
    assert laptop.imap.messages()[0].message()["Subject"] == "A"
    assert SEEN in next(m for m in laptop.imap.messages() if m.uid == a).flags
    assert [(c.action, c.flag, c.uid) for c in laptop.imap.pending] == [("+FLAGS", SEEN, a)]
    assert on_server(lab)["INBOX"]["A"] == frozenset()  # the server knows nothing yet

    with pytest.raises(LabError, match="offline"):
        laptop.imap.sync()
    assert len(laptop.imap.pending) == 1

    laptop.go_online()
    result = laptop.imap.sync()
    assert [str(c) for c in result.replayed] == [f"+FLAGS (\\Seen): INBOX UID {a} 'A'"]
    assert on_server(lab)["INBOX"] == {"A": frozenset({SEEN}), "B": frozenset()}
    assert laptop.imap.pending == [] and json.loads((laptop.path / "imap" / "journal.json").read_text()) == []
    assert f"UID STORE {a} +FLAGS (\\Seen)" in commands(lab, result)


def test_changes_are_sent_as_changes_and_the_last_one_to_a_flag_counts(synced, lab):
    laptop, _ = synced
    a = uid(laptop, "A")
    laptop.imap.flag(a)
    laptop.imap.mark_read(a)
    laptop.imap.mark_read(a)  # already read here: nothing new to tell the server
    laptop.imap.unflag(a)
    laptop.imap.mark_answered(a)
    assert [(c.action, c.flag) for c in laptop.imap.pending] == [("+FLAGS", SEEN), ("-FLAGS", FLAGGED),
                                                               ("+FLAGS", ANSWERED)]
    laptop.go_online()
    laptop.imap.sync()
    assert on_server(lab)["INBOX"]["A"] == {SEEN, ANSWERED}
    assert on_device(laptop) == on_server(lab)


def test_the_journal_and_the_cache_survive_a_restart_of_the_device(synced, lab):
    laptop, _ = synced
    laptop.imap.flag(uid(laptop, "A"))
    # The mail program starts again: a new object, the same device folder.
    again = IMAPMailbox(ClientHost(lab, "jane-laptop", JANE, JANE_PASSWORD))
    assert again.pending == laptop.imap.pending
    assert [(m.subject, m.flags) for m in again.messages()] == [(m.subject, m.flags) for m in laptop.imap.messages()]


def test_unknown_messages_and_folders_are_refused_in_words(synced):
    laptop, _ = synced
    with pytest.raises(LabError, match="no message with UID 999"):
        laptop.imap.read(999)
    with pytest.raises(LabError, match="cannot move to 'Nowhere'"):
        laptop.imap.move(uid(laptop, "A"), "Nowhere")
    with pytest.raises(LabError, match="no folder 'Nowhere'"):
        laptop.imap.messages("Nowhere")
    laptop.imap.delete(uid(laptop, "B"))
    with pytest.raises(LabError, match="deleted"):
        laptop.imap.flag(uid(laptop, "B"))
    assert laptop.imap.messages()[1].flags == {DELETED}  # still listed, marked, until the next sync


# -- two devices of one user -----------------------------------------------------------------

@pytest.mark.parametrize("first", ["jane-laptop", "jane-phone"])
def test_two_devices_change_different_things_offline_and_end_identical(synced, lab, first):
    laptop, phone = synced
    laptop.imap.flag(uid(laptop, "A"))
    phone.imap.delete(uid(phone, "B"))
    phone.imap.read(uid(phone, "C"))

    one, two = (laptop, phone) if first == "jane-laptop" else (phone, laptop)
    for device in (one, two, one):  # the first device syncs again, to pull what the second one sent
        device.go_online()
        assert device.imap.sync().conflicts == []

    assert on_server(lab)["INBOX"] == {"A": {FLAGGED}, "C": {SEEN}, "D": frozenset()}
    assert on_device(laptop) == on_device(phone) == on_server(lab)
    assert laptop.imap.pending == phone.imap.pending == []


def test_changes_to_different_flags_of_one_message_both_survive(synced, lab):
    laptop, phone = synced
    laptop.imap.flag(uid(laptop, "A"))
    phone.imap.read(uid(phone, "A"))
    for device in (laptop, phone, laptop):
        device.go_online()
        assert device.imap.sync().conflicts == []
    assert on_server(lab)["INBOX"]["A"] == {FLAGGED, SEEN}
    assert on_device(laptop) == on_device(phone) == on_server(lab)


def phone_reads_a_deletes_b_then_laptop_syncs(laptop, phone):
    """The phone reads A and deletes B and syncs; then the laptop syncs: its `SyncResult`."""
    phone.imap.read(uid(phone, "A"))
    phone.imap.delete(uid(phone, "B"))
    phone.go_online()
    phone.imap.sync()
    laptop.go_online()
    return laptop.imap.sync()


def test_what_another_device_changed_shows_up_as_updated_flags_and_removed_messages(synced, lab):
    laptop, phone = synced
    result = phone_reads_a_deletes_b_then_laptop_syncs(laptop, phone)
    assert [(m.subject, m.flags) for m in result.flags_updated] == [("A", {SEEN})]
    assert [m.subject for m in result.removed] == ["B"]
    assert "B" not in on_device(laptop)["INBOX"]


@pytest.mark.parametrize("first", ["jane-laptop", "jane-phone"])
def test_the_same_flag_changed_both_ways_the_device_that_syncs_last_wins(synced, lab, first):
    laptop, phone = synced
    a = uid(laptop, "A")
    laptop.imap.read(a)  # the laptop reads A ...
    phone.imap.read(a)
    phone.imap.mark_unread(a)  # ... the phone reads it too, and keeps it unread to answer later

    one, two = (laptop, phone) if first == "jane-laptop" else (phone, laptop)
    one.go_online()
    assert one.imap.sync().conflicts == []
    two.go_online()
    second = two.imap.sync()
    if two is phone:
        # The server's \Seen is not what the phone saw at its last sync, and the
        # phone clears it: it says so, and wins.
        assert len(second.conflicts) == 1
        assert second.conflicts[0].startswith("jane-phone: -FLAGS (\\Seen)") and "syncs last" in second.conflicts[0]
    else:
        # The phone's -FLAGS (\Seen) changed nothing on the server (A was unread
        # there), so the laptop cannot tell that anyone else touched the flag; it wins all the same.
        assert second.conflicts == []
    one.imap.sync()

    expected = {SEEN} if two is laptop else frozenset()
    assert on_server(lab)["INBOX"]["A"] == expected
    assert on_device(laptop) == on_device(phone) == on_server(lab)


@pytest.mark.parametrize("first", ["jane-laptop", "jane-phone"])
def test_an_expunge_wins_over_a_flag_change(synced, lab, first):
    laptop, phone = synced
    laptop.imap.flag(uid(laptop, "B"))
    phone.imap.delete(uid(phone, "B"))

    one, two = (laptop, phone) if first == "jane-laptop" else (phone, laptop)
    one.go_online()
    two.go_online()
    conflicts = one.imap.sync().conflicts + two.imap.sync().conflicts
    one.imap.sync()
    assert "B" not in on_server(lab)["INBOX"]
    assert on_device(laptop) == on_device(phone) == on_server(lab)
    if two is laptop:  # the flag change reached the server after the message had gone
        assert len(conflicts) == 1
        assert "+FLAGS (\\Flagged)" in conflicts[0] and "dropped" in conflicts[0]
        assert "no longer in INBOX on the server" in conflicts[0]
    else:
        assert conflicts == []


def test_a_move_of_a_message_deleted_elsewhere_is_dropped_and_reported(synced, lab):
    laptop, phone = synced
    laptop.imap.delete(uid(laptop, "C"))
    phone.imap.move(uid(phone, "C"), "Work")
    laptop.go_online()
    laptop.imap.sync()
    phone.go_online()
    result = phone.imap.sync()
    assert result.replayed == []
    assert len(result.conflicts) == 1 and "move to Work" in result.conflicts[0]
    assert "dropped" in result.conflicts[0]
    assert "C" not in on_server(lab)["INBOX"] and on_server(lab)["Work"] == {}
    assert phone.imap.pending == []
    laptop.imap.sync()
    assert on_device(laptop) == on_device(phone) == on_server(lab)


def test_a_move_of_a_message_moved_elsewhere_first_is_dropped_too(synced, lab):
    laptop, phone = synced
    laptop.imap.move(uid(laptop, "D"), "Work")
    phone.imap.move(uid(phone, "D"), "Work")  # the same, on both devices: one copy only must end there
    laptop.go_online()
    laptop.imap.sync()
    phone.go_online()
    result = phone.imap.sync()
    assert len(result.conflicts) == 1 and "dropped" in result.conflicts[0]
    assert on_server(lab)["Work"] == {"D": frozenset()}
    laptop.imap.sync()
    assert on_device(laptop) == on_device(phone) == on_server(lab)


# -- folders ------------------------------------------------------------------------------------

def test_a_move_takes_the_message_and_its_flags_to_the_other_folder(synced, lab):
    laptop, phone = synced
    d = uid(laptop, "D")
    laptop.imap.flag(d)
    laptop.imap.move(d, "Work")
    assert "D" not in on_device(laptop)["INBOX"]  # gone from INBOX at once, offline

    laptop.go_online()
    result = laptop.imap.sync()
    assert [c.action for c in result.replayed] == ["+FLAGS", "MOVE"]
    assert "D" not in on_server(lab)["INBOX"]
    assert on_server(lab)["Work"] == {"D": {FLAGGED}}
    assert [(m.folder, m.subject) for m in result.downloaded] == [("Work", "D")]
    assert on_device(laptop)["Work"] == {"D": {FLAGGED}}
    assert laptop.imap.messages("Work")[0].message().get_content() == "About D.\n"

    phone.go_online()
    assert [(m.folder, m.subject) for m in phone.imap.sync().removed] == [("INBOX", "D")]
    assert on_device(laptop) == on_device(phone) == on_server(lab)


def test_a_folder_made_on_the_server_appears_after_sync(lab):
    laptop = lab.client("jane-laptop")
    laptop.imap.sync()
    store = lab.server("somewhereelse.com").store
    store.create_folder("jane", "Receipts")
    store.deliver("jane", raw_message(JOE, JANE, "Invoice"), folder="Receipts")
    laptop.imap.sync()
    assert on_device(laptop)["Receipts"] == {"Invoice": frozenset()}


# -- new mail, failures, UIDVALIDITY ---------------------------------------------------------

def test_mail_sent_by_joe_appears_on_janes_device_after_sync(lab):
    joe, laptop = lab.client("joe-laptop"), lab.client("jane-laptop")
    laptop.imap.sync()
    sent = joe.compose(JANE, "Lunch tomorrow", "Noon?")
    joe.send_all()
    assert lab.wait_for_delivery()
    result = laptop.imap.sync()
    assert [m.message()["Message-ID"] for m in result.downloaded] == [sent["Message-ID"]]
    assert [h.protocol for h in lab.trace.hops(sent["Message-ID"])] == ["SMTP", "SMTP", "IMAP"]


def test_a_device_whose_server_is_off_gets_a_clear_error_and_keeps_its_journal(synced, lab):
    laptop, _ = synced
    laptop.imap.flag(uid(laptop, "A"))
    laptop.go_online()
    lab.server("somewhereelse.com").go_offline()
    with pytest.raises(LabError, match="cannot reach mail.somewhereelse.com's IMAP port"):
        laptop.imap.sync()
    assert len(laptop.imap.pending) == 1


def test_a_sync_cut_off_halfway_loses_no_change_and_the_next_sync_completes(synced, lab):
    laptop, _ = synced
    server = lab.server("somewhereelse.com")
    for subject in "ABCD":
        laptop.imap.flag(uid(laptop, subject))
    journal = laptop.imap.pending
    assert len(journal) == 4

    unsubscribe = switch_off_after(lab, server, b"UID STORE", 2)
    laptop.go_online()
    try:
        with pytest.raises(LabError, match="stay in the journal"):
            laptop.imap.sync()
    finally:
        unsubscribe()

    # Nothing is lost: each change is on the server, or still in the journal, or both.
    left = laptop.imap.pending
    assert 1 <= len(left) <= 3 and left == journal[len(journal) - len(left):]
    flagged = {s for s, flags in on_server(lab)["INBOX"].items() if FLAGGED in flags}
    assert {c.subject for c in journal} - flagged <= {c.subject for c in left}
    assert json.loads((laptop.path / "imap" / "journal.json").read_text()) == [
        json.loads(json.dumps(c.__dict__)) for c in left]

    server.go_online()
    result = laptop.imap.sync()
    assert result.replayed == left and result.conflicts == []
    assert laptop.imap.pending == []
    assert all(FLAGGED in flags for flags in on_server(lab)["INBOX"].values())
    assert on_device(laptop) == on_server(lab)


def test_a_download_cut_off_halfway_keeps_what_arrived_and_the_next_sync_fetches_the_rest(lab):
    mail_jane(lab, "A", "B", "C")
    server, laptop = lab.server("somewhereelse.com"), lab.client("jane-laptop")
    laptop.imap.download_batch = 1  # one message per UID FETCH, so that the cut falls between two
    unsubscribe = switch_off_after(lab, server, b"BODY.PEEK[]", 2)
    try:
        with pytest.raises(LabError, match="failed"):
            laptop.imap.sync()
    finally:
        unsubscribe()
    # What arrived is in the cache on disk (a fresh start of the mail program
    # reads it back), and every message the index names has its body there.
    arrived = IMAPMailbox(ClientHost(lab, "jane-laptop", JANE, JANE_PASSWORD)).messages()
    assert 1 <= len(arrived) <= 2
    assert [str(m.message()["Subject"]) for m in arrived] == [m.subject for m in arrived]
    server.go_online()
    laptop.imap.sync()
    assert on_device(laptop) == on_server(lab)
    assert sorted(p.name for p in (laptop.path / "imap" / "bodies" / "INBOX").iterdir()) == sorted(
        m.path.name for m in laptop.imap.messages())


def _renumber(uidlist: Path, uidvalidity: int) -> None:
    """What rebuilding a mailbox's index does: new UIDVALIDITY, UIDs given again (here swapped)."""
    lines = uidlist.read_text().splitlines()[1:]  # after the "V<uidvalidity> N<uidnext>" line
    entries = [line.split(" ", 1) for line in lines if line]
    names = [name for _, name in entries][::-1]
    body = [f"{n} {name}" for n, name in zip(range(1, len(names) + 1), names)]
    uidlist.write_text("\n".join([f"V{uidvalidity} N{len(names) + 1}", *body]) + "\n")


def test_a_new_uidvalidity_makes_the_device_download_the_folder_again(tmp_path):
    with Lab.classic(seed=7, workspace=tmp_path) as lab:
        mail_jane(lab, "A", "B")
        laptop = lab.client("jane-laptop")
        laptop.imap.sync()
        assert [(m.uid, m.subject) for m in laptop.imap.messages()] == [(1, "A"), (2, "B")]
        laptop.imap.flag(1)  # offline-style change to "A", not yet sent
        old = lab.server("somewhereelse.com").store.uidvalidity("jane")

    # While the server is down its administrator rebuilds jane's INBOX index: the
    # same messages get new UIDs, so the UIDVALIDITY must change (RFC 3501 2.3.1.1).
    _renumber(tmp_path / "servers" / "somewhereelse.com" / "mail" / "jane" / "mailcourse-uidlist", old + 1000)

    with Lab.classic(seed=7, workspace=tmp_path) as lab:
        assert lab.server("somewhereelse.com").store.uidvalidity("jane") == old + 1000
        laptop = lab.client("jane-laptop")
        result = laptop.imap.sync()
        # UID 1 now names "B": the old change to UID 1 must not land on it.
        assert len(result.conflicts) == 1 and "UIDVALIDITY" in result.conflicts[0]
        assert sorted(m.subject for m in result.removed) == sorted(m.subject for m in result.downloaded) == ["A", "B"]
        assert [(m.uid, m.subject) for m in laptop.imap.messages()] == [(1, "B"), (2, "A")]
        assert on_device(laptop) == on_server(lab)
        assert on_server(lab)["INBOX"] == {"A": frozenset(), "B": frozenset()}
        assert laptop.imap.read(1).get_content() == "About B.\n"


# -- CONDSTORE (RFC 7162): a sync that asks only for what changed ----------------------------------

def test_with_condstore_a_sync_with_no_news_is_one_examine_per_folder(lab, monkeypatch):
    mail_jane(lab, "A", "B", "C", "D", "E")
    laptop = lab.client("jane-laptop")
    laptop.imap.sync()  # the first sync fetches everything, and remembers each folder's HIGHESTMODSEQ
    quiet = laptop.imap.sync()
    sent = commands(lab, quiet)
    assert not any(c.startswith(("UID FETCH", "UID SEARCH")) for c in sent), sent
    assert sum(c.startswith("EXAMINE") for c in sent) == len(laptop.imap.folders())
    assert fetch_responses(lab, quiet) == 0
    # The same sync against a server without CONDSTORE (an older server) asks for every message's flags.
    monkeypatch.setattr(session_module, "CAPABILITIES",
                        tuple(c for c in session_module.CAPABILITIES if c != "CONDSTORE"))
    plain = laptop.imap.sync()
    assert "UID FETCH 1:* (FLAGS)" in commands(lab, plain)
    assert fetch_responses(lab, plain) == 5  # one line per message, every time
    assert wire_bytes(lab, quiet) < wire_bytes(lab, plain)
    assert (plain.downloaded, plain.removed, plain.flags_updated) == ([], [], [])


def test_with_condstore_only_what_changed_is_fetched_and_expunges_are_still_seen(synced, lab):
    laptop, phone = synced
    mail_jane(lab, "E", "F", "G")
    result = phone_reads_a_deletes_b_then_laptop_syncs(laptop, phone)
    sent = commands(lab, result)
    assert any(re.fullmatch(r"UID FETCH 1:\* \(FLAGS\) \(CHANGEDSINCE \d+\)", c) for c in sent), sent
    assert "UID SEARCH ALL" in sent and "UID FETCH 1:* (FLAGS)" not in sent
    # A (flag changed) and the three new messages: not C and D, which nobody touched.
    assert fetch_responses(lab, result) == 4 + 3  # flags of A, E, F, G; then the bodies of E, F, G
    assert [(m.subject, m.flags) for m in result.flags_updated] == [("A", {SEEN})]
    assert [m.subject for m in result.removed] == ["B"]
    assert sorted(m.subject for m in result.downloaded) == ["E", "F", "G"]
    assert on_device(laptop) == on_server(lab)
    # Nothing changed since: the next sync fetches nothing.
    assert fetch_responses(lab, laptop.imap.sync()) == 0
