"""The mail store: Maildir on disk, plus the UIDs and UIDVALIDITY that IMAP needs.

These tests use `MailStore` directly on a temporary folder and look at the
files, as mutt or any other Maildir reader would.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from mailcourse import MailStore
from mailcourse.store import INBOX, StoreError


def message(n: int | str) -> bytes:
    return f"From: a@example.org\r\nSubject: {n}\r\n\r\nbody {n}\r\n".encode()


@pytest.fixture
def store(tmp_path: Path) -> MailStore:
    s = MailStore(tmp_path / "mail", hostname="test.example")
    s.create_account("joe")
    return s


def files(store: MailStore, account: str = "joe") -> list[Path]:
    box = store.root / account
    return sorted(p for sub in ("new", "cur") for p in (box / sub).iterdir())


def test_uids_ascend_and_are_never_reused(store):
    uids = [store.deliver("joe", message(i)) for i in range(3)]
    assert uids == [1, 2, 3]
    store.delete("joe", 3)
    store.delete("joe", 2)
    assert store.deliver("joe", message(3)) == 4
    assert [m.uid for m in store.list("joe")] == [1, 4]
    assert store.uidnext("joe") == 5
    # ... not even by a store opened afresh after the deletes.
    again = MailStore(store.root)
    assert again.deliver("joe", message(4)) == 5
    again.delete("joe", 5)
    assert MailStore(store.root).deliver("joe", message(5)) == 6


def test_deleted_message_is_gone_from_disk(store):
    uid = store.deliver("joe", message("x"))
    assert len(files(store)) == 1
    store.delete("joe", uid)
    assert files(store) == []
    with pytest.raises(StoreError):
        store.get("joe", uid)
    with pytest.raises(StoreError):
        store.delete("joe", uid)


def test_new_mail_lands_in_new_and_reads_back_exactly(store):
    raw = message("exact") + b"\r\n.leading dot\r\n\xc3\xa9\r\n"
    uid = store.deliver("joe", raw)
    [path] = files(store)
    assert path.parent.name == "new"
    assert ":2," not in path.name  # new/ files carry no info part (maildir(5))
    assert path.read_bytes() == raw
    assert store.get("joe", uid) == raw
    assert list((store.root / "joe" / "tmp").iterdir()) == []


@pytest.mark.parametrize("flags, suffix", [
    ({"\\Seen"}, ":2,S"),
    ({"\\Seen", "\\Flagged"}, ":2,FS"),
    ({"\\Answered", "\\Seen", "\\Draft", "\\Deleted", "\\Flagged"}, ":2,DFRST"),
    (set(), ":2,"),
])
def test_flags_map_to_maildir_info(store, flags, suffix):
    uid = store.deliver("joe", message("f"))
    store.set_flags("joe", uid, flags)
    [path] = files(store)
    assert path.parent.name == "cur"
    assert path.name.endswith(suffix)
    assert store.list("joe")[0].flags == frozenset(flags)
    assert MailStore(store.root).list("joe")[0].flags == frozenset(flags)  # read back from the name


def test_delivering_with_flags_goes_to_cur(store):
    store.deliver("joe", message("sent"), flags={"\\Seen"})
    [path] = files(store)
    assert path.parent.name == "cur" and path.name.endswith(":2,S")


def test_flags_set_by_another_maildir_program_are_read(store):
    uid = store.deliver("joe", message("m"))
    [path] = files(store)
    name = path.name.partition(":2,")[0]
    os.rename(path, store.root / "joe" / "cur" / f"{name}:2,RS")  # as mutt does after a reply
    [info] = MailStore(store.root).list("joe")
    assert info.uid == uid
    assert info.flags == {"\\Answered", "\\Seen"}


def test_internal_date_is_the_file_mtime(store):
    when = 1_000_000_000.0  # 2001-09-09
    uid = store.deliver("joe", message("old"), internaldate=when)
    [path] = files(store)
    assert path.stat().st_mtime == when
    [info] = store.list("joe")
    assert (info.uid, info.internaldate) == (uid, when)
    store.set_flags("joe", uid, {"\\Seen"})  # a rename keeps the date
    assert files(store)[0].stat().st_mtime == when
    assert MailStore(store.root).list("joe")[0].internaldate == when
    # Without a date given, the internal date is the time of delivery, kept as the mtime.
    now = store.deliver("joe", message("now"))
    info = store.list("joe")[1]
    assert info.uid == now
    assert info.internaldate == info.path.stat().st_mtime
    assert MailStore(store.root).list("joe")[1].internaldate == info.internaldate


def test_reopened_store_sees_the_same_uids_and_uidvalidity(store):
    store.create_folder("joe", "Archive")
    for i in range(5):
        store.deliver("joe", message(i))
    store.deliver("joe", message("a"), folder="Archive")
    store.delete("joe", 2)
    before = [(m.uid, m.name) for m in store.list("joe")]
    validity = store.uidvalidity("joe")
    again = MailStore(store.root)
    assert [(m.uid, m.name) for m in again.list("joe")] == before
    assert again.uidvalidity("joe") == validity
    assert again.uidnext("joe") == store.uidnext("joe") == 6
    assert again.folders("joe") == [INBOX, "Archive"]
    assert again.uidvalidity("joe", "Archive") == store.uidvalidity("joe", "Archive")
    assert [m.uid for m in again.list("joe", "Archive")] == [1]


def test_file_dropped_into_new_by_another_program_gets_the_next_uid(store):
    for i in range(3):
        store.deliver("joe", message(i))
    store.delete("joe", 3)
    box = store.root / "joe"
    # Another delivery agent's dance: write into tmp/, then rename into new/.
    tmp = box / "tmp" / "1700000000.P999Q1.otherhost"
    tmp.write_bytes(message("dropped"))
    os.rename(tmp, box / "new" / tmp.name)
    again = MailStore(store.root)
    listed = again.list("joe")
    assert [m.uid for m in listed] == [1, 2, 4]
    assert again.get("joe", 4) == message("dropped")
    assert again.uidvalidity("joe") == store.uidvalidity("joe")
    # The UID is remembered: a third store agrees, and new mail comes after it.
    third = MailStore(store.root)
    assert [m.uid for m in third.list("joe")] == [1, 2, 4]
    assert third.deliver("joe", message("next")) == 5


# Unsafe for an account, but valid IMAP folder names (RFC 3501 section 5.1): "/" is written %2F on disk.
FOLDER_NAMES_WITH_SLASHES = {"a/b", "/abs", "~joe/x"}


@pytest.mark.parametrize("name", ["../x", "a/b", "", "..", ".", ".hidden", "x/../../etc",
                                  "/abs", "a\x00b", "a\nb", "x\n", "x\r\n", "~joe/x", "..\\x", "x" * 200])
def test_unsafe_account_and_folder_names_are_refused(store, tmp_path, name):
    with pytest.raises(StoreError):
        store.create_account(name)
    if name not in FOLDER_NAMES_WITH_SLASHES:
        with pytest.raises(StoreError):
            store.create_folder("joe", name)
        with pytest.raises(StoreError):
            store.deliver("joe", message("x"), folder=name)
    with pytest.raises(StoreError):
        store.deliver(name, message("x"))
    with pytest.raises(StoreError):
        store.list(name)
    assert not store.has_account(name)
    # Nothing was written outside the store, nor inside it.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mail"]
    assert store.accounts() == ["joe"]
    assert store.folders("joe") == [INBOX]


@pytest.mark.parametrize("name", ["a/b", "/abs", "~joe/x", "foo\\bar", "50%", "*", 'say "hi"', "a:b?<c>|",
                                  "Work.a/b", "%2F"])
def test_every_printable_folder_name_is_kept_inside_the_account(store, tmp_path, name):
    # RFC 3501 section 5.1 (RFC 9051 too) allows any printable name; Dovecot accepts foo\bar.
    # What a file system cannot hold goes %XX on disk, so no name leaves <account>/.<name>.
    store.create_folder("joe", name)
    store.deliver("joe", message("x"), folder=name)
    assert name in store.folders("joe")
    assert [m.uid for m in store.list("joe", name)] == [1]
    account = tmp_path / "mail" / "joe"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mail"]
    assert sorted(p.name for p in (tmp_path / "mail").iterdir()) == ["joe"]
    made = [p.name for p in account.iterdir() if p.name.startswith(".")]
    assert len(made) == 1 and not set(made[0]) & set('/\\:*?"<>|')
    store.rename_folder("joe", name, name + "2")
    assert name + "2" in store.folders("joe") and name not in store.folders("joe")
    store.delete_folder("joe", name + "2")
    assert store.folders("joe") == [INBOX]


def test_unknown_account_and_folder_are_errors(store):
    with pytest.raises(StoreError):
        store.deliver("nobody", message("x"))
    with pytest.raises(StoreError):
        store.list("joe", "NoSuchFolder")
    with pytest.raises(StoreError):
        store.get("joe", 99)


def test_concurrent_deliveries_get_distinct_uids(store):
    results: dict[int, bytes] = {}
    lock = threading.Lock()
    errors: list[BaseException] = []
    start = threading.Barrier(8, timeout=30)

    def worker(t: int) -> None:
        try:
            start.wait()
            for i in range(50):
                raw = message(f"{t}-{i}")
                uid = store.deliver("joe", raw)
                with lock:
                    assert uid not in results
                    results[uid] = raw
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(t,), daemon=True) for t in range(8)]
    run_all(threads)
    assert errors == []
    assert sorted(results) == list(range(1, 401))
    for uid, raw in results.items():
        assert store.get("joe", uid) == raw
    assert len(files(store)) == 400
    again = MailStore(store.root)
    assert {m.uid: again.get("joe", m.uid) for m in again.list("joe")} == results


def run_all(threads: list[threading.Thread]) -> None:
    """Start the threads and wait for them; one still busy after a minute is a deadlock in the store."""
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
        assert not th.is_alive(), "a thread is still busy after 60 s: a deadlock in the store?"


def test_concurrent_readers_and_flag_changes(store):
    uids = [store.deliver("joe", message(i)) for i in range(40)]
    errors: list[BaseException] = []

    def flagger() -> None:
        try:
            for _ in range(5):
                for uid in uids:
                    store.set_flags("joe", uid, {"\\Seen"})
                    store.set_flags("joe", uid, set())
        except BaseException as e:  # pragma: no cover
            errors.append(e)

    def reader() -> None:
        try:
            for _ in range(5):
                for uid in uids:
                    assert store.get("joe", uid).startswith(b"From:")
        except BaseException as e:  # pragma: no cover
            errors.append(e)

    threads = [threading.Thread(target=f, daemon=True) for f in (flagger, reader, reader)]
    run_all(threads)
    assert errors == []


def test_subscribers_hear_about_changes(store):
    heard = []
    store.subscribe(lambda account, folder: heard.append((account, folder)))
    uid = store.deliver("joe", message(1))
    store.set_flags("joe", uid, {"\\Seen"})
    store.delete("joe", uid)
    assert heard == [("joe", INBOX)] * 3


def test_store_is_readable_by_another_maildir_reader(store):
    import mailbox

    store.deliver("joe", message("one"))
    store.deliver("joe", message("two"), flags={"\\Seen"})
    md = mailbox.Maildir(store.root / "joe", create=False)
    assert sorted(m["Subject"] for m in md) == ["one", "two"]
    assert sorted(m.get_flags() for m in md) == ["", "S"]


# -- mod-sequences (CONDSTORE, RFC 7162) ------------------------------------------------------------

def modseqs(store: MailStore, folder: str = INBOX) -> dict[int, int]:
    return {m.uid: m.modseq for m in store.list("joe", folder)}


def test_every_change_takes_the_next_modseq_and_no_change_takes_none(store):
    uids = [store.deliver("joe", message(i)) for i in range(3)]
    assert modseqs(store) == {1: 1, 2: 2, 3: 3} and store.highestmodseq("joe") == 3
    assert store.set_flags("joe", uids[0], {"\\Seen"}) == 4
    assert store.set_flags("joe", uids[0], {"\\Seen"}) == 4  # the same flags: no change, no new number
    assert store.set_flags("joe", uids[1], {"$Forwarded"}) == 5  # a keyword counts too
    store.delete("joe", uids[2])
    assert store.highestmodseq("joe") == 6  # an expunge raises HIGHESTMODSEQ though no message has 6
    assert modseqs(store) == {1: 4, 2: 5}
    # UNCHANGEDSINCE: refused, and nothing changed, when the message changed after the number given.
    assert store.set_flags("joe", uids[0], set(), unchanged_since=3) is None
    assert store.list("joe")[0].flags == {"\\Seen"} and store.highestmodseq("joe") == 6
    assert store.set_flags("joe", uids[0], set(), unchanged_since=4) == 7


def test_modseqs_survive_a_restart_and_the_counter_starts_above_anything_handed_out(store):
    for i in range(3):
        store.deliver("joe", message(i))
    store.set_flags("joe", 2, {"\\Flagged"})
    store.delete("joe", 3)
    before, highest = modseqs(store), store.highestmodseq("joe")
    again = MailStore(store.root)
    assert modseqs(again) == before  # kept in the uidlist
    assert again.highestmodseq("joe") >= highest
    new = again.set_flags("joe", 1, {"\\Seen"})
    assert new == again.highestmodseq("joe") and new > highest
    # The files are still plain Maildir, the uidlist still starts with UIDVALIDITY and UIDNEXT.
    head = (store.root / "joe" / "mailcourse-uidlist").read_text().splitlines()[0].split()
    assert head[:2] == [f"V{store.uidvalidity('joe')}", "N4"] and head[2].startswith("M")
    assert [p.name.partition(":2,")[2] for p in files(again)] == ["S", "F"]


def test_a_flag_change_lost_in_a_crash_still_gets_a_modseq_above_everything_handed_out(store):
    uid = store.deliver("joe", message(1))
    handed_out = store.set_flags("joe", uid, {"\\Seen"})  # a client may have seen this number
    uidlist = store.root / "joe" / "mailcourse-uidlist"
    lines = uidlist.read_text().splitlines(keepends=True)
    uidlist.write_text("".join(lines[:-1]))  # the crash: the appended line never reached the disk
    again = MailStore(store.root)
    [info] = again.list("joe")
    assert info.flags == {"\\Seen"}  # the rename did (the flags live in the file name)
    assert info.modseq > handed_out and again.highestmodseq("joe") >= info.modseq


def test_flags_changed_by_another_maildir_program_get_a_new_modseq(store):
    uid = store.deliver("joe", message(1))
    highest = store.highestmodseq("joe")
    [path] = files(store)
    os.rename(path, path.parent.parent / "cur" / (path.name + ":2,FS"))  # what mutt does
    again = MailStore(store.root)
    assert again.list("joe")[0].flags == {"\\Flagged", "\\Seen"}
    assert modseqs(again)[uid] > highest


def test_an_old_uidlist_without_modseqs_is_read_and_upgraded(store):
    for i in range(2):
        store.deliver("joe", message(i))
    uidlist = store.root / "joe" / "mailcourse-uidlist"
    names = [p.name for p in files(store)]
    uidlist.write_text(f"V{store.uidvalidity('joe')} N3\n1 {names[0]}\n2 {names[1]}\n")  # the format before CONDSTORE
    again = MailStore(store.root)
    assert [m.uid for m in again.list("joe")] == [1, 2]
    assert sorted(modseqs(again).values()) == [1, 2] and again.highestmodseq("joe") == 2
    assert MailStore(store.root).highestmodseq("joe") >= 2


def test_flag_changes_append_to_the_uidlist_which_is_compacted_now_and_then(store):
    uid = store.deliver("joe", message(1))
    uidlist = store.root / "joe" / "mailcourse-uidlist"
    for i in range(300):
        store.set_flags("joe", uid, {"\\Seen"} if i % 2 == 0 else set())
    assert len(uidlist.read_text().splitlines()) < 150  # a log, compacted: not 300 lines
    assert modseqs(MailStore(store.root)) == {uid: store.highestmodseq("joe")}
