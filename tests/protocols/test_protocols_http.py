"""HTTP/1.1 message framing (mailcourse.protocols.http): where each message ends, RFC 9112 section 6.

Pure tests, bytes in, messages out, as h11 tests its own framing: each
case is a byte stream of one direction of a connection, written as the RFC
writes it, and the messages the reader must find in it.
"""
from __future__ import annotations

from mailcourse.protocols.exchanges import read_http_bytes
from mailcourse.protocols.http import (
    REQUEST,
    RESPONSE,
    HttpMessage,
    MessageReader,
    body_summary,
    message_lines,
    read_messages,
)

FORM = b"Content-Type: application/x-www-form-urlencoded\r\n"


def test_content_length_frames_a_body_and_the_next_message_follows_at_once() -> None:
    data = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: 5\r\n\r\n<p>hi"
            b"HTTP/1.1 303 See Other\r\nLocation: ./mailbox/INBOX\r\nContent-Length: 0\r\n\r\n")
    first, second = read_messages(data, RESPONSE, ["GET", "POST"])
    assert (first.status, first.body, first.content_type) == (200, b"<p>hi", "text/html")
    assert (second.status, second.body, second.header("location")) == (303, b"", "./mailbox/INBOX")
    assert first.size + second.size == len(data)


def test_chunked_bodies_are_joined_with_extensions_and_trailers_skipped() -> None:
    data = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5;name=value\r\n<p>hi\r\n5\r\n</p>\n\r\n0\r\nExpires: never\r\n\r\n"
            b"HTTP/1.1 204 No Content\r\n\r\n")
    first, second = read_messages(data, RESPONSE, ["GET", "GET"])
    assert first.body == b"<p>hi</p>\n" and first.chunked and first.complete
    assert second.status == 204


def test_no_body_for_1xx_204_304_and_answers_to_head_whatever_the_fields_say() -> None:
    data = (b"HTTP/1.1 100 Continue\r\n\r\n"
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"      # the answer to the POST that waited
            b"HTTP/1.1 200 OK\r\nContent-Length: 861\r\n\r\n"      # to HEAD: the length of what GET would get
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 861\r\n\r\n"
            b"HTTP/1.1 204 No Content\r\n\r\n")
    found = read_messages(data, RESPONSE, ["POST", "HEAD", "GET", "DELETE"])
    assert [(m.status, m.body) for m in found] == [(100, b""), (200, b"abc"), (200, b""), (304, b""), (204, b"")]
    assert all(m.complete for m in found)


def test_a_response_without_a_length_runs_until_the_connection_closes() -> None:
    reader = MessageReader(RESPONSE)
    reader.request_sent("GET")
    reader.feed(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it")
    assert reader.next_message() is None  # more may come
    reader.feed(b", and more")
    last = reader.finish()
    assert last is not None and last.body == b"all of it, and more" and last.complete


def test_a_request_without_a_length_has_no_body_and_an_empty_line_before_one_is_ignored() -> None:
    found = read_messages(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n\r\nGET /login HTTP/1.1\r\n\r\n", REQUEST)
    assert [(m.method, m.target, m.body) for m in found] == [("GET", "/", b""), ("GET", "/login", b"")]


def test_a_masked_form_shorter_than_its_length_ends_where_the_next_request_starts() -> None:
    # The tap wrote password=******** over a 13-character password: 5 bytes fewer than announced.
    login = (b"POST /login HTTP/1.1\r\nHost: x\r\n" + FORM + b"Content-Length: 45\r\n\r\n"
             b"username=jane&password=********&csrf=abcGET")
    data = login + b" /mailbox/INBOX HTTP/1.1\r\nHost: x\r\n\r\n"
    post, get = read_messages(data, REQUEST)
    assert post.body == b"username=jane&password=********&csrf=abcGET"[:-3]
    assert (get.method, get.target) == ("GET", "/mailbox/INBOX")


def test_an_answer_ends_a_request_still_short_of_its_length_unless_it_waits_for_100_continue() -> None:
    reader = MessageReader(REQUEST)
    reader.feed(b"POST /login HTTP/1.1\r\n" + FORM + b"Content-Length: 45\r\n\r\nusername=jane&password=********")
    assert reader.next_message() is None  # 45 bytes were announced
    post = reader.end_message()  # ... but the server answered
    assert post is not None and post.body.endswith(b"********") and post.complete

    waiting = MessageReader(REQUEST)
    waiting.feed(b"POST /upload HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
    assert waiting.end_message() is None  # the answer was "100 Continue": the body comes now
    waiting.feed(b"abc")
    assert waiting.next_message().body == b"abc"


def test_a_message_cut_short_says_so() -> None:
    found = read_messages(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 861\r\n\r\n<html>",
                          RESPONSE, ["GET"])
    assert len(found) == 1 and not found[0].complete
    assert body_summary(found[0]) == "[body: 6 bytes of 861, cut short, text/html]"
    head_only = read_messages(b"GET /login HTTP/1.1\r\nHo", REQUEST)
    assert head_only[0].start == "GET /login HTTP/1.1" and not head_only[0].complete
    assert message_lines(head_only[0]) == ["GET /login HTTP/1.1", "Ho: "]


def test_exchanges_pair_each_request_with_its_final_response() -> None:
    sent = b"HEAD / HTTP/1.1\r\n\r\nGET /x HTTP/1.1\r\n\r\nGET /y HTTP/1.1\r\n\r\n"
    got = (b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n"
           b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>\r\n\r\n"
           b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno")
    found = read_http_bytes(sent, got)
    assert [(e.method, e.target, e.status) for e in found] == [("HEAD", "/", 200), ("GET", "/x", 404),
                                                                ("GET", "/y", None)]


def test_a_message_as_transcript_lines_start_fields_empty_line_and_one_line_of_body() -> None:
    form = HttpMessage("POST /login HTTP/1.1", [("Content-Type", "application/x-www-form-urlencoded")],
                       b"username=jane&csrf=abc")
    assert message_lines(form) == ["POST /login HTTP/1.1", "Content-Type: application/x-www-form-urlencoded", "",
                                   "username=jane&csrf=abc"]
    page = HttpMessage("HTTP/1.1 200 OK", [("Content-Type", "text/html; charset=utf-8")], b"x" * 2224)
    assert message_lines(page)[-2:] == ["", "[body: 2,224 bytes, text/html]"]
    assert message_lines(HttpMessage("HTTP/1.1 204 No Content")) == ["HTTP/1.1 204 No Content", ""]
