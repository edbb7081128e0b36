"""A client host fetching mail by POP3: the offline access model (RFC 1939).

Every test runs the device's real POP3 session (poplib over 127.0.0.1,
through the tap) against the lab's POP3 server, then looks at what a person
could look at: the server's Maildir, the device's local store, the trace.
"""
from __future__ import annotations

import poplib

import pytest
from helpers import JANE, JANE_PASSWORD, JOE, maildir_messages, raw_message, subject_of

from mailcourse import ClientHost, Lab, LabError
from mailcourse.trace import C2S, S2C, TraceEvent


@pytest.fixture
def lab():
    """The classic lab, with a second device for jane: her phone."""
    with Lab.classic(seed=4) as lab:
        lab.add_client(JANE, "jane-phone")
        yield lab


def mail_jane(lab: Lab, *subjects: str) -> None:
    """Final delivery of one message per subject into jane's INBOX on her server."""
    server = lab.server("somewhereelse.com")
    for subject in subjects:
        server.deliver(JANE, JOE, raw_message(JOE, JANE, subject, f"About {subject}.\r\n".encode()))


def on_server(lab: Lab) -> list[str]:
    """Subjects in jane's Maildir, read from the server's disk."""
    return sorted(subject_of(raw) for raw in maildir_messages(lab.server("somewhereelse.com"), "jane"))


def subjects(messages) -> list[str]:
    return sorted(str(m["Subject"]) for m in messages)


def local_files(device: ClientHost) -> list[bytes]:
    """The raw bytes of every message in the device's local store, oldest first."""
    store = device.local_store
    account = device.address.partition("@")[0]
    return [store.get(account, m.uid) for m in store.list(account)]


# -- download and delete: the classic offline model ---------------------------------------

def test_download_and_delete_empties_the_maildrop_and_the_mail_reads_offline(lab):
    mail_jane(lab, "one", "two")
    jane = lab.client("jane-laptop")
    result = jane.fetch_pop3()
    assert subjects(result.downloaded) == ["one", "two"]
    assert (result.deleted, result.left_on_server) == (2, 0)
    assert on_server(lab) == []

    jane.go_offline()
    assert subjects(jane.local_messages()) == ["one", "two"]
    assert jane.local_messages()[0].get_content() == "About one.\n"
    with pytest.raises(LabError, match="offline"):
        jane.fetch_pop3()


def test_a_message_sent_by_joe_travels_to_janes_device(lab):
    joe, jane = lab.client("joe-laptop"), lab.client("jane-laptop")
    sent = joe.compose(JANE, "Lunch tomorrow", "Noon?")
    joe.send_all()
    assert lab.wait_for_delivery()
    result = jane.fetch_pop3()
    assert [m["Message-ID"] for m in result.downloaded] == [sent["Message-ID"]]
    # The last hop of the message is the POP3 session, from jane's server to her device.
    hops = lab.trace.hops(sent["Message-ID"])
    assert hops[-1] is result.connection
    assert [h.protocol for h in hops] == ["SMTP", "SMTP", "POP3"]


def test_fetching_an_empty_maildrop_downloads_nothing(lab):
    result = lab.client("jane-laptop").fetch_pop3()
    assert (result.downloaded, result.deleted, result.left_on_server) == ([], 0, 0)


# -- keep on server, and UIDL -------------------------------------------------------------

def test_keep_on_server_leaves_the_mail_and_a_second_fetch_downloads_nothing(lab):
    mail_jane(lab, "one", "two")
    jane = lab.client("jane-laptop")
    first = jane.fetch_pop3(keep_on_server=True)
    assert subjects(first.downloaded) == ["one", "two"]
    assert (first.deleted, first.left_on_server) == (0, 2)
    assert on_server(lab) == ["one", "two"]
    assert len(jane.seen_uidls) == 2

    second = jane.fetch_pop3(keep_on_server=True)
    assert (second.downloaded, second.deleted, second.left_on_server) == ([], 0, 2)
    assert subjects(jane.local_messages()) == ["one", "two"]  # no copy twice


def test_new_mail_is_fetched_once_and_the_old_is_not_fetched_again(lab):
    mail_jane(lab, "old")
    jane = lab.client("jane-laptop")
    jane.fetch_pop3(keep_on_server=True)
    mail_jane(lab, "new")
    assert subjects(jane.fetch_pop3(keep_on_server=True).downloaded) == ["new"]
    assert subjects(jane.local_messages()) == ["new", "old"]


def test_delete_mode_also_deletes_what_an_earlier_session_kept(lab):
    mail_jane(lab, "one")
    jane = lab.client("jane-laptop")
    jane.fetch_pop3(keep_on_server=True)
    result = jane.fetch_pop3()
    assert (result.downloaded, result.deleted, result.left_on_server) == ([], 1, 0)
    assert on_server(lab) == []
    assert subjects(jane.local_messages()) == ["one"]
    assert jane.seen_uidls == set()  # nothing of it is left on the server to remember


def test_seen_uidls_are_kept_on_the_devices_disk(lab):
    mail_jane(lab, "one", "two")
    jane = lab.client("jane-laptop")
    jane.fetch_pop3(keep_on_server=True)
    # The mail program starts again: a new object, the same device folder.
    again = ClientHost(lab, "jane-laptop", JANE, JANE_PASSWORD)
    assert again.seen_uidls == jane.seen_uidls
    assert again.fetch_pop3(keep_on_server=True).downloaded == []
    assert subjects(again.local_messages()) == ["one", "two"]


def test_uidls_survive_a_restart_of_the_whole_lab(tmp_path):
    with Lab.classic(seed=4, workspace=tmp_path) as lab:
        mail_jane(lab, "one")
        assert len(lab.client("jane-laptop").fetch_pop3(keep_on_server=True).downloaded) == 1
    with Lab.classic(seed=4, workspace=tmp_path) as lab:
        mail_jane(lab, "two")
        jane = lab.client("jane-laptop")
        assert subjects(jane.fetch_pop3(keep_on_server=True).downloaded) == ["two"]
        assert subjects(jane.local_messages()) == ["one", "two"]


# -- two devices, one mailbox ------------------------------------------------------------

def test_after_the_laptop_downloads_and_deletes_the_phone_finds_nothing(lab):
    mail_jane(lab, "one", "two")
    laptop, phone = lab.client("jane-laptop"), lab.client("jane-phone")
    assert len(laptop.fetch_pop3().downloaded) == 2
    result = phone.fetch_pop3()
    assert (result.downloaded, result.left_on_server) == ([], 0)
    assert phone.local_messages() == []
    assert subjects(laptop.local_messages()) == ["one", "two"]


def test_with_keep_on_server_each_device_gets_every_message_once(lab):
    mail_jane(lab, "one", "two")
    laptop, phone = lab.client("jane-laptop"), lab.client("jane-phone")
    assert subjects(laptop.fetch_pop3(keep_on_server=True).downloaded) == ["one", "two"]
    assert subjects(phone.fetch_pop3(keep_on_server=True).downloaded) == ["one", "two"]

    mail_jane(lab, "three")
    for device in (laptop, phone):
        assert subjects(device.fetch_pop3(keep_on_server=True).downloaded) == ["three"]
        assert device.fetch_pop3(keep_on_server=True).downloaded == []
        assert subjects(device.local_messages()) == ["one", "three", "two"]
    assert on_server(lab) == ["one", "three", "two"]


# -- what the trace shows ----------------------------------------------------------------

def test_each_fetch_is_one_short_pop3_connection_in_the_devices_name(lab):
    mail_jane(lab, "one")
    mark = lab.trace.mark()
    laptop, phone = lab.client("jane-laptop"), lab.client("jane-phone")
    first = laptop.fetch_pop3(keep_on_server=True)
    second = phone.fetch_pop3()
    sessions = lab.trace.sessions(protocol="POP3", since=mark)
    assert sessions == [first.connection, second.connection]
    assert [(c.client, c.server, c.service) for c in sessions] == [
        ("jane-laptop", "mail.somewhereelse.com", "pop3"),
        ("jane-phone", "mail.somewhereelse.com", "pop3"),
    ]
    assert all(c.closed is not None for c in sessions)  # short connections: closed after QUIT

    commands = [line for direction, line in lab.trace.lines(second.connection) if direction == C2S]
    assert commands == [f"USER {JANE}", "PASS ********", "UIDL", "RETR 1", "DELE 1", "QUIT"]
    transcript = lab.trace.transcript(sessions)
    assert JANE_PASSWORD not in transcript
    assert "C: PASS ********" in transcript


def test_lab_pop3_is_poplib_labelled_with_the_device(lab):
    endpoint = lab.server("somewhereelse.com").endpoints["pop3"]
    mark = lab.trace.mark()
    client = lab.pop3("jane-phone", endpoint.address)  # a (host, port) works too
    try:
        assert isinstance(client, poplib.POP3)
        assert client.getwelcome().startswith(b"+OK")
        client.user(JANE)
        client.pass_(JANE_PASSWORD)
        assert client.stat() == (0, 0)
        client.quit()
    finally:
        client.close()
    [conn] = lab.trace.sessions(protocol="POP3", since=mark)
    assert conn.client == "jane-phone"


# -- the bytes of a message ---------------------------------------------------------------

def test_lines_beginning_with_a_dot_arrive_byte_identical(lab):
    body = b"A dot alone next:\r\n.\r\n..two dots\r\n.leading dot\r\n...\r\nend\r\n"
    lab.server("somewhereelse.com").deliver(JANE, JOE, raw_message(JOE, JANE, "dots", body))
    [stored] = maildir_messages(lab.server("somewhereelse.com"), "jane")
    jane = lab.client("jane-laptop")
    result = jane.fetch_pop3()
    assert local_files(jane) == [stored]
    assert result.downloaded[0].get_content().endswith(".\n..two dots\n.leading dot\n...\nend\n")
    # On the wire the server stuffed an extra dot (RFC 1939 section 3); poplib took it off.
    wire = b"".join(e.data for e in lab.trace.filter(result.connection, kind="data") if e.direction == S2C)
    assert b"\r\n..\r\n...two dots\r\n..leading dot\r\n....\r\n" in wire


# -- when the session fails ----------------------------------------------------------------

def test_a_dropped_connection_deletes_nothing_and_keeps_what_was_downloaded(lab):
    mail_jane(lab, "one", "two")
    endpoint = lab.server("somewhereelse.com").endpoints["pop3"]

    def cut_the_link(event: TraceEvent) -> None:
        # Runs on the lab's thread as the tap records "RETR 2": the link goes
        # down before the server can answer, as if a cable were pulled.
        if event.kind == "data" and event.direction == C2S and event.data.startswith(b"RETR 2"):
            for tap in list(endpoint.active):
                if tap.conn is event.connection and tap.transport is not None:
                    tap.transport.abort()

    jane = lab.client("jane-laptop")
    unsubscribe = lab.trace.subscribe(cut_the_link)
    try:
        with pytest.raises(LabError, match="deletes nothing"):
            jane.fetch_pop3()
    finally:
        unsubscribe()
    assert on_server(lab) == ["one", "two"]  # no QUIT, no UPDATE state, nothing deleted
    assert subjects(jane.local_messages()) == ["one"]  # the copy saved before the cut stays
    assert len(jane.seen_uidls) == 1

    # The lock went with the connection. The next session fetches only the
    # message the device lacks, then deletes both.
    result = jane.fetch_pop3()
    assert subjects(result.downloaded) == ["two"]
    assert (result.deleted, result.left_on_server) == (2, 0)
    assert on_server(lab) == []
    assert subjects(jane.local_messages()) == ["one", "two"]


def test_a_locked_maildrop_makes_the_fetch_fail_and_changes_nothing(lab):
    mail_jane(lab, "one")
    holder = lab.pop3("jane-phone", lab.server("somewhereelse.com").endpoints["pop3"])
    try:
        holder.user(JANE)
        holder.pass_(JANE_PASSWORD)  # the phone's session holds the maildrop
        with pytest.raises(LabError):
            lab.client("jane-laptop").fetch_pop3()
    finally:
        holder.quit()
    assert on_server(lab) == ["one"]
    assert lab.client("jane-laptop").local_messages() == []
    assert lab.client("jane-laptop").fetch_pop3().deleted == 1  # once the phone let go


def test_a_wrong_password_is_a_lab_error(lab):
    mail_jane(lab, "one")
    thief = ClientHost(lab, "thief", JANE, "not-the-password")
    with pytest.raises(LabError):
        thief.fetch_pop3()
    assert on_server(lab) == ["one"]


def test_an_offline_server_is_a_lab_error(lab):
    lab.server("somewhereelse.com").go_offline()
    with pytest.raises(LabError, match="cannot reach"):
        lab.client("jane-laptop").fetch_pop3()
