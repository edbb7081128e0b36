"""The reader of recorded traffic (mailcourse.protocols.exchanges), fed the RFCs' example sessions.

Each session is written as the RFCs print them, ``S:`` and ``C:`` lines; the
reader must give back each command with exactly the replies that answer it.
"""
from __future__ import annotations

import re

import pytest

from mailcourse.protocols.exchanges import (ANSWER, CHALLENGE, CIPHERTEXT, COMMAND, MESSAGE, PUSHED, REPLY, C2S,
                                            S2C, Exchange, Part, read_exchanges, read_http)
from mailcourse.protocols.http import REQUEST, RESPONSE, read_messages
from mailcourse.trace import Trace


def session(text: str) -> list[tuple[str, str]]:
    """``S: line`` / ``C: line`` as (direction, line) pairs; ``C:`` alone is an empty line."""
    found = []
    for line in text.splitlines():
        match = re.match(r"^\s*([CS]):(?: (.*))?$", line)
        if match:
            found.append((C2S if match.group(1) == "C" else S2C, match.group(2) or ""))
    return found


def said(exchanges: list[Exchange]) -> list[tuple[str, list[list[str]]]]:
    """Each exchange as (command, the lines of each reply)."""
    return [(e.command, e.replies) for e in exchanges]


# -- SMTP ----------------------------------------------------------------------------------


RFC5321_D1 = """
S: 220 foo.com Simple Mail Transfer Service Ready
C: EHLO bar.com
S: 250-foo.com greets bar.com
S: 250-8BITMIME
S: 250-SIZE
S: 250-DSN
S: 250 HELP
C: MAIL FROM:<Smith@bar.com>
S: 250 OK
C: RCPT TO:<Jones@foo.com>
S: 250 OK
C: RCPT TO:<Green@foo.com>
S: 550 No such user here
C: RCPT TO:<Brown@foo.com>
S: 250 OK
C: DATA
S: 354 Start mail input; end with <CRLF>.<CRLF>
C: Blah blah blah...
C: ...etc. etc. etc.
C: .
S: 250 OK
C: QUIT
S: 221 foo.com Service closing transmission channel
"""


def test_rfc5321_d1_a_typical_transaction() -> None:
    found = read_exchanges("SMTP", session(RFC5321_D1))
    assert said(found) == [
        ("", [["220 foo.com Simple Mail Transfer Service Ready"]]),
        ("EHLO bar.com", [["250-foo.com greets bar.com", "250-8BITMIME", "250-SIZE", "250-DSN", "250 HELP"]]),
        ("MAIL FROM:<Smith@bar.com>", [["250 OK"]]),
        ("RCPT TO:<Jones@foo.com>", [["250 OK"]]),
        ("RCPT TO:<Green@foo.com>", [["550 No such user here"]]),
        ("RCPT TO:<Brown@foo.com>", [["250 OK"]]),
        ("DATA", [["354 Start mail input; end with <CRLF>.<CRLF>"], ["250 OK"]]),
        ("QUIT", [["221 foo.com Service closing transmission channel"]]),
    ]
    assert [(e.verb, e.argument, e.status, e.ok) for e in found[1:]] == [
        ("EHLO", "bar.com", "250", True), ("MAIL", "FROM:<Smith@bar.com>", "250", True),
        ("RCPT", "TO:<Jones@foo.com>", "250", True), ("RCPT", "TO:<Green@foo.com>", "550", False),
        ("RCPT", "TO:<Brown@foo.com>", "250", True), ("DATA", "", "250", True), ("QUIT", "", "221", True)]
    data = found[6]
    assert data.data == ["Blah blah blah...", "...etc. etc. etc."]
    assert data.parts == [Part(C2S, COMMAND, ["DATA"], 15), Part(S2C, REPLY, [data.replies[0][0]], 16),
                          Part(C2S, MESSAGE, ["Blah blah blah...", "...etc. etc. etc.", "."], 17),
                          Part(S2C, REPLY, ["250 OK"], 20)]
    assert data.last_client_line == "." and data.final == "250 OK"
    assert all(e.complete for e in found) and found[0].data is None


RFC2920_PIPELINED = """
S: 220 innovation.ties.com SMTP service ready
C: EHLO dbc.mtview.ca.us
S: 250-innovation.ties.com
S: 250 PIPELINING
C: MAIL FROM:<mrose@dbc.mtview.ca.us>
C: RCPT TO:<ned@innosoft.com>
C: RCPT TO:<dan@innosoft.com>
C: RCPT TO:<kvc@innosoft.com>
C: DATA
S: 250 sender <mrose@dbc.mtview.ca.us> OK
S: 250 recipient <ned@innosoft.com> OK
S: 250 recipient <dan@innosoft.com> OK
S: 250 recipient <kvc@innosoft.com> OK
S: 354 enter mail, end with line containing only "."
C: Subject: pipelining
C:
C: ..a line that starts with a dot
C: .
C: QUIT
S: 250 message sent
S: 221 goodbye
"""


def test_rfc2920_pipelined_replies_come_in_command_order() -> None:
    found = read_exchanges("SMTP", session(RFC2920_PIPELINED))
    assert said(found)[2:] == [
        ("MAIL FROM:<mrose@dbc.mtview.ca.us>", [["250 sender <mrose@dbc.mtview.ca.us> OK"]]),
        ("RCPT TO:<ned@innosoft.com>", [["250 recipient <ned@innosoft.com> OK"]]),
        ("RCPT TO:<dan@innosoft.com>", [["250 recipient <dan@innosoft.com> OK"]]),
        ("RCPT TO:<kvc@innosoft.com>", [["250 recipient <kvc@innosoft.com> OK"]]),
        ("DATA", [['354 enter mail, end with line containing only "."'], ["250 message sent"]]),
        ("QUIT", [["221 goodbye"]]),
    ]
    # The message as it crossed: dot-stuffed (RFC 5321 section 4.5.2), without the final ".".
    assert found[6].data == ["Subject: pipelining", "", "..a line that starts with a dot"]
    assert [p.at for p in found[3].parts] == [5, 10]  # RCPT went out at line 5, its reply came at line 10


RFC4954_AUTH = """
S: 220 smtp.example.com ESMTP Server
C: EHLO client.example.com
S: 250-smtp.example.com Hello client.example.com
S: 250-AUTH DIGEST-MD5 CRAM-MD5 PLAIN
S: 250-ENHANCEDSTATUSCODES
S: 250 STARTTLS
C: AUTH PLAIN
S: 334
C: dGVzdAB0ZXN0ADEyMzQ=
S: 235 2.7.0 Authentication successful
C: STARTTLS
S: 220 2.0.0 Ready to start TLS
C: \x16\x03\x01 client hello
S: \x16\x03\x03 server hello
S: more ciphertext
C: 250 looks like a reply, but is ciphertext
"""


def test_rfc4954_auth_with_a_334_challenge_then_starttls_turns_the_rest_opaque() -> None:
    found = read_exchanges("SMTP", session(RFC4954_AUTH))
    auth = found[2]
    assert (auth.command, auth.continuations, auth.final) == (
        "AUTH PLAIN", [("334", ["dGVzdAB0ZXN0ADEyMzQ="])], "235 2.7.0 Authentication successful")
    assert [p.kind for p in auth.parts] == [COMMAND, CHALLENGE, ANSWER, REPLY]
    assert auth.replies == [["235 2.7.0 Authentication successful"]]  # the 334 is a challenge, not a reply
    assert said(found[3:4]) == [("STARTTLS", [["220 2.0.0 Ready to start TLS"]])]
    tls = found[4]
    assert (tls.command, tls.replies) == ("", [])
    assert [(p.direction, p.kind, p.lines) for p in tls.parts] == [
        (C2S, CIPHERTEXT, ["\x16\x03\x01 client hello"]),
        (S2C, CIPHERTEXT, ["\x16\x03\x03 server hello", "more ciphertext"]),
        (C2S, CIPHERTEXT, ["250 looks like a reply, but is ciphertext"])]
    assert len(found) == 5


def test_smtp_cut_in_the_middle_of_a_reply_and_of_data() -> None:
    reply_cut = read_exchanges("SMTP", session("""
        S: 220 mx
        C: EHLO a
        S: 250-mx
        S: 250-PIPELINING
    """))
    assert (reply_cut[1].replies, reply_cut[1].complete, reply_cut[1].status) == (
        [["250-mx", "250-PIPELINING"]], False, "")
    data_cut = read_exchanges("SMTP", session("""
        S: 220 mx
        C: DATA
        S: 354 go ahead
        C: Subject: x
        C:
    """))
    data = data_cut[1]
    assert (data.replies, data.data, data.complete, data.final) == ([["354 go ahead"]], ["Subject: x", ""], False,
                                                                    "354 go ahead")
    assert data.parts[-1] == Part(C2S, MESSAGE, ["Subject: x", ""], 3)


# -- POP3 ----------------------------------------------------------------------------------


RFC1939_SECTION10 = """
S: +OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>
C: APOP mrose c4c9334bac560ecc979e58001b3e22fb
S: +OK mrose's maildrop has 2 messages (320 octets)
C: STAT
S: +OK 2 320
C: LIST
S: +OK 2 messages (320 octets)
S: 1 120
S: 2 200
S: .
C: RETR 1
S: +OK 120 octets
S: Subject: one
S:
S: ..dot-stuffed
S: .
C: DELE 1
S: +OK message 1 deleted
C: QUIT
S: +OK dewey POP3 server signing off (maildrop empty)
"""


def test_rfc1939_section10_status_lines_and_multi_line_responses() -> None:
    found = read_exchanges("POP3", session(RFC1939_SECTION10))
    assert [(e.command, e.final, e.data) for e in found] == [
        ("", "+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>", None),
        ("APOP mrose c4c9334bac560ecc979e58001b3e22fb", "+OK mrose's maildrop has 2 messages (320 octets)", None),
        ("STAT", "+OK 2 320", None),
        ("LIST", "+OK 2 messages (320 octets)", ["1 120", "2 200"]),
        ("RETR 1", "+OK 120 octets", ["Subject: one", "", "..dot-stuffed"]),
        ("DELE 1", "+OK message 1 deleted", None),
        ("QUIT", "+OK dewey POP3 server signing off (maildrop empty)", None),
    ]
    assert found[3].replies == [["+OK 2 messages (320 octets)", "1 120", "2 200", "."]]
    assert [(e.verb, e.argument, e.status) for e in found[1:3]] == [
        ("APOP", "mrose c4c9334bac560ecc979e58001b3e22fb", "+OK"), ("STAT", "", "+OK")]
    assert all(e.complete and e.ok for e in found)


def test_rfc2449_pipelined_pop3_and_a_sasl_challenge() -> None:
    found = read_exchanges("POP3", session("""
        S: +OK ready
        C: AUTH PLAIN
        S: +
        C: AGphbmUAc2VjcmV0
        S: +OK maildrop locked and ready
        C: STAT
        C: LIST
        C: UIDL 2
        C: BOGUS
        C: QUIT
        S: +OK 2 320
        S: +OK 2 messages
        S: 1 120
        S: 2 200
        S: .
        S: +OK 2 QhdPYR:00WBw1Ph7x7
        S: -ERR unknown command
        S: +OK bye
    """))
    assert [(e.verb, e.final, e.data) for e in found] == [
        ("", "+OK ready", None), ("AUTH", "+OK maildrop locked and ready", None), ("STAT", "+OK 2 320", None),
        ("LIST", "+OK 2 messages", ["1 120", "2 200"]), ("UIDL", "+OK 2 QhdPYR:00WBw1Ph7x7", None),
        ("BOGUS", "-ERR unknown command", None), ("QUIT", "+OK bye", None)]
    assert found[1].continuations == [("+", ["AGphbmUAc2VjcmV0"])]
    assert [e.ok for e in found] == [True] * 5 + [False, True]


def test_pop3_cut_in_the_middle_of_a_multi_line_response() -> None:
    found = read_exchanges("POP3", session("""
        S: +OK ready
        C: RETR 1
        S: +OK 120 octets
        S: Subject: one
    """))
    assert (found[1].final, found[1].data, found[1].complete) == ("+OK 120 octets", ["Subject: one"], False)


# -- IMAP ----------------------------------------------------------------------------------

HEADER = ["Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)", "From: Terry Gray <gray@cac.washington.edu>",
          "* 99 EXISTS", "a004 OK not the end", ""]
OCTETS = sum(len(line) + 2 for line in HEADER)


RFC3501_SECTION8 = f"""
S: * OK IMAP4rev1 Service Ready
C: a001 login mrc ********
S: a001 OK LOGIN completed
C: a002 select inbox
S: * 18 EXISTS
S: * FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)
S: * 2 RECENT
S: * OK [UNSEEN 17] Message 17 is the first unseen message
S: * OK [UIDVALIDITY 3857529045] UIDs valid
S: a002 OK [READ-WRITE] SELECT completed
C: a004 fetch 12 body[header]
S: * 12 FETCH (BODY[HEADER] {{{OCTETS}}}
""" + "".join(f"S: {line}\n" for line in HEADER) + """S: )
S: a004 OK FETCH completed
C: a005 store 12 +flags \\deleted
S: * 12 FETCH (FLAGS (\\Seen \\Deleted))
S: a005 OK +FLAGS completed
C: a006 logout
S: * BYE IMAP4rev1 server terminating connection
S: a006 OK LOGOUT completed
"""


def test_rfc3501_section8_tagged_and_untagged_with_a_fetch_literal_folded_in() -> None:
    found = read_exchanges("IMAP", session(RFC3501_SECTION8))
    assert [(e.tag, e.verb, e.status, e.text, e.untagged) for e in found] == [
        ("", "", "OK", "OK IMAP4rev1 Service Ready", ["* OK IMAP4rev1 Service Ready"]),
        ("a001", "LOGIN", "OK", "LOGIN completed", []),
        ("a002", "SELECT", "OK", "[READ-WRITE] SELECT completed",
         ["* 18 EXISTS", "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)", "* 2 RECENT",
          "* OK [UNSEEN 17] Message 17 is the first unseen message", "* OK [UIDVALIDITY 3857529045] UIDs valid"]),
        ("a004", "FETCH", "OK", "FETCH completed", [f"* 12 FETCH (BODY[HEADER] {{{OCTETS}}} )"]),
        ("a005", "STORE", "OK", "+FLAGS completed", ["* 12 FETCH (FLAGS (\\Seen \\Deleted))"]),
        ("a006", "LOGOUT", "OK", "LOGOUT completed", ["* BYE IMAP4rev1 server terminating connection"]),
    ]
    fetch = found[3]
    # The literal's lines stay in the exchange's reply (a ladder shows them), never taken for responses.
    assert fetch.replies == [[f"* 12 FETCH (BODY[HEADER] {{{OCTETS}}}", *HEADER, ")", "a004 OK FETCH completed"]]
    assert fetch.final == "a004 OK FETCH completed" and fetch.argument == "12 body[header]"


def test_rfc2177_idle_pushes_and_pipelined_commands_completing_by_tag() -> None:
    found = read_exchanges("IMAP", session("""
        S: * PREAUTH ready
        C: A001 SELECT INBOX
        S: * FLAGS (Deleted Seen)
        S: * 3 EXISTS
        S: A001 OK SELECT completed
        C: A002 IDLE
        S: + idling
        S: * 4 EXISTS
        C: DONE
        S: A002 OK IDLE terminated
        C: A003 NOOP
        C: A004 UID FETCH 4 (FLAGS)
        S: * 4 FETCH (UID 4 FLAGS (\\Recent))
        S: A004 OK UID FETCH completed
        S: A003 OK NOOP completed
    """))
    select, idle, noop, fetch = found[1:]
    assert select.untagged == ["* FLAGS (Deleted Seen)", "* 3 EXISTS"] and select.pushed == []
    assert (idle.untagged, idle.pushed, idle.continuations, idle.final) == (
        [], ["* 4 EXISTS"], [("+ idling", ["DONE"])], "A002 OK IDLE terminated")
    assert [p.kind for p in idle.parts] == [COMMAND, CHALLENGE, PUSHED, ANSWER, REPLY]
    # Untagged responses belong to the oldest command still running (RFC 3501 section 5.5).
    assert (noop.untagged, noop.final) == (["* 4 FETCH (UID 4 FLAGS (\\Recent))"], "A003 OK NOOP completed")
    assert (fetch.verb, fetch.argument, fetch.untagged, fetch.final) == (
        "UID FETCH", "4 (FLAGS)", [], "A004 OK UID FETCH completed")
    assert len(found) == 5


def test_imap_append_with_a_synchronizing_literal_and_its_continuation() -> None:
    message = ["Subject: afternoon meeting", "", "A002 OK looks like a completion", "* 9 EXISTS"]
    octets = sum(len(line) + 2 for line in message)
    lines = [(S2C, "* OK ready"), (C2S, f"A003 APPEND saved-messages (\\Seen) {{{octets}}}"),
             (S2C, "+ Ready for literal data"), *[(C2S, line) for line in message], (C2S, ""),
             (S2C, "A003 OK [APPENDUID 38505 3955] APPEND completed"),
             (C2S, "A004 LOGIN jane {8+}"), (C2S, "********"), (C2S, ""),  # RFC 7888: no "+" to wait for
             (S2C, "A004 OK LOGIN completed")]
    _, append, login = read_exchanges("IMAP", lines)
    assert append.continuations == [("+ Ready for literal data", [*message, ""])]
    assert (append.untagged, append.status, append.text) == ([], "OK", "[APPENDUID 38505 3955] APPEND completed")
    assert [p.kind for p in append.parts] == [COMMAND, CHALLENGE, COMMAND, REPLY]
    assert (login.verb, login.continuations, login.final) == ("LOGIN", [], "A004 OK LOGIN completed")
    assert login.parts[0].lines == ["A004 LOGIN jane {8+}", "********", ""]


def test_imap_authenticate_continuations() -> None:
    found = read_exchanges("IMAP", session("""
        S: * OK ready
        C: a1 AUTHENTICATE PLAIN
        S: +
        C: ********
        S: a1 OK done
    """))
    assert (found[1].continuations, found[1].final) == ([("+", ["********"])], "a1 OK done")


# -- HTTP ----------------------------------------------------------------------------------


def test_http_keep_alive_with_two_pipelined_requests_through_the_trace() -> None:
    trace = Trace()
    conn = trace.open("HTTP", "webmail", "mail.somewhereelse.com", ("127.0.0.1", 40000))
    for direction, data in [(C2S, b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n"),
                            (S2C, b"HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 103 Early Hints\r\n\r\n"
                                  b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")]:
        trace.data(conn, direction, data, len(data))
    found = trace.exchanges(conn)
    assert [(e.command, e.verb, e.argument, e.status) for e in found] == [
        ("GET /a HTTP/1.1", "GET", "/a", "204"), ("GET /b HTTP/1.1", "GET", "/b", "200")]
    # The interim 103 stays with the second request, before its final response.
    assert found[1].replies == [["HTTP/1.1 103 Early Hints", ""], ["HTTP/1.1 200 OK", "Content-Length: 2", "",
                                                                    "[body: 2 bytes]"]]
    assert [[p.at for p in e.parts] for e in found] == [[0, 6], [3, 8, 10]]
    assert [(e.method, e.target, e.status) for e in trace.http_exchanges(conn)] == [("GET", "/a", 204),
                                                                                   ("GET", "/b", 200)]


def test_http_a_request_without_a_response_is_incomplete() -> None:
    requests = read_messages(b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n", REQUEST)
    responses = read_messages(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", RESPONSE, ["GET", "GET"])
    found = read_http([(C2S, m) for m in requests] + [(S2C, m) for m in responses])
    assert [(e.argument, e.complete, e.response is None) for e in found] == [("/a", True, False), ("/b", False, True)]


def test_an_unknown_protocol_is_refused() -> None:
    with pytest.raises(ValueError):
        read_exchanges("FTP", [])
