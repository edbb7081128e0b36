"""The IMAP command parser (mailcourse/protocols/imap/parser.py), fed bytes as a client sends them.

Most examples are the RFC's own (RFC 3501 section 6, "C:" lines). Each test
feeds bytes and checks the events that come out, in order, as the session
would see them.
"""
from __future__ import annotations

import tracemalloc

import pytest

from mailcourse.protocols.imap.parser import CommandReader, parse_line
from mailcourse.protocols.imap.types import Atom, Command, ContinuationRequest, Event, ParseError, RawLine

A = Atom


def read(data: bytes, chunk: int | None = None, **limits: int) -> list[Event]:
    """All events from ``data`` fed in pieces of ``chunk`` octets (all at once if None)."""
    reader = CommandReader(**limits)
    pieces = [data] if chunk is None else [data[i:i + chunk] for i in range(0, len(data), chunk)]
    events: list[Event] = []
    for piece in pieces:
        reader.feed(piece)
        while (event := reader.next_event()) is not None:
            events.append(event)
    return events


def without_continuations(events: list[Event]) -> list[Event]:
    return [e for e in events if not isinstance(e, ContinuationRequest)]


# -- commands as RFC 3501 writes them -------------------------------------------------------------

RFC_EXAMPLES = [
    (b"abcd CAPABILITY", Command("abcd", "CAPABILITY", [])),
    (b"a002 NOOP", Command("a002", "NOOP", [])),
    (b"a001 login SMITH SESAME", Command("a001", "LOGIN", [A("SMITH"), A("SESAME")])),
    (b"A142 SELECT INBOX", Command("A142", "SELECT", [A("INBOX")])),
    (b'A682 LIST "" *', Command("A682", "LIST", [b"", A("*")])),
    (b"A202 LIST ~/Mail/ %", Command("A202", "LIST", [A("~/Mail/"), A("%")])),
    (b"A042 STATUS blurdybloop (UIDNEXT MESSAGES)",
     Command("A042", "STATUS", [A("blurdybloop"), [A("UIDNEXT"), A("MESSAGES")]])),
    (b'A282 SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"',
     Command("A282", "SEARCH", [A("FLAGGED"), A("SINCE"), A("1-Feb-1994"), A("NOT"), A("FROM"), b"Smith"])),
    (b"A003 STORE 2:4 +FLAGS (\\Deleted)",
     Command("A003", "STORE", [A("2:4"), A("+FLAGS"), [A("\\Deleted")]])),
    (b"A654 FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])",
     Command("A654", "FETCH", [A("2:4"), [A("FLAGS"), A("BODY[HEADER.FIELDS (DATE FROM)]")]])),
    (b"A999 UID FETCH 4827313:4828442 FLAGS",
     Command("A999", "UID", [A("FETCH"), A("4827313:4828442"), A("FLAGS")])),
    (b"A005 FETCH 1 BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.100>",
     Command("A005", "FETCH", [A("1"), A("BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.100>")])),
    (b"A006 FETCH 1:*,5 (BODY[] BODY[1.2.MIME] BODY.PEEK[TEXT]<0.2048>)",
     Command("A006", "FETCH", [A("1:*,5"), [A("BODY[]"), A("BODY[1.2.MIME]"), A("BODY.PEEK[TEXT]<0.2048>")]])),
    (b'A007 FETCH 1 BODY[HEADER.FIELDS ("Subject" X-Y)]',  # header-fld-name is an astring
     Command("A007", "FETCH", [A("1"), A('BODY[HEADER.FIELDS ("Subject" X-Y)]')])),
    (b"A008 STORE 1 +FLAGS.SILENT (\\Seen $Forwarded)",
     Command("A008", "STORE", [A("1"), A("+FLAGS.SILENT"), [A("\\Seen"), A("$Forwarded")]])),
    (b"A009 X ((a b) () (c (d))) NIL 42",
     Command("A009", "X", [[[A("a"), A("b")], [], [A("c"), [A("d")]]], A("NIL"), A("42")])),
    (b'A010 LOGIN "ja\\"ne" "back\\\\slash"', Command("A010", "LOGIN", [b'ja"ne', b"back\\slash"])),
    (b"A011 LOGIN jane pass]word", Command("A011", "LOGIN", [A("jane"), A("pass]word")])),
    (b'A012 SELECT "Entw\xc3\xbcrfe"', Command("A012", "SELECT", [b"Entw\xc3\xbcrfe"])),
    (b"[tag] NOOP", Command("[tag]", "NOOP", [])),
]


@pytest.mark.parametrize("line, command", RFC_EXAMPLES, ids=[c.tag for _, c in RFC_EXAMPLES])
def test_rfc_3501_examples(line, command):
    assert read(line + b"\r\n") == [command]


def test_values_have_the_documented_types():
    (command,) = read(b'a1 X atom "quoted" {3+}\r\nlit (\\Seen)\r\n')
    atom, quoted, literal, (flag,) = command.args
    assert type(atom) is Atom and type(flag) is Atom
    assert type(quoted) is bytes and type(literal) is bytes


def test_a_bare_lf_ends_a_line_too():
    assert read(b"a1 NOOP\na2 LOGIN {4+}\njane x\n") == [
        Command("a1", "NOOP", []), Command("a2", "LOGIN", [b"jane", A("x")])]


def test_extra_spaces_are_tolerated():
    assert read(b"a1  FETCH  1  ( FLAGS  UID ) \r\n") == [Command("a1", "FETCH", [A("1"), [A("FLAGS"), A("UID")]])]


# -- literals (RFC 3501 section 4.3 and 7.5, RFC 7888) ---------------------------------------------

MESSAGE = (b"Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\nFrom: Fred Foobar <foobar@Blurdybloop.COM>\r\n"
           b"Subject: afternoon meeting\r\nTo: mooch@owatagu.siam.edu\r\n\r\nHello Joe, do you think we can meet"
           b" at 3:30 tomorrow?\r\n")


def test_append_with_a_synchronizing_literal_as_in_rfc_3501_section_6_3_11():
    reader = CommandReader()
    reader.feed(b"A003 APPEND saved-messages (\\Seen) {%d}\r\n" % len(MESSAGE))
    assert reader.next_event() == ContinuationRequest()  # S: + Ready for literal data
    assert reader.next_event() is None
    reader.feed(MESSAGE[:50])
    assert reader.next_event() is None  # once per literal, then None until the octets are in
    reader.feed(MESSAGE[50:] + b"\r\n")
    assert reader.next_event() == Command("A003", "APPEND", [A("saved-messages"), [A("\\Seen")], MESSAGE])
    assert reader.next_event() is None


def test_login_with_two_literals_asks_only_for_the_synchronizing_one():
    reader = CommandReader()
    events = []
    for part in [b"a1 LOGIN {4}\r\n", b"jane {13+}\r\njane-password", b"\r\n"]:
        reader.feed(part)
        while (event := reader.next_event()) is not None:
            events.append(event)
    assert events == [ContinuationRequest(), Command("a1", "LOGIN", [b"jane", b"jane-password"])]


def test_no_continuation_request_when_the_octets_are_already_there():
    assert read(b"a1 LOGIN {4}\r\njane {4}\r\npass\r\n") == [Command("a1", "LOGIN", [b"jane", b"pass"])]


def test_a_non_synchronizing_literal_never_asks_for_a_continuation():
    data = b"a1 LOGIN {4+}\r\njane {13+}\r\njane-password\r\n"
    assert read(data, chunk=1) == [Command("a1", "LOGIN", [b"jane", b"jane-password"])]


def test_an_empty_synchronizing_literal_is_still_asked_for():
    reader = CommandReader()
    reader.feed(b"a1 LOGIN jane {0}\r\n")
    assert reader.next_event() == ContinuationRequest()  # the client waits even for nothing
    reader.feed(b"\r\n")
    assert reader.next_event() == Command("a1", "LOGIN", [A("jane"), b""])


def test_a_literal_holds_anything_and_the_command_goes_on_after_it():
    body = b'a2 LOGOUT\r\n(")\\{9}\r\n\x00\xff'
    assert read(b"a1 APPEND INBOX {%d+}\r\n%s (x) {1+}\r\ny\r\n" % (len(body), body)) == [
        Command("a1", "APPEND", [A("INBOX"), body, [A("x")], b"y"])]


def test_literal_inside_a_list():
    assert read(b"a1 X ({3+}\r\nabc {1+}\r\nd)\r\n") == [Command("a1", "X", [[b"abc", b"d"]])]


# -- chunking, pipelining, laziness -----------------------------------------------------------------

TRANSCRIPT = (
    b"a1 CAPABILITY\r\n"
    b"a2 LOGIN {4}\r\njane {13}\r\njane-password\r\n"
    b"a3 SELECT INBOX\r\n"
    b"a4 APPEND INBOX (\\Seen) {%d+}\r\n%s\r\n"
    b"a5 FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.100>)\r\n"
    b'a6 LOGIN "unterminated\r\n'
    b"\r\n"
    b"a7 UID STORE 1 +FLAGS (\\Seen)\nz1 LOGOUT\r\n"
) % (len(MESSAGE), MESSAGE)
TRANSCRIPT_EVENTS = [
    Command("a1", "CAPABILITY", []),
    Command("a2", "LOGIN", [b"jane", b"jane-password"]),
    Command("a3", "SELECT", [A("INBOX")]),
    Command("a4", "APPEND", [A("INBOX"), [A("\\Seen")], MESSAGE]),
    Command("a5", "FETCH", [A("1:*"), [A("FLAGS"), A("BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.100>")]]),
    ParseError("a6", "Unterminated quoted string"),
    ParseError(None, "Empty command line"),
    Command("a7", "UID", [A("STORE"), A("1"), A("+FLAGS"), [A("\\Seen")]]),
    Command("z1", "LOGOUT", []),
]


def test_pipelined_commands_in_one_feed_come_out_in_order():
    assert read(TRANSCRIPT) == TRANSCRIPT_EVENTS


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64])
def test_any_chunking_gives_the_same_events(chunk):
    events = read(TRANSCRIPT, chunk=chunk)
    # Only the continuation requests differ: one for each synchronizing literal
    # whose octets are not in yet. Fed octet by octet, that is both of a2's.
    if chunk == 1:
        assert events.count(ContinuationRequest()) == 2
    assert without_continuations(events) == TRANSCRIPT_EVENTS


def test_mbsync_style_pipelined_append_with_literal_plus():
    # mbsync sends with LITERAL+ without waiting: a message whose lines look like commands.
    message = b"Subject: x\r\n\r\na9 LOGOUT\r\n"
    data = (b"5 SELECT INBOX\r\n6 APPEND INBOX (\\Seen) {%d+}\r\n%s\r\n7 UID FETCH 1:* (UID FLAGS)\r\n"
            % (len(message), message))
    assert read(data) == read(data, chunk=1) == [
        Command("5", "SELECT", [A("INBOX")]),
        Command("6", "APPEND", [A("INBOX"), [A("\\Seen")], message]),
        Command("7", "UID", [A("FETCH"), A("1:*"), [A("UID"), A("FLAGS")]]),
    ]


def test_events_are_produced_one_at_a_time():
    reader = CommandReader()
    reader.feed(b"a1 NOOP\r\na2 NOOP\r\n")
    assert reader.next_event() == Command("a1", "NOOP", [])
    assert reader.buffered == len(b"a2 NOOP\r\n")  # not read ahead
    assert reader.next_event() == Command("a2", "NOOP", [])
    assert reader.buffered == 0


def test_expect_line_after_idle_returns_done_unparsed():
    reader = CommandReader()
    reader.feed(b"a1 IDLE\r\nDONE\r\na2 NOOP\r\n")
    assert reader.next_event() == Command("a1", "IDLE", [])
    reader.expect_line()  # the session has sent "+ idling"
    assert reader.next_event() == RawLine(b"DONE")
    assert reader.next_event() == Command("a2", "NOOP", [])  # only the one line was raw


def test_expect_line_after_authenticate_returns_the_base64_response():
    reader = CommandReader()
    reader.feed(b"a1 AUTHENTICATE PLAIN\r\n")
    assert reader.next_event() == Command("a1", "AUTHENTICATE", [A("PLAIN")])
    reader.expect_line()
    assert reader.next_event() is None  # the session sent "+ ", the client has not answered yet
    reader.feed(b"AGphbmUAamFuZS1wYXNzd29yZA==\r\n")
    assert reader.next_event() == RawLine(b"AGphbmUAamFuZS1wYXNzd29yZA==")


def test_a_raw_line_is_not_parsed_at_all():
    reader = CommandReader()
    reader.expect_line()
    reader.feed(b'"( {5+}\r\n\r\n')
    assert reader.next_event() == RawLine(b'"( {5+}')  # no literal: nothing is skipped
    reader.expect_line()
    assert reader.next_event() == RawLine(b"")


def test_done_without_expect_line_is_just_a_bad_command():
    assert read(b"DONE\r\n") == [ParseError("DONE", "Missing command name")]


def test_expect_line_in_the_middle_of_a_command_is_a_mistake():
    reader = CommandReader()
    reader.feed(b"a1 LOGIN {4}\r\n")
    assert reader.next_event() == ContinuationRequest()
    with pytest.raises(RuntimeError):
        reader.expect_line()


# -- errors: one ParseError per bad command, then the next command is read --------------------------

ERRORS = [
    (b"", None, "Empty command line"),
    (b" a1 NOOP", None, "tag"),
    (b"+ NOOP", None, "tag"),
    (b"* NOOP", None, "tag"),
    (b'a"1 NOOP', None, "tag"),
    (b"a1", "a1", "Missing command name"),
    (b"a1 ", "a1", "Missing command name"),
    (b'a1 "NOOP"', "a1", "Missing command name"),
    (b"a1 NO\xffOP", "a1", "command name"),
    (b'a1 LOGIN "jane', "a1", "Unterminated quoted string"),
    (b'a1 LOGIN "ja\\ne" x', "a1", "Invalid escape"),
    (b'a1 LOGIN "ja\x00ne" x', "a1", "NUL"),
    (b'a1 LOGIN "jane""x"', "a1", "space"),
    (b"a1 FETCH 1 (FLAGS", "a1", "Unbalanced parentheses"),
    (b"a1 FETCH 1 FLAGS)", "a1", "Unbalanced parentheses"),
    (b"a1 FETCH 1 ((FLAGS)", "a1", "Unbalanced parentheses"),
    (b"a1 FETCH 1 BODY[HEADER", "a1", "Unbalanced brackets"),
    (b"a1 LOGIN {abc}", "a1", "Invalid literal"),
    (b"a1 LOGIN {}", "a1", "Invalid literal"),
    (b"a1 LOGIN {4} jane", "a1", "Invalid literal"),
    (b"a1 LOGIN {-4}", "a1", "Invalid literal"),
    (b"a1 LOGIN jane p\xe4ss", "a1", "8-bit or control character"),
    (b"a1 LOGIN jane p\x01ss", "a1", "8-bit or control character"),
    (b"a1 LOGIN jane\tpass", "a1", "8-bit or control character"),
    (b"a1 APPEND INBOX ~{5}", "a1", "BINARY"),
]


@pytest.mark.parametrize("line, tag, words", ERRORS, ids=[repr(line) for line, _, _ in ERRORS])
def test_a_bad_command_is_one_parse_error_and_the_reader_resynchronises(line, tag, words):
    events = read(line + b"\r\nz9 NOOP\r\n")
    assert len(events) == 2, events
    error, after = events
    assert isinstance(error, ParseError) and error.tag == tag and not error.fatal
    assert words in error.text
    assert after == Command("z9", "NOOP", [])


def test_error_texts_never_echo_client_bytes():
    # The session puts the text in "<tag> BAD <text>": a CR or LF there would inject a response line.
    for line, _, _ in ERRORS:
        (error, _) = read(line + b"\r\nz9 NOOP\r\n")
        assert error.text.isascii() and "\r" not in error.text and "\n" not in error.text


def test_a_refused_line_with_a_non_synchronizing_literal_skips_its_octets():
    # The client sends the 9 octets without waiting: they must not run as a command.
    assert read(b'a1 LOGIN "jane {9+}\r\nb2 LOGOUT\r\na3 NOOP\r\n') == [
        ParseError("a1", "Unterminated quoted string"), Command("a3", "NOOP", [])]


def test_literal8_plus_is_refused_and_its_octets_skipped():
    data = b"a1 APPEND INBOX ~{11+}\r\nz1 LOGOUT\r\n\r\na2 NOOP\r\n"
    expected = [ParseError("a1", "literal8 (~{n}) belongs to BINARY (RFC 3516), which this server does not support"),
                Command("a2", "NOOP", [])]
    assert read(data) == read(data, chunk=1) == expected


def test_the_rest_of_a_refused_command_is_skipped_literals_and_all():
    # The error is in the first line; two literals and the lines after them belong to the same command.
    data = b'a1 X "bad\\q" {3+}\r\nabc {11+}\r\nz1 LOGOUT\r\n\r\na3 NOOP\r\n'
    for chunk in (None, 1):
        assert read(data, chunk=chunk) == [
            ParseError("a1", 'Invalid escape in a quoted string (only \\" and \\\\ are allowed)'),
            Command("a3", "NOOP", [])]
    data = b"a2 X ( {3+}\r\nabc {3+}\r\n{}}\r\na3 NOOP\r\n"  # here the error shows only at the end
    assert read(data) == [ParseError("a2", "Unbalanced parentheses: a '(' without its ')'"),
                          Command("a3", "NOOP", [])]


# -- limits -------------------------------------------------------------------------------------------

def test_a_line_over_max_line_is_refused_with_its_tag():
    long_line = b"a1 LOGIN jane " + b"x" * 100 + b"\r\n"
    for chunk in (None, 1, 5):
        events = read(long_line + b"a2 NOOP\r\n", chunk=chunk, max_line=64)
        assert len(events) == 2
        assert events[0].tag == "a1" and "too long" in events[0].text and not events[0].fatal
        assert events[1] == Command("a2", "NOOP", [])


def test_max_line_counts_the_crlf():
    line = b"a1 LOGIN " + b"x" * 53  # 62 octets, 64 with CRLF
    assert read(line + b"\r\n", max_line=64) == [Command("a1", "LOGIN", [A("x" * 53)])]
    assert read(line + b"\n", max_line=64, chunk=1) == [Command("a1", "LOGIN", [A("x" * 53)])]
    assert isinstance(read(line + b"x\r\n", max_line=64)[0], ParseError)
    assert isinstance(read(line + b"x\r\n", max_line=64, chunk=1)[0], ParseError)


def test_a_long_line_without_a_usable_tag_is_refused_untagged():
    (error,) = read(b"x" * 100 + b"\r\n", max_line=64)
    assert error.tag is None and "too long" in error.text


def test_max_line_covers_the_whole_command_not_each_segment():
    # Literals are not counted, but the text around them is: a client cannot
    # grow a command without end by cutting it into small pieces.
    data = b"a1 X" + b" {1+}\r\nx" * 20 + b"\r\nz NOOP\r\n"
    (error, after) = read(data, max_line=64)
    assert error.tag == "a1" and "too long" in error.text
    assert after == Command("z", "NOOP", [])


def test_ten_megabytes_without_crlf_keep_the_buffer_small():
    reader = CommandReader(max_line=1024)
    chunk = b"x" * 65536
    events: list[Event] = []
    tracemalloc.start()
    try:
        reader.feed(b"a1 LOGIN jane ")
        base, _ = tracemalloc.get_traced_memory()
        for _ in range(160):  # 10 MiB
            reader.feed(chunk)
            while (event := reader.next_event()) is not None:
                events.append(event)
            assert reader.buffered <= reader.max_line
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak - base < 512 * 1024  # one chunk and some: the 10 MiB were never held
    assert [e.tag for e in events] == ["a1"] and "too long" in events[0].text  # reported at once
    reader.feed(b"\r\na2 NOOP\r\n")
    assert reader.next_event() == Command("a2", "NOOP", [])


def test_a_too_long_line_that_announces_a_literal_plus_skips_it():
    data = b"a1 APPEND INBOX " + b"y" * 100 + b" {9+}\r\nz1 LOGOUT\r\na2 NOOP\r\n"
    for chunk in (None, 1):
        events = read(data, chunk=chunk, max_line=64)
        assert [type(e) for e in events] == [ParseError, Command]
        assert events[1] == Command("a2", "NOOP", [])


def test_a_too_long_raw_line_is_refused_untagged_and_skipped():
    reader = CommandReader(max_line=64)
    reader.expect_line()
    reader.feed(b"A" * 100 + b"{5+}\r\na2 NOOP\r\n")
    error = reader.next_event()
    assert isinstance(error, ParseError) and error.tag is None and "too long" in error.text
    assert reader.next_event() == Command("a2", "NOOP", [])  # a raw line announces no literal


def test_a_too_big_synchronizing_literal_is_refused_without_a_continuation():
    reader = CommandReader(max_literal=100)
    reader.feed(b"a1 APPEND INBOX {101}\r\n")
    error = reader.next_event()
    assert isinstance(error, ParseError) and error.tag == "a1" and not error.fatal
    assert error.text.startswith("[TOOBIG]")
    assert reader.next_event() is None  # no ContinuationRequest: the client sends no octets
    reader.feed(b"a2 APPEND INBOX {100}\r\n")  # back at a command start
    assert reader.next_event() == ContinuationRequest()


def test_a_too_big_non_synchronizing_literal_is_skipped_then_refused():
    octets = b"a9 LOGOUT\r\n" * 10  # 110 octets that look like commands
    data = b"a1 APPEND INBOX {110+}\r\n" + octets + b" rest of the line\r\na2 NOOP\r\n"
    for chunk in (None, 1, 7):
        events = read(data, chunk=chunk, max_literal=100)
        assert [(type(e), e.tag) for e in events] == [(ParseError, "a1"), (Command, "a2")]
        assert events[0].text.startswith("[TOOBIG]") and not events[0].fatal


def test_a_huge_non_synchronizing_literal_is_counted_not_buffered():
    reader = CommandReader(max_literal=1000)
    reader.feed(b"a1 APPEND INBOX {5000000+}\r\n")
    chunk = b"\r\n" * 32768
    for _ in range(76):  # 4980736 octets: not all there yet
        reader.feed(chunk)
        assert reader.next_event() is None  # the error comes once the octets are gone
        assert reader.buffered == 0
    reader.feed(b"x" * (5000000 - 76 * len(chunk)) + b"\r\na2 NOOP\r\n")
    error = reader.next_event()
    assert isinstance(error, ParseError) and error.tag == "a1" and error.text.startswith("[TOOBIG]")
    assert reader.next_event() == Command("a2", "NOOP", [])


def test_max_literal_counts_all_literals_of_a_command():
    (error, after) = read(b"a1 LOGIN {60+}\r\n" + b"j" * 60 + b" {60}\r\nz NOOP\r\n", max_literal=100)
    assert error.tag == "a1" and error.text.startswith("[TOOBIG]")
    assert after == Command("z", "NOOP", [])


def test_a_literal_count_beyond_32_bits():
    # Synchronizing: the client waits, so the reader can go on.
    (error, after) = read(b"a1 APPEND INBOX {99999999999}\r\nz NOOP\r\n")
    assert error.text.startswith("[TOOBIG]") and not error.fatal
    assert after == Command("z", "NOOP", [])
    # Non-synchronizing: the octets are coming and cannot be counted. Nothing more is read.
    for announcement in (b"{99999999999+}", b"{" + b"9" * 5000 + b"+}", b"{12x+}"):
        reader = CommandReader()
        reader.feed(b"a1 APPEND INBOX " + announcement + b"\r\nz NOOP\r\n")
        error = reader.next_event()
        assert isinstance(error, ParseError) and error.fatal and error.tag == "a1"
        reader.feed(b"z NOOP\r\n")
        assert reader.next_event() is None and reader.buffered == 0


# -- parse_line --------------------------------------------------------------------------------------

def test_parse_line_reads_one_command_with_inline_literals():
    assert parse_line(b"a1 LOGIN {4}\r\njane {13+}\r\njane-password\r\n") == Command(
        "a1", "LOGIN", [b"jane", b"jane-password"])
    assert parse_line(b"a1 NOOP\r\na2 LOGOUT\r\n") == Command("a1", "NOOP", [])  # the first event
    assert parse_line(b"a1 X (\r\n") == ParseError("a1", "Unbalanced parentheses: a '(' without its ')'")


def test_parse_line_refuses_an_incomplete_command():
    with pytest.raises(ValueError, match="CRLF"):
        parse_line(b"a1 NOOP")
