"""The checks of lesson 04 against a live lab: each failure message, and the passing case.

Each wrong attempt is one a student makes: a message with no attachment, the
PDF as application/octet-stream, a trail read top down, encoded words read
as Latin-1 or half decoded, a FETCH of the whole message.
"""
from __future__ import annotations

import email.policy
from email.message import EmailMessage

import pytest

from helpers import check_fails as _fails

import mailcourse.exercises as check
from mailcourse import Lab, corpus
from mailcourse.exercises.lesson04 import _trail

JOE, JANE = "joe@someplace.org", "jane@somewhereelse.com"
# `lab`: the classic lab of tests/conftest.py


def _pdf() -> bytes:
    menu = email.message_from_bytes(corpus.load("attachment-pdf"), policy=email.policy.default)
    return menu.get_payload(1).get_content()


def _send(lab: Lab, msg: EmailMessage) -> None:
    with lab.smtp("joe-laptop", lab.server("someplace.org").submission) as s:
        s.login(JOE, "joe-password")
        s.send_message(msg)
    lab.wait_for_delivery()


def _menu(subject: str = "Menu for Friday", to: str = JANE) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = JOE, to, subject
    msg.set_content("Jane, the menu for Friday.\nJoe")
    return msg


# -- exercise 1 ---------------------------------------------------------------------------------------


def test_multipart_sent_explains_each_wrong_message(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    assert "No message with the subject 'Menu for Friday' left joe-laptop" in _fails(check.multipart_sent, lab)
    _send(lab, _menu(to="joe@someplace.org"))
    assert "not to jane@somewhereelse.com" in _fails(check.multipart_sent, lab)
    _send(lab, _menu())
    assert "one part and no attachment" in _fails(check.multipart_sent, lab)
    alternative = _menu()
    alternative.add_alternative("<p>the menu</p>", subtype="html")
    _send(lab, alternative)
    assert "a multipart/alternative at the top" in _fails(check.multipart_sent, lab)
    octets = _menu()
    octets.add_attachment(_pdf(), maintype="application", subtype="octet-stream", filename="menu.pdf")
    _send(lab, octets)
    assert "part 2 is application/octet-stream" in _fails(check.multipart_sent, lab)
    unnamed = _menu()
    unnamed.add_attachment(_pdf(), maintype="application", subtype="pdf")
    _send(lab, unnamed)
    assert "name the file menu.pdf" in _fails(check.multipart_sent, lab)
    three = _menu()
    three.add_attachment(_pdf(), maintype="application", subtype="pdf", filename="menu.pdf")
    three.add_attachment(b"wine list", maintype="text", subtype="plain", filename="wine.txt")
    _send(lab, three)
    assert "3 parts" in _fails(check.multipart_sent, lab)
    right = _menu()
    right.add_attachment(_pdf(), maintype="application", subtype="pdf", filename="menu.pdf")
    _send(lab, right)
    capsys.readouterr()
    check.multipart_sent(lab)
    out = capsys.readouterr().out
    assert out.startswith("✔ Correct:") and "((TEXT PLAIN)(APPLICATION PDF) MIXED)" in out


# -- exercise 2 ---------------------------------------------------------------------------------------------


def test_the_trail_of_the_sample_reads_bottom_up() -> None:
    hosts = _trail(corpus.load("received-trail"))
    assert hosts[0] == "alice-desktop.branch.example.org" and hosts[-1] == "mail.somewhereelse.com"
    assert len(hosts) == 7 and len(set(hosts)) == 7


def test_hops_named_explains_each_wrong_reading(capsys: pytest.CaptureFixture[str]) -> None:
    hosts = _trail(corpus.load("received-trail"))
    assert "should be a list" in _fails(check.hops_named, None)
    assert "should be a list" in _fails(check.hops_named, [])
    assert "opposite order" in _fails(check.hops_named, hosts[::-1])
    assert "'192.0.2.25' is not in this message's trail" in _fails(check.hops_named, [*hosts[:-1], "192.0.2.25"])
    assert "the machine it was written on" in _fails(check.hops_named, hosts[1:])
    assert "name each host once" in _fails(check.hops_named, [hosts[0], *hosts])
    swapped = [hosts[0], hosts[2], hosts[1], *hosts[3:]]
    assert "The first 1 host(s) are right; host 2" in _fails(check.hops_named, swapped)
    check.hops_named([h.upper() for h in hosts])
    assert capsys.readouterr().out.startswith("✔ Correct: 7 hosts, from alice-desktop.branch.example.org")


# -- exercise 3 -------------------------------------------------------------------------------------------------

WORDS = "明日の会議 / Συνάντηση"


def _send_sample(lab: Lab) -> None:
    with lab.smtp("joe-laptop", lab.server("someplace.org").submission) as s:
        s.login(JOE, "joe-password")
        s.sendmail(JOE, [JANE], corpus.load("encoded-words"))
    lab.wait_for_delivery()


def test_encoded_word_decoded_explains_each_wrong_decoding(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    assert "run the cell that sends it first" in _fails(check.encoded_word_decoded, lab, WORDS)
    _send_sample(lab)
    assert "should be the subject as a str" in _fails(check.encoded_word_decoded, lab, None)
    assert "still has =?...?= in it" in _fails(check.encoded_word_decoded, lab, "明日の会議 / =?UTF-8?Q?=CE=A3?=")
    assert "read as Latin-1" in _fails(check.encoded_word_decoded, lab, WORDS.encode().decode("latin-1"))
    assert "=XX escapes left" in _fails(check.encoded_word_decoded, lab, "明日の会議 / =CE=A3=CF=85")
    assert "the spaces differ" in _fails(check.encoded_word_decoded, lab, "明日の会議/Συνάντηση")
    assert "is not all of it" in _fails(check.encoded_word_decoded, lab, "Συνάντηση")
    assert "is not all of it" in _fails(check.encoded_word_decoded, lab, "明日の会議 Συνάντηση")
    assert "is not what" in _fails(check.encoded_word_decoded, lab, "明日 / Συνάντηση")
    check.encoded_word_decoded(lab, WORDS)
    assert capsys.readouterr().out.startswith("✔ Correct: the B word and the Q word")


# -- exercise 4 -----------------------------------------------------------------------------------------------------


def _fetch(lab: Lab, *items: str) -> list:
    m = lab.imap("jane-laptop", lab.server("somewhereelse.com").endpoints["imap"])
    try:
        m.login(JANE, "jane-password")
        m.select("INBOX", readonly=True)
        return [m.uid("FETCH", "1", item)[1] for item in items]
    finally:
        m.logout()


def test_one_part_fetched_explains_each_wrong_session(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    lab.seed(JANE, ["attachment-pdf"])  # UID 1
    words = "Here is the menu of the place for tomorrow."
    assert "no FETCH in an IMAP session logged in as jane" in _fails(check.one_part_fetched, lab, words)
    _fetch(lab, "(BODY.PEEK[])")
    start = lab.trace.mark()  # what came before the exercise cell does not count
    assert "no FETCH in an IMAP session logged in as jane since" in _fails(check.one_part_fetched, lab, words, start)
    _fetch(lab, "(BODY.PEEK[])")
    assert "that is the whole message" in _fails(check.one_part_fetched, lab, words)
    _fetch(lab, "(RFC822.SIZE BODYSTRUCTURE)")
    assert "asked for no BODY[...] section" in _fails(check.one_part_fetched, lab, words)
    _fetch(lab, "(BODY.PEEK[2])")
    assert "fetched part 2: that is the PDF" in _fails(check.one_part_fetched, lab, words)
    _fetch(lab, "(BODY.PEEK[1.MIME])")
    assert "not for part 1's content" in _fails(check.one_part_fetched, lab, words)
    data = _fetch(lab, "(BODYSTRUCTURE)", "(BODY.PEEK[1])")[1]
    assert "not the words of the menu's text part" in _fails(check.one_part_fetched, lab, data)
    capsys.readouterr()
    check.one_part_fetched(lab, data[0][1])
    out = capsys.readouterr().out
    assert out.startswith("✔ Correct: BODY[1] of 'The menu, as a PDF' crossed the wire in") and "PDF stayed" in out
