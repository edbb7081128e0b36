"""Malformed input to a live IMAP session (hypothesis): every bad command gets its BAD or NO, nothing is lost.

A client on a bare socket logs in to the lab's IMAP endpoint as jane,
selects her INBOX (three messages, with flags and a keyword), and sends
generated commands that no server may carry out: random bytes, broken
quoted strings, parentheses and literals, bad sequence sets, unknown
commands, commands of another state, lines over the limit, literals over
the limit. RFC 3501 section 7.1 says how a server refuses: ``<tag> BAD``
for a command it did not understand (``* BAD`` when it cannot tell the
tag), ``<tag> NO`` for one it understood but will not do. So each generated
command must get exactly one such answer and nothing else (no FETCH, no
EXISTS: it did nothing), or, for input the server declares it cannot read
past (a non-synchronizing literal too big to count), a BAD then ``* BYE``
and the end of the connection (RFC 3501 section 7.1.5).

How the client knows an answer is complete: after each generated command
it sends a command of its own (``sync.N CHECK``, valid only in the selected
state) and reads up to that command's tagged OK. Everything before it is
the answer to the generated command, and the OK proves the session is
still selected. A generated command that ends with a synchronizing literal
``{n}`` carries the octets to send if the server asks with ``+``; if the
server refuses the command at once instead (RFC 3501 section 7.5 lets it),
the octets are never sent.

Afterwards jane's Maildir files are byte for byte what they were, with the
same flags in their names, and a fresh imaplib session still logs in,
selects and fetches them. The same is done before login, and a command is
sent one byte per ``send`` to prove that how TCP cuts the stream does not
matter.
"""
from __future__ import annotations

import imaplib
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from helpers import JANE, JOE, lines_until, raw_message
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from mailcourse import Lab, Limits
from mailcourse.protocols.imap.parser import CommandReader
from mailcourse.protocols.imap.session import COMMANDS

JANE_PASSWORD = "jane-password"
LIMIT = 64 * 1024  # the server's max_message_size, so also the most octets of literals per command
MAX_LINE = CommandReader().max_line  # the longest command line the server reads (8192 octets)

MESSAGES = [  # (raw, flags), delivered before any fuzzing
    (raw_message(JOE, JANE, "plain", body=b"Hello.\r\n"), frozenset()),
    (raw_message(JOE, JANE, "flagged and seen", body=b"Read it.\r\n"), frozenset({"\\Seen", "\\Flagged"})),
    # A body that looks like IMAP: nothing in a message may ever be taken for a command.
    (raw_message(JOE, JANE, "smuggler", body=b"a1 LOGOUT\r\n{5}\r\nb1 EXPUNGE\r\n* BYE\r\n"),
     frozenset({"$Label"})),
]


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with Lab.classic(seed=1, limits=Limits(max_message_size=LIMIT)) as lab:
        for raw, flags in MESSAGES:
            lab.server("somewhereelse.com").store.deliver("jane", raw, "INBOX", flags)
        yield lab


def address(lab: Lab) -> tuple[str, int]:
    return lab.server("somewhereelse.com").endpoints["imap"].reachable_address()


def on_disk(lab: Lab) -> dict[str, tuple[bytes, str]]:
    """jane's INBOX as files: unique name -> (bytes, Maildir flag letters), read without the server."""
    box = lab.server("somewhereelse.com").store.root / "jane"
    files = [p for sub in ("new", "cur") for p in (box / sub).iterdir()]
    return {name: (p.read_bytes(), info) for p in files for name, _, info in [p.name.partition(":2,")]}


# -- the client ----------------------------------------------------------------------------------

@dataclass
class Case:
    """One generated command: what to send, and the octets of each synchronizing literal if asked."""

    data: bytes  # the command line(s), CRLF included, with any non-synchronizing literals inline
    continuations: list[bytes] = field(default_factory=list)  # sent after each "+", if one comes
    kind: str = "noise"
    tag: bytes | None = None  # the tag the refusal must carry (None: any tag, or "*")
    closes: bool = False  # input the server cannot read past: BAD, "* BYE", closed


class Exchange:
    """What the server answered to one `Case`, as lines (literals in responses read whole)."""

    def __init__(self, case: Case, lines: list[bytes], closed: bool) -> None:
        self.case, self.lines, self.closed = case, lines, closed

    def __repr__(self) -> str:  # what a failing example prints: the exact exchange
        sent = self.case.data + b"".join(b"[if +] " + c for c in self.case.continuations)
        return f"\n  C: {sent[:600]!r}\n  S: " + "\n  S: ".join(repr(line) for line in self.lines)


class RawSession:
    """An IMAP client on a bare socket that sends exactly what it is given.

    ``selected`` sessions log in and select INBOX first; their sync command
    is CHECK, which only the selected state allows. The others stay in the
    not authenticated state; their sync command is ``SELECT INBOX``, which
    must get BAD there (and would get OK if some input had logged them in).
    """

    def __init__(self, lab: Lab, selected: bool) -> None:
        self.lab, self.selected, self.count = lab, selected, 0
        self.sock = socket.create_connection(address(lab), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.file = self.sock.makefile("rb")
        greeting = self.response()
        assert greeting.startswith(b"* OK "), greeting
        self.closed = False
        if selected:
            self.sock.sendall(f"L LOGIN {JANE} {JANE_PASSWORD}\r\nS SELECT INBOX\r\n".encode())
            line = lines_until(self.response, b"S ")[-1]
            assert line.startswith(b"S OK [READ-WRITE]"), line

    def close(self) -> None:
        self.file.close()
        self.sock.close()

    def response(self) -> bytes:
        """One response line, with the literals it announces: ``* 1 FETCH (BODY[] {5}\\r\\nHello)``."""
        line = self.file.readline()
        while (m := re.search(rb"\{(\d+)\}\r\n\Z", line)) is not None:
            line += self.file.read(int(m.group(1))) + self.file.readline()
        return line

    def send(self, case: Case) -> Exchange:
        self.count += 1
        sync = f"sync.{self.count}".encode()
        lines: list[bytes] = []
        try:
            self.sock.sendall(case.data)
            for octets in case.continuations:
                line = self.response()
                lines.append(line)
                if not line.startswith(b"+"):
                    break  # refused at once: the client must not send the literal (RFC 3501 section 7.5)
                self.sock.sendall(octets)
            if not case.closes:  # (after a BYE the sync command could only meet a reset connection)
                self.sock.sendall(sync + (b" CHECK\r\n" if self.selected else b" SELECT INBOX\r\n"))
            while True:
                line = self.response()
                if not line:  # the server closed the connection
                    self.closed = True
                    return Exchange(case, lines, closed=True)
                if line.startswith(sync + b" "):
                    expected = b" OK " if self.selected else b" BAD "  # CHECK in the selected state only
                    assert line.startswith(sync + expected), (Exchange(case, lines, False), line)
                    return Exchange(case, lines, closed=False)
                lines.append(line)
        except OSError as e:  # a timeout: the server is waiting for something, or is stuck
            raise AssertionError(f"{e!r} after {Exchange(case, lines, False)}") from None


def assert_refused(exchange: Exchange) -> None:
    """Exactly one BAD or NO (tagged, or ``* BAD``); or BAD, ``* BYE`` and the end of the connection."""
    answers = [line for line in exchange.lines if not line.startswith(b"+ ")]
    assert all(line.endswith(b"\r\n") for line in answers), exchange
    if exchange.closed:
        assert len(answers) == 2 and answers[1].startswith(b"* BYE "), exchange
        answers = answers[:1]
        note("fatal: BAD, BYE, closed")
    assert len(answers) == 1, exchange
    m = re.match(rb"(\*|[^ ]+) (BAD|NO) ", answers[0])
    assert m, exchange
    assert exchange.case.tag is None or m.group(1) == exchange.case.tag, exchange
    assert exchange.closed == exchange.case.closes, exchange
    note(f"{exchange.case.kind}: {'untagged' if m.group(1) == b'*' else 'tagged'} {m.group(2).decode()}")


def note(what: str) -> None:
    """Count what happened, for ``--hypothesis-show-statistics`` (outside hypothesis: nothing)."""
    if currently_in_test_context():
        event(what)


@pytest.fixture(scope="module")
def sessions(lab: Lab) -> Iterator[dict[bool, RawSession]]:
    """One selected and one not-logged-in session, reused by every example (reopened when closed)."""
    opened: dict[bool, RawSession] = {}
    yield opened
    for session in opened.values():
        session.close()


def session(sessions: dict[bool, RawSession], lab: Lab, selected: bool) -> RawSession:
    if selected not in sessions or sessions[selected].closed:
        if selected in sessions:
            sessions[selected].close()
        sessions[selected] = RawSession(lab, selected)
    return sessions[selected]


# -- what to send --------------------------------------------------------------------------------

def crlf(line: bytes) -> bytes:
    return line + b"\r\n"


def command(tag: bytes, rest: bytes, kind: str) -> Case:
    """``<tag> <rest>`` as one line: the refusal must carry that tag."""
    return Case(crlf(tag + b" " + rest), kind=kind, tag=tag)


def commands(kind: str, lines: list[bytes]) -> st.SearchStrategy[Case]:
    return st.builds(lambda tag, rest: command(tag, rest, kind), tags, st.sampled_from(lines))


tags = st.from_regex(rb"\A[A-Za-z0-9.]{1,8}\Z").filter(lambda t: not t.startswith(b"sync"))


def line_of(raw: bytes) -> bytes:
    """Random octets as one line: no LF inside, and no "}" at the end (a literal announced by chance)."""
    raw = raw.replace(b"\n", b"")
    return raw + b"x" if raw.endswith(b"}") else raw


noise = st.one_of(
    st.binary(max_size=200).map(line_of),
    st.text(max_size=80).map(lambda t: line_of(t.encode("utf-8", "surrogatepass"))),
    st.builds(lambda tag, rest: line_of(tag + b" " + rest), tags, st.binary(max_size=60)),
).map(lambda line: Case(crlf(line), kind="noise"))

# Arguments a command may well have, then (last, so that nothing after it can make it whole) one
# that the grammar of RFC 3501 section 9 refuses: the parser refuses the line, nothing is done.
VERBS = [b"FETCH", b"UID FETCH", b"STORE", b"SEARCH", b"COPY", b"SELECT", b"LOGIN", b"LIST", b"STATUS",
         b"APPEND", b"NOOP", b"CAPABILITY", b"CLOSE", b"fetch", b"Uid Store", b"SORT", b"UID THREAD"]
GOOD_ARGS = [b"1", b"1:*", b"2,3", b"INBOX", b'"INBOX"', b"(FLAGS)", b"+FLAGS", b"(\\Seen)", b'""', b"NIL",
             b"BODY.PEEK[HEADER.FIELDS (SUBJECT)]", b"{0+}\r\n", b"{3+}\r\nabc"]
BROKEN_ARGS = [
    b'"unterminated', b'"bad \\q escape"', b'"nul \x00 inside"', b'"cr \r inside"', b"(open", b"(a (b)",
    b"a)", b")", b"[open", b"BODY[HEADER.FIELDS (SUBJECT", b"caf\xc3\xa9", b"\x01ctl", b"~{5}", b"{x}",
    b"{5", b"{5}x", b"{-1}", b"{5+ }", b"{}", b"{ 5}", b'"a""b"', b"(1)(2)",
]
broken_syntax = st.builds(
    lambda tag, verb, good, bad: command(tag, b" ".join([verb, *good, bad]), "broken syntax"),
    tags, st.sampled_from(VERBS), st.lists(st.sampled_from(GOOD_ARGS), max_size=3), st.sampled_from(BROKEN_ARGS))

broken_tags = st.sampled_from([b"+tag NOOP", b"ta(g NOOP", b"ta%g NOOP", b"ta{g NOOP", b"ta\"g NOOP",
                               b" NOOP", b"tag", b"tag ", b"tag NO\x01OP", b"tag NO(OP", b"*", b"+", b"",
                               b"DONE", b"* OK hello", b"+ ready"]
                              ).map(lambda line: Case(crlf(line), kind="broken tag"))

# RFC 3501 section 9: sequence-set = (seq-number / seq-range) ["," sequence-set], seq-number = nz-number
# / "*", nz-number a non-zero unsigned 32-bit number without a leading zero.
BAD_SETS = [b"0", b"0:3", b"1:0", b"-1", b"1,,2", b"1:", b":1", b"*:", b"1:2:3", b"a", b"1.5", b"01",
            b"4294967296", b"99999999999999999999999", b",", b"1,", b"$", b"1:*:2", b"\\Seen"]
SET_COMMANDS = [b"FETCH %s (FLAGS)", b"UID FETCH %s FLAGS", b"STORE %s +FLAGS ($Fuzzed)",
                b"UID STORE %s FLAGS.SILENT ()", b"COPY %s Trash", b"UID COPY %s Trash", b"MOVE %s Trash",
                b"UID MOVE %s Trash", b"SEARCH %s", b"UID SEARCH UID %s", b"UID EXPUNGE %s"]
bad_sets = st.builds(lambda tag, verb, bad: command(tag, verb.replace(b"%s", bad), "bad sequence set"),
                     tags, st.sampled_from(SET_COMMANDS), st.sampled_from(BAD_SETS))
# A message number beyond the mailbox (it has 3) names no message (RFC 3501 section 2.3.1.2: they run
# from 1 to the number of messages), unlike a UID, which may name one that is gone.
beyond = st.builds(lambda tag, verb, n: command(tag, verb.replace(b"%s", n), "number beyond the mailbox"),
                   tags, st.sampled_from([b"FETCH %s (FLAGS)", b"STORE %s +FLAGS ($Fuzzed)", b"COPY %s Trash",
                                          b"MOVE %s Trash"]),
                   st.sampled_from([b"4", b"1:4", b"2,5", b"4294967295"]))

command_names = st.from_regex(rb"\A[A-Za-z][A-Za-z0-9-]{0,30}\Z").filter(
    lambda n: n.decode().upper() not in COMMANDS)
unknown = st.one_of(
    st.builds(lambda tag, name, rest: command(tag, name + rest, "unknown command"),
              tags, command_names, st.sampled_from([b"", b" 1", b" INBOX", b" (FLAGS)", b' "x"'])),
    commands("unknown command", [b"UID", b"UID NOOP", b"UID SELECT INBOX", b"UID LOGIN a b", b"UID UID FETCH 1 FLAGS",
                                 b"UID FETCHX 1 FLAGS"]),
)

# Commands that exist, with arguments they do not take. None of them may do anything.
misused = commands("bad arguments", [
    b"FETCH 1", b"FETCH 1 (FLAGS", b"FETCH 1 (NOSUCHITEM)", b"FETCH 1 BODY[NOSUCHSECTION]", b"FETCH 1 BODY[]<5>",
    b"FETCH 1 BODY[]<0.0>", b"FETCH 1 BODY[1.0]", b"FETCH 1 FLAGS extra", b"STORE 1 FLAGS", b"STORE 1 XFLAGS (\\Seen)",
    b"STORE 1 +FLAGS (\\Bogus)", b"STORE 1 +FLAGS (\"\\\\Seen\")", b"SEARCH", b"SEARCH NOSUCHKEY",
    b"SEARCH SUBJECT", b"SEARCH (ALL", b"SEARCH OR ALL", b"SEARCH SINCE 31-Feb-99x", b"SEARCH LARGER x",
    b"SEARCH CHARSET NOSUCH ALL", b"COPY 1", b"COPY 1 NoSuchFolder", b"MOVE 1 NoSuchFolder", b"SELECT",
    b"SELECT INBOX extra", b"STATUS INBOX (NOSUCH)", b"STATUS INBOX ()", b"STATUS INBOX", b"LIST", b"LIST \"\"",
    b"CREATE", b"CREATE INBOX", b"CREATE a..b", b"CREATE ../x", b"DELETE NoSuchFolder", b"DELETE", b"RENAME x",
    b"RENAME NoSuchFolder Other", b"APPEND INBOX", b"APPEND INBOX (\\Seen)", b"APPEND", b"IDLE now", b"ID",
    b"ID x y", b"SUBSCRIBE", b"UNSUBSCRIBE", b"LSUB", b"EXAMINE", b"SUBSCRIBE NoSuchFolder",
    # RFC 5256: SORT (criteria) charset keys, THREAD algorithm charset keys; a charset it lacks is NO.
    b"SORT", b"SORT (DATE)", b"SORT DATE UTF-8 ALL", b"SORT (NOSUCH) UTF-8 ALL", b"SORT (REVERSE) UTF-8 ALL",
    b"SORT (DATE) NOSUCH ALL", b"SORT (DATE) UTF-8 NOSUCHKEY", b"UID SORT (DATE) UTF-8", b"THREAD",
    b"THREAD NOSUCH UTF-8 ALL", b"THREAD REFERENCES UTF-8", b"THREAD (REFERENCES) UTF-8 ALL",
    b"UID THREAD ORDEREDSUBJECT NOSUCH ALL",
    # RFC 5258 and RFC 5819: LIST [(selection)] reference pattern(s) [RETURN (options)].
    b'LIST (NOSUCH) "" *', b'LIST (RECURSIVEMATCH) "" *', b'LIST "" * RETURN (NOSUCH)', b'LIST "" * RETURN',
    b'LIST "" * RETURN (STATUS)', b'LIST "" * RETURN (STATUS (NOSUCH))', b'LIST "" ()', b"LIST ()",
])

# RFC 3501 section 6: LOGIN and AUTHENTICATE only before login, ENABLE only before a mailbox is selected.
wrong_state_selected = commands("wrong state", [
    b"LOGIN jane jane-password", b"AUTHENTICATE PLAIN", b"AUTHENTICATE PLAIN AGphbmUAamFuZS1wYXNzd29yZA==",
    b"ENABLE IDLE", b"login joe joe-password"])


def over_the_line(tag: bytes, size: int, ending: bytes) -> Case:
    """A command line of ``size`` octets, over the limit, perhaps ending with a literal the client sends anyway."""
    line = tag + b" SEARCH " + b"ALL " * (size // 4)
    if ending.endswith(b"+}"):  # a non-synchronizing literal: its octets come at once, a command in disguise
        count = int(ending[1:-2])
        octets = (b"x LOGOUT\r\n" * (count // 10 + 1))[:count]
        return Case(line + ending + b"\r\n" + octets + b"\r\n", kind="line too long, literal+", tag=tag)
    return Case(crlf(line + ending), kind="line too long", tag=tag)


huge_lines = st.builds(over_the_line, tags, st.integers(MAX_LINE, 3 * MAX_LINE),
                       st.sampled_from([b"", b"{10+}", b"{3}", b"{0+}", b"{" + b"9" * 40 + b"}"]))


def literal_case(tag: bytes, head: bytes, count: int, plus: bool, tail: bytes, kind: str) -> Case:
    """``head {count}`` or ``{count+}``, its octets (which look like commands), then ``tail`` to end the command."""
    octets = (b"z1 LOGOUT\r\n" * (count // 11 + 1))[:count]
    line = tag + b" " + head + b"{%d%s}\r\n" % (count, b"+" if plus else b"")
    if plus:
        return Case(line + octets + tail + b"\r\n", kind=kind, tag=tag)
    return Case(line, continuations=[octets + tail + b"\r\n"], kind=kind, tag=tag)


# A literal is fine, the command around it is not.
broken_literals = st.builds(
    literal_case, tags,
    st.sampled_from([b"FETCH 1 ", b"STORE 1 FLAGS ", b"SELECT ", b"NOSUCH ", b"LOGIN ", b"APPEND NoSuchFolder ",
                     b"COPY 1 ", b"SEARCH SUBJECT x ", b"SEARCH "]),
    st.integers(0, 300), st.booleans(),
    st.sampled_from([b" extra)", b" (open", b' "open', b" {x}", b" FLAGS FLAGS"]),
    st.just("broken around a literal"))

# Literals over the limit: [TOOBIG] (RFC 7888 section 4); {n+} octets are read and thrown away.
too_big = st.one_of(
    st.builds(lambda tag, extra, plus: literal_case(tag, b"APPEND INBOX ", LIMIT + extra, plus, b"", "literal too big"),
              tags, st.integers(1, 2000), st.booleans()),
    st.builds(lambda tag, n: Case(crlf(tag + b" APPEND INBOX {%d}" % n), [b"x\r\n"], kind="literal too big", tag=tag),
              tags, st.sampled_from([4294967295, 4294967296, 10**30])),
    # Two literals, each under the limit, together over it.
    st.builds(lambda tag: Case(tag + b" LOGIN {%d+}\r\n" % (LIMIT // 2) + b"j" * (LIMIT // 2)
                               + b" {%d+}\r\n" % (LIMIT // 2 + 1) + b"p" * (LIMIT // 2 + 1) + b"\r\n",
                               kind="literals together too big", tag=tag), tags),
)
# A {n+} whose n cannot be counted (too big, or no number at all): the server cannot find the next
# command, so it says BYE and closes (the parser's docstring, after RFC 7888 section 4).
fatal = st.builds(lambda tag, verb, spec: Case(crlf(tag + b" " + verb + spec), kind="fatal", tag=tag, closes=True),
                  tags, st.sampled_from([b"APPEND INBOX ", b"FETCH ", b"LOGIN x "]),
                  st.sampled_from([b"{4294967296+}", b"{%d+}" % 10**30, b"{+}"]))

selected_cases = st.one_of(noise, broken_syntax, broken_tags, bad_sets, beyond, unknown, misused,
                           wrong_state_selected, huge_lines, broken_literals, too_big, fatal)

# Before login: everything but LOGIN, AUTHENTICATE, CAPABILITY, NOOP, LOGOUT, ID is refused (RFC 3501 6.1, 6.2).
wrong_state_before = commands("wrong state", [
    b"SELECT INBOX", b"EXAMINE INBOX", b"LIST \"\" *", b"STATUS INBOX (MESSAGES)", b"CREATE Fuzz",
    b"DELETE Trash", b"RENAME Trash Bin", b"FETCH 1 FLAGS", b"UID FETCH 1:* BODY[]", b"STORE 1 +FLAGS (\\Deleted)",
    b"EXPUNGE", b"CLOSE", b"UNSELECT", b"IDLE", b"ENABLE IDLE", b"NAMESPACE", b"SEARCH ALL", b"CHECK",
    b"COPY 1 Trash", b"MOVE 1 Trash", b"SUBSCRIBE INBOX", b"LSUB \"\" *", b"SORT (DATE) UTF-8 ALL",
    b"THREAD REFERENCES UTF-8 ALL", b"UID SORT (ARRIVAL) UTF-8 ALL"])
appends_before = st.builds(
    lambda tag, count, plus: literal_case(tag, b"APPEND INBOX ", count, plus, b"", "wrong state, with a literal"),
    tags, st.integers(0, 200), st.booleans())
logins = commands("failed login", [
    b"LOGIN jane wrong-password", b"LOGIN jane", b"LOGIN", b"LOGIN jane jane-password extra",
    b"LOGIN nobody jane-password", b'LOGIN "jane" "jane-passwor"', b"LOGIN jane@somewhereelse.com \"\"",
    b"AUTHENTICATE", b"AUTHENTICATE CRAM-MD5", b"AUTHENTICATE PLAIN !!!notbase64", b"AUTHENTICATE PLAIN =",
    b"AUTHENTICATE PLAIN amFuZQBqYW5lAHdyb25n", b"AUTHENTICATE PLAIN AGphbmUAamFuZS1wYXNzd29yZA== extra",
    b"AUTHENTICATE PLAIN am9lAGphbmUAamFuZS1wYXNzd29yZA==",  # authzid joe: act as someone else
])
# AUTHENTICATE PLAIN without an initial response: "+ ", then the client's line (RFC 3501 section 6.2.2).
sasl_lines = st.builds(
    lambda tag, answer: Case(crlf(tag + b" AUTHENTICATE PLAIN"), [crlf(answer)], kind="failed AUTHENTICATE",
                             tag=tag),
    tags, st.one_of(st.sampled_from([b"*", b"", b"=", b"!!!", b"AGphbmUAd3Jvbmc=", b"a b c"]),
                    st.binary(max_size=100).map(line_of)))

before_login_cases = st.one_of(noise, broken_syntax, broken_tags, unknown, wrong_state_before, appends_before,
                               logins, sasl_lines, huge_lines, too_big, fatal)


# -- the tests -----------------------------------------------------------------------------------

FUZZ = settings(max_examples=80, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@FUZZ
@given(cases=st.lists(selected_cases, min_size=1, max_size=6))
def test_a_selected_session_refuses_malformed_commands_and_changes_nothing(lab, sessions, cases):
    before = on_disk(lab)
    for case in cases:
        assert_refused(session(sessions, lab, selected=True).send(case))
    assert on_disk(lab) == before


@FUZZ
@given(cases=st.lists(before_login_cases, min_size=1, max_size=6))
def test_before_login_malformed_commands_are_refused_and_nobody_is_let_in(lab, sessions, cases):
    before = on_disk(lab)
    for case in cases:
        assert_refused(session(sessions, lab, selected=False).send(case))  # its sync: SELECT gets BAD
    assert on_disk(lab) == before


EXAMPLE = (  # what a mail program sends first, with both kinds of literal
    b"a1 LOGIN {22}\r\n" + JANE.encode() + b" {13+}\r\n" + JANE_PASSWORD.encode() + b"\r\n"
    b'a2 EXAMINE "INBOX"\r\n'
    b"a3 UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])\r\n"
    b'a4 SEARCH CHARSET UTF-8 SUBJECT "and seen" NOT DELETED\r\n'
    b"a5 LOGOUT\r\n"
)


def transcript(lab: Lab, chunks: list[bytes]) -> list[bytes]:
    """Send ``chunks``, one ``send`` each, and return the lines the server wrote, to the end.

    As a client must (RFC 3501 section 7.5), it waits for the "+" after a
    synchronizing literal's ``{n}`` before it sends the octets.
    """
    with socket.create_connection(address(lab), timeout=10) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        received, sent = b"", b""
        for chunk in chunks:
            sock.sendall(chunk)
            sent += chunk
            if re.search(rb"\{\d+\}\r\n\Z", sent):
                while not re.search(rb"(\A|\n)\+ [^\n]*\n\Z", received):
                    more = sock.recv(65536)  # (the socket's timeout ends a silent wait)
                    assert more, f"the connection ended before the server's '+'; got {received!r}"
                    received += more
        while chunk := sock.recv(65536):  # to the end: LOGOUT closes the connection
            received += chunk
    return received.splitlines(keepends=True)


def test_a_command_sent_one_byte_at_a_time_gets_the_same_answers(lab):
    """Every byte boundary, CRLFs and literal counts cut in two: the answers are those to the whole."""
    literal = EXAMPLE.index(b"}\r\n") + 3  # the end of the first line, which announces {22}
    whole = transcript(lab, [EXAMPLE[:literal], EXAMPLE[literal:]])
    one_by_one = transcript(lab, [EXAMPLE[i:i + 1] for i in range(len(EXAMPLE))])
    assert one_by_one == whole
    text = b"".join(whole)
    assert text.count(b"\r\n+ ") == 1  # for {22}; the non-synchronizing {13+} needs none
    assert b"a1 OK " in text and b"a2 OK [READ-ONLY]" in text and b"a5 OK LOGOUT" in text
    assert b"Subject: flagged and seen\r\n" in text and b"* SEARCH 2\r\n" in text
    assert text.count(b" FETCH (") == len(MESSAGES)


def test_the_server_still_serves_and_nothing_was_lost(lab):
    """Runs after the fuzzing (pytest keeps the file's order): a fresh imaplib session reads it all."""
    files = on_disk(lab)
    assert len(files) == len(MESSAGES)
    assert sorted(raw for raw, _ in files.values()) == sorted(raw for raw, _ in MESSAGES)
    client = imaplib.IMAP4(*address(lab), timeout=10)
    client.login(JANE, JANE_PASSWORD)
    assert client.select("INBOX") == ("OK", [str(len(MESSAGES)).encode()])
    status, data = client.uid("FETCH", "1:*", "(FLAGS BODY.PEEK[])")
    assert status == "OK"
    fetched = [(item[1], set(re.search(rb"FLAGS \(([^)]*)\)", item[0]).group(1).split()) - {b"\\Recent"})
               for item in data if isinstance(item, tuple)]
    assert fetched == [(raw, {flag.encode() for flag in flags}) for raw, flags in MESSAGES]
    assert client.logout()[0] == "BYE"
    assert list((lab.server("somewhereelse.com").store.root / "jane" / "tmp").iterdir()) == []  # no half APPEND


# RFC 3501 section 9 gives these commands no arguments at all (command-any = "CAPABILITY" / "LOGOUT" /
# "NOOP"; command-select = "CHECK" / "CLOSE" / "EXPUNGE" / ...; RFC 3691 unselect = "UNSELECT"; RFC 2342
# namespace = "NAMESPACE"), so more is a syntax error, and section 7.1.3 answers those with BAD. (They
# are kept out of the fuzzing above, which would otherwise stop at the first of them.)
NO_ARGUMENTS = [b"CAPABILITY x", b"NOOP x", b"CHECK x", b"EXPUNGE now", b"NAMESPACE x", b"UNSELECT x",
                b"CLOSE x", b"LOGOUT now"]


@pytest.mark.parametrize("line", NO_ARGUMENTS, ids=[line.split()[0].decode() for line in NO_ARGUMENTS])
def test_a_command_that_takes_no_arguments_refuses_some(lab, line):
    client = RawSession(lab, selected=True)
    try:
        assert_refused(client.send(command(b"t1", line, "arguments to a command without any")))
    finally:
        client.close()
    assert len(on_disk(lab)) == len(MESSAGES)


# RFC 2177 section 3 (IDLE): "The server MUST respond with a tagged BAD if the client sends anything
# other than DONE"; RFC 3501 section 6.2.2 (AUTHENTICATE): an invalid response "MUST reject the
# AUTHENTICATE command by sending a tagged BAD". A line too long to read is such a line: the waiting
# command ends with its tagged BAD, and the next line is a command again.
@pytest.mark.parametrize("selected, waiting", [(True, b"IDLE"), (False, b"AUTHENTICATE PLAIN")],
                         ids=["IDLE", "AUTHENTICATE"])
def test_an_overlong_line_where_a_command_waits_for_one_ends_that_command(lab, selected, waiting):
    client = RawSession(lab, selected=selected)
    try:
        case = Case(b"w1 " + waiting + b"\r\n", [b"x" * MAX_LINE + b"\r\n"], kind="overlong answer", tag=b"w1")
        exchange = client.send(case)  # its sync command's answer shows that the session carries on
    finally:
        client.close()
    assert exchange.lines[0].startswith(b"+ "), exchange
    assert_refused(exchange)  # exactly one answer, the tagged BAD
