"""IMAP SEARCH without a network (RFC 3501 section 6.4.4).

A small mailbox of five messages, each with what the session would know
about it (sequence number, UID, flags, internal date, size) and its bytes.
Each test is a SEARCH command's keys, as the parser hands them over, and
the sequence numbers that must match, in the style of the RFC's example::

    C: A282 SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"
    S: * SEARCH 2 84 882
"""
from __future__ import annotations

import base64
import calendar
import doctest
import shlex
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mailcourse.protocols.imap.search
from mailcourse.protocols.imap.search import Candidate, needs_message, parse_search
from mailcourse.protocols.imap.types import Atom


def day(text: str, hour: int = 12) -> float:
    """A UTC timestamp on the day written as 1-Feb-1994."""
    return calendar.timegm((*time.strptime(text, "%d-%b-%Y")[:3], hour, 0, 0))


def message(header: str, body: bytes = b"Hello.\r\n") -> bytes:
    return header.replace("\n", "\r\n").encode() + b"\r\n" + body


MAILBOX = [  # (uid, flags, internal date, raw)
    (10, {"\\Seen", "\\Answered"}, day("31-Jan-1994", 23),
     message("From: John Smith <smith@example.org>\nTo: jane@somewhereelse.com\nSubject: budget\n"
             "Date: Mon, 31 Jan 1994 23:30:00 -0800\n")),
    (20, {"\\Flagged", "$Work"}, day("1-Feb-1994", 0),
     message("From: Joe <joe@someplace.org>\nTo: jane@somewhereelse.com\nCc: team@someplace.org\n"
             "Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus_M=C3=BCnchen?=\nDate: Tue, 1 Feb 1994 10:00:00 +0100\n"
             "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n",
             b"Sch=C3=B6ne Gr=C3=BC=C3=9Fe,=\r\n Joe\r\n")),
    (30, {"\\Flagged", "\\Deleted", "\\Recent"}, day("15-Mar-1994"),
     message("From: Jane <jane@somewhereelse.com>\nBcc: boss@somewhereelse.com\nSubject: re: budget\n"
             "Date: 15 Mar 1994 08:00 GMT\nX-Priority: 1\n"
             "Content-Type: multipart/mixed; boundary=b\n",
             b"--b\r\nContent-Type: text/plain\r\n\r\nSee the attachment.\r\n"
             b"--b\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: base64\r\n\r\n"
             + base64.encodebytes("Déjà vu in the attached notes".encode("latin-1")) +
             b"--b\r\nContent-Type: application/octet-stream\r\n\r\nsecret-binary-word\r\n--b--\r\n")),
    (40, {"\\Draft", "\\Recent", "\\Seen"}, day("2-Apr-1994"),
     message("From: draft@someplace.org\nSubject: unfinished\n", b"x" * 2000)),
    (50, set(), day("3-Apr-1994"), b"no header at all and no date"),
]


def candidates(reads: list[int] | None = None) -> list[Candidate]:
    out = []
    for seq, (uid, flags, when, raw) in enumerate(MAILBOX, 1):
        def read(raw: bytes = raw, uid: int = uid) -> bytes:
            if reads is not None:
                reads.append(uid)
            return raw
        out.append(Candidate(seq=seq, uid=uid, flags=frozenset(flags), internaldate=when, size=len(raw),
                             largest_seq=len(MAILBOX), largest_uid=50, raw=read, modseq=uid * 10))
    return out


def args(text: str) -> list:
    """Keys written as in a command: words are atoms, "quoted" are strings, (...) are lists."""
    out: list = []
    stack = [out]
    for word in shlex.split(text.replace("(", " ( ").replace(")", " ) "), posix=False):
        if word == "(":
            stack[-1].append([])
            stack.append(stack[-1][-1])
        elif word == ")":
            stack.pop()
        elif word.startswith('"'):
            stack[-1].append(word[1:-1].encode())
        else:
            stack[-1].append(Atom(word))
    return out


def search(text: str) -> list[int]:
    key = parse_search(args(text))
    return [c.seq for c in candidates() if key.matches(c)]


@pytest.mark.parametrize(("keys", "expected"), [
    ("ALL", [1, 2, 3, 4, 5]),
    ("ANSWERED", [1]), ("UNANSWERED", [2, 3, 4, 5]),
    ("DELETED", [3]), ("UNDELETED", [1, 2, 4, 5]),
    ("DRAFT", [4]), ("UNDRAFT", [1, 2, 3, 5]),
    ("FLAGGED", [2, 3]), ("UNFLAGGED", [1, 4, 5]),
    ("SEEN", [1, 4]), ("UNSEEN", [2, 3, 5]),
    ("RECENT", [3, 4]), ("OLD", [1, 2, 5]),
    ("NEW", [3]),  # \Recent and not \Seen
    ("KEYWORD $Work", [2]), ("KEYWORD $work", [2]), ("UNKEYWORD $Work", [1, 3, 4, 5]),
    ("LARGER 1000", [4]), ("LARGER 2049", [4]), ("LARGER 2050", []),  # strictly larger
    ("SMALLER 132", [5]), ("SMALLER 133", [1, 5]),
    ("2:3", [2, 3]), ("4:*", [4, 5]), ("*", [5]), ("1,3,5", [1, 3, 5]), ("3:1", [1, 2, 3]),
    ("UID 20:30", [2, 3]), ("UID 45:*", [5]), ("UID 99", []),
    ("MODSEQ 300", [3, 4, 5]), ('MODSEQ "/flags/\\\\draft" all 450', [5]),
])
def test_keys_on_the_index(keys, expected):
    assert search(keys) == expected


@pytest.mark.parametrize(("keys", "expected"), [
    ("BEFORE 1-Feb-1994", [1]),  # 31-Jan 23:00 UTC
    ("ON 1-Feb-1994", [2]),  # 00:00 UTC is on that day
    ("SINCE 1-Feb-1994", [2, 3, 4, 5]),
    ("SINCE 2-Apr-1994 BEFORE 3-Apr-1994", [4]),
    ('ON "15-Mar-1994"', [3]),  # date may be quoted
    ("on 15-mar-1994", [3]),
    # SENT*: the Date: header's own day, "disregarding time and timezone"
    ("SENTON 31-Jan-1994", [1]),  # 23:30 -0800 is 1 Feb in UTC, but the header says 31 Jan
    ("SENTBEFORE 1-Feb-1994", [1]),
    ("SENTSINCE 1-Feb-1994", [2, 3]),  # no Date: header never matches
    ("SENTON 15-Mar-1994", [3]),
])
def test_dates(keys, expected):
    assert search(keys) == expected


@pytest.mark.parametrize(("keys", "expected"), [
    ('FROM "smith"', [1]),
    ('FROM "SOMEPLACE.ORG"', [2, 4]),
    ('TO "jane@"', [1, 2]),
    ("CC team", [2]),
    ('BCC "boss"', [3]),
    ('SUBJECT "budget"', [1, 3]),
    ('SUBJECT "grüße aus"', [2]),  # RFC 2047 encoded words are decoded before matching
    ('SUBJECT "=?UTF-8?Q"', []),
    ('HEADER X-Priority "1"', [3]),
    ('HEADER x-priority ""', [3]),  # an empty string: the field is there at all
    ('HEADER Subject ""', [1, 2, 3, 4]),
    ('HEADER Content-Type "multipart"', [3]),
    ('BODY "schöne"', [2]),  # quoted-printable undone, soft line break too
    ('BODY "grüße, joe"', [2]),
    ('BODY "déjà vu"', [3]),  # base64 and ISO-8859-1 undone
    ('BODY "attachment"', [3]),
    ('BODY "secret-binary-word"', []),  # not a text part
    ('BODY "budget"', []),  # the header is not the body
    ('TEXT "budget"', [1, 3]),  # but TEXT is header or body
    ('TEXT "déjà"', [3]),
    ('TEXT "no header at all"', [5]),
    ('BODY ""', [1, 2, 3, 4, 5]),
])
def test_strings_are_case_insensitive_substrings_of_decoded_text(keys, expected):
    assert search(keys) == expected


@pytest.mark.parametrize(("keys", "expected"), [
    ('FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"', [2, 3]),  # the RFC's example
    ("OR SEEN FLAGGED", [1, 2, 3, 4]),
    ("OR (SEEN ANSWERED) DRAFT", [1, 4]),
    ("NOT (SEEN ANSWERED)", [2, 3, 4, 5]),
    ("NOT NOT SEEN", [1, 4]),
    ("(FLAGGED (UNDELETED))", [2]),
    ("OR OR 1 2 3", [1, 2, 3]),
    ("1:4 UNSEEN NOT UID 30", [2]),
])
def test_combinations(keys, expected):
    assert search(keys) == expected


def test_charset_is_accepted_when_it_is_ours():
    assert [c.seq for c in candidates() if parse_search(args('CHARSET UTF-8 SUBJECT "grüße"')).matches(c)] == [2]
    assert [c.seq for c in candidates() if parse_search(args('charset "us-ascii" DRAFT')).matches(c)] == [4]


def test_another_charset_is_badcharset():
    with pytest.raises(ValueError, match=r"^\[BADCHARSET \(US-ASCII UTF-8\)\]"):
        parse_search(args('CHARSET KOI8-R SUBJECT "x"'))


@pytest.mark.parametrize("bad", [
    "", "CHARSET", "FOO", "0", "1:x", "LARGER", "LARGER -1", "LARGER x", "LARGER 99999999999",
    "BEFORE 31-Feb-1994", "BEFORE 1994-02-01", "BEFORE 1-Foo-1994", "SINCE", "NOT", "OR SEEN",
    "UID", "UID x", "KEYWORD", "KEYWORD \\Seen", "HEADER Subject", "FROM", "FROM (a)", "()", '"SEEN"',
    "MODSEQ", "MODSEQ x", '"x" 1', 'MODSEQ "/flags/x" nonsense 1',
])
def test_bad_keys_are_value_errors_with_a_reason(bad):
    with pytest.raises(ValueError) as error:
        parse_search(args(bad))
    assert str(error.value)


def test_the_message_is_read_only_when_a_key_needs_it():
    reads: list[int] = []
    key = parse_search(args("UNSEEN LARGER 10 UID 1:*"))
    assert not needs_message(key)
    assert [c.uid for c in candidates(reads) if key.matches(c)] == [20, 30, 50]
    assert reads == []
    key = parse_search(args('FLAGGED SUBJECT "budget" BODY "attachment"'))
    assert needs_message(key)
    assert [c.uid for c in candidates(reads) if key.matches(c)] == [30]
    assert reads == [20, 30]  # once per message, and not for those the flags ruled out


@pytest.mark.parametrize(("keys", "needs"), [
    ("ALL", False), ("SINCE 1-Feb-1994", False), ("SENTSINCE 1-Feb-1994", True), ("NOT FROM x", True),
    ("OR SEEN TEXT x", True), ("(SEEN (HEADER a b))", True), ("OR SEEN 1:3", False), ("MODSEQ 1", False),
])
def test_needs_message(keys, needs):
    assert needs_message(parse_search(args(keys))) is needs


def test_modseq_without_condstore_matches_nothing():
    key = parse_search(args("MODSEQ 1"))
    c = candidates()[0]
    c.modseq = None
    assert not key.matches(c)


@pytest.mark.parametrize("raw", [
    b"", b"\xff\xfe\x00", b"Subject: =?bogus-charset?Q?x?=\r\nFrom: =?utf-8?B?!!!?=\r\n\r\n",
    b"Content-Type: text/plain; charset=base64\r\n\r\nx", b"Content-Type: text/plain; charset=no-such\r\n\r\n\xff",
    b"Content-Transfer-Encoding: base64\r\n\r\n=====a", b"Content-Transfer-Encoding: quoted-printable\r\n\r\n=ZZ=\r\n",
    b"Date: Thu, 99 Foo 99999 99:99:99 +9999\r\n\r\n",
])
def test_broken_messages_are_searched_without_errors(raw):
    key = parse_search(args('OR OR TEXT "x" SUBJECT "x" OR FROM "x" SENTON 1-Jan-2000'))
    key.matches(Candidate(1, 1, frozenset(), 0, len(raw), 1, 1, lambda: raw))


@settings(max_examples=200, deadline=None, database=None)
@given(raw=st.binary(max_size=300), internaldate=st.floats(allow_nan=False, allow_infinity=True))
def test_search_never_raises_on_any_message(raw, internaldate):
    key = parse_search(args('OR (TEXT "a" BODY "b") OR (HEADER X "" SENTBEFORE 1-Jan-2000) (ON 1-Jan-1970 NEW)'))
    key.matches(Candidate(1, 1, frozenset(), internaldate, len(raw), 1, 1, lambda: raw))


WORDS = ["ALL", "OR", "NOT", "UID", "1:*", "*", "0", "SEEN", "KEYWORD", "$x", "\\Seen", "LARGER", "10", "-1",
         "SINCE", "1-Feb-1994", "31-Feb-1994", "HEADER", "FROM", "MODSEQ", "all", "CHARSET", "UTF-8", "X"]
values = st.recursive(st.one_of(st.sampled_from(WORDS).map(Atom), st.sampled_from([b"", b"x", b"\xff", b"UTF-8"])),
                      lambda inner: st.lists(inner, max_size=4), max_leaves=12)


@settings(max_examples=300, deadline=None, database=None)
@given(keys=st.lists(values, max_size=6))
def test_parse_search_raises_only_value_error(keys):
    try:
        key = parse_search(keys)
    except ValueError:
        return
    for c in candidates():
        key.matches(c)


def test_docstring_examples():
    assert doctest.testmod(mailcourse.protocols.imap.search).failed == 0
