"""Random and malformed lines to a live POP3 session (hypothesis).

Every line gets an answer that begins ``+OK``, ``-ERR`` or (inside AUTH) the
``+ `` challenge; the server keeps serving; and afterwards jane's messages
are on disk byte for byte as before, unless the session marked some with
DELE and then said QUIT, in which case exactly those are gone.

The client side knows which +OK replies have more lines after them, as every
POP3 client must (RFC 1939 section 3): CAPA, RETR, TOP, and LIST or UIDL
without an argument.
"""
from __future__ import annotations

import socket
from typing import Iterator

import pytest
from helpers import JANE, JOE, raw_message
from hypothesis import event, given, settings
from hypothesis import strategies as st

from mailcourse import Lab
from mailcourse.protocols.pop3 import MAX_COMMAND_LINE, MAX_SASL_LINE

MESSAGES = [
    raw_message(JOE, JANE, "plain", body=b"Hello.\r\n"),
    raw_message(JOE, JANE, "dots", body=b".\r\n..\r\n.x\r\n"),
    raw_message(JOE, JANE, "long", body=b"y" * 900 + b"\r\n" + b"+OK not a reply\r\n-ERR nor this\r\n"),
]


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with Lab.classic(seed=1) as lab:
        for raw in MESSAGES:
            lab.server("somewhereelse.com").store.deliver("jane", raw)
        yield lab


def maildrop(lab: Lab) -> list[bytes]:
    """jane's messages in POP3 order (UID order), read from their files."""
    return [m.path.read_bytes() for m in lab.server("somewhereelse.com").store.list("jane")]


VERBS = ["USER", "PASS", "APOP", "AUTH", "CAPA", "QUIT", "STAT", "LIST", "RETR", "DELE", "NOOP",
         "RSET", "TOP", "UIDL", "user", "Retr", "XTND", "STLS", ""]
ARGUMENTS = ["", " 1", " 2", " 3", " 4", " 0", " -1", " x", " 1 0", " 2 1", " 3 99999999", " 1 2 3",
             " jane", " jane-password", " PLAIN", " PLAIN =", " PLAIN AGphbmUAamFuZS1wYXNzd29yZA==",
             " GSSAPI", "  1", " 1 ", "\t1", " \x00", " \xff\xfe"]

structured = st.builds(lambda verb, argument: (verb + argument).encode("latin-1"),
                       st.sampled_from(VERBS), st.sampled_from(ARGUMENTS))
noise = st.binary(max_size=300).map(lambda b: b.replace(b"\n", b""))
words = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n"),
                max_size=40).map(lambda t: t.encode("utf-8"))
sensible = st.sampled_from([b"STAT", b"LIST", b"LIST 2", b"UIDL", b"RETR 1", b"TOP 3 1", b"DELE 1",
                            b"DELE 2", b"DELE 3", b"RSET", b"NOOP", b"CAPA", b"QUIT"])
lines = st.lists(st.one_of(sensible, structured, noise, words), max_size=12)


def multiline(sent: bytes) -> bool:
    """Whether a +OK to this command line has more lines after it, as a POP3 client reckons."""
    verb, _, argument = sent.decode("utf-8", "replace").partition(" ")
    verb, arguments = verb.upper(), argument.split()
    return verb in ("CAPA", "RETR", "TOP") or (verb in ("LIST", "UIDL") and not arguments)


class Client:
    def __init__(self, lab: Lab) -> None:
        self.sock = socket.create_connection(lab.server("somewhereelse.com").endpoints["pop3"].address,
                                             timeout=10)
        self.file = self.sock.makefile("rb")
        assert self.file.readline().startswith(b"+OK")  # greeted: the server is still serving
        self.in_auth = False

    def send(self, line: bytes) -> bytes:
        """Send one line and read its whole reply; returns the first line of the reply."""
        self.sock.sendall(line + b"\r\n")
        first = self.file.readline()
        assert first.startswith((b"+OK", b"-ERR", b"+ ")) and first.endswith(b"\r\n"), (line, first)
        limit = MAX_SASL_LINE if self.in_auth else MAX_COMMAND_LINE
        fits = len(line) + 2 <= limit
        if first.startswith(b"+OK") and fits and not self.in_auth and multiline(line):
            while (more := self.file.readline()) != b".\r\n":
                assert more.endswith(b"\n"), (line, more)
        self.in_auth = first.startswith(b"+ ")
        return first

    def close(self) -> bytes:
        """Half-close and read to the end: when this returns, the server has closed the session."""
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:  # the server has closed already (after QUIT)
            pass
        rest = self.file.read()
        self.file.close()
        self.sock.close()
        return rest


@settings(max_examples=150, deadline=None, database=None)  # about a second; no example files on disk
@given(log_in=st.booleans(), script=lines, then_quit=st.booleans())
def test_random_lines_get_ok_or_err_and_no_message_is_lost_or_altered(lab, log_in, script, then_quit):
    before = maildrop(lab)
    client = Client(lab)
    deleted: set[int] = set()
    logged_in = quit_in_transaction = False
    script = [b"USER jane", b"PASS jane-password"] * log_in + script + [b"QUIT"] * then_quit
    for line in script:
        a_command = not client.in_auth and len(line) + 2 <= MAX_COMMAND_LINE  # else -ERR or a SASL response
        first = client.send(line)
        verb, _, argument = line.decode("utf-8", "replace").partition(" ")
        verb, ok = verb.upper(), first.startswith(b"+OK")
        logged_in = logged_in or (ok and b"'s maildrop has" in first)  # PASS, APOP or AUTH succeeded
        if ok and verb == "DELE":
            deleted.add(int(argument.split()[0]))
        if ok and verb == "RSET":
            deleted.clear()
        if a_command and verb == "QUIT":
            quit_in_transaction = logged_in
            break
        if a_command and verb == "STLS" and ok:
            break  # the plain-text conversation is over: the server waits for a TLS hello (RFC 2595)
    assert client.close() == b""  # nothing more than the replies read: none had extra lines
    event("ended by QUIT after DELE" if quit_in_transaction and deleted else
          "logged in" if logged_in else "never logged in")  # see --hypothesis-show-statistics
    expected = [raw for n, raw in enumerate(before, 1) if not (quit_in_transaction and n in deleted)]
    after = maildrop(lab)
    assert after == expected
    # Put back what a DELE + QUIT removed, so that every example starts from the same maildrop.
    for raw in before:
        if raw not in after:
            lab.server("somewhereelse.com").store.deliver("jane", raw)


def test_the_server_still_serves_after_the_fuzzing(lab):
    client = Client(lab)
    assert client.send(b"USER jane").startswith(b"+OK")
    assert client.send(b"PASS jane-password").startswith(b"+OK jane's maildrop has 3 messages")
    assert client.send(b"QUIT").startswith(b"+OK")
    assert client.close() == b""
    assert sorted(maildrop(lab)) == sorted(MESSAGES)
