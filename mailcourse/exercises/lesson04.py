"""The checks of lesson 04 (The message itself).

Two exercises are judged by what crossed the wire: the message the student
built and submitted, as jane's IMAP server describes it in BODYSTRUCTURE
(`multipart_sent`), and the student's own IMAP session that fetched one part
of a message and not the rest (`one_part_fetched`). Two read the message
itself: the hops named from a Received: trail (`hops_named`) and the encoded
words of a subject that crossed the wire, decoded by hand
(`encoded_word_decoded`).
"""
from __future__ import annotations

import base64
import email.header
import re
from typing import TYPE_CHECKING

from .. import corpus
from ..message import parse
from ..protocols.imap.mime import Entity, parse_message
from .common import JANE, JANE_ACCOUNT, _correct, _transactions, _where_is, _wrong, reads_the_wire

if TYPE_CHECKING:
    from ..lab import Lab
    from ..protocols.exchanges import Exchange
    from ..trace import Connection

__all__ = ["multipart_sent", "hops_named", "encoded_word_decoded", "one_part_fetched"]


# -- exercise 1: a multipart/mixed message with an attachment ---------------------------------------------

MENU_SUBJECT = "Menu for Friday"


def _header_value(lines: list[str], name: str) -> str:
    """A field's value from a header as it crossed the wire, unfolded (RFC 5322 section 2.2.3)."""
    value, inside = "", False
    for line in lines:
        if line == "":
            break
        if line[:1] in (" ", "\t"):
            if inside:
                value += line
            continue
        inside = line.lower().startswith(name.lower() + ":")
        if inside:
            value = line.split(":", 1)[1]
    return value.strip()


def _shape(entity: Entity) -> str:
    """A tree in BODYSTRUCTURE's order of words: ``(TEXT PLAIN)(APPLICATION PDF) MIXED``."""
    if entity.parts:
        return "".join(f"({_shape(p)})" for p in entity.parts) + " " + entity.content_type.split("/")[1].upper()
    return entity.content_type.replace("/", " ").upper()


def _disposition(entity: Entity) -> tuple[str, str]:
    """Content-Disposition's type and filename (RFC 2183), lower case and as written."""
    value = entity.text_value("Content-Disposition") or ""
    kind = value.split(";", 1)[0].strip().lower()
    match = re.search(r'filename\s*=\s*"?([^";]+)"?', value, re.IGNORECASE)
    return kind, match[1].strip() if match else ""


@reads_the_wire
def multipart_sent(lab: Lab) -> None:
    """Exercise: joe submits 'Menu for Friday', multipart/mixed of a text/plain and menu.pdf (application/pdf)."""
    lab.wait_for_delivery(timeout=5)
    sent = [t for t in _transactions(lab) if t.accepted and t.session.client == "joe-laptop"
            and _header_value(t.body, "Subject").casefold() == MENU_SUBJECT.casefold()]
    if not sent:
        stuck = _where_is(lab, MENU_SUBJECT)
        _wrong(f"No message with the subject {MENU_SUBJECT!r} left joe-laptop and was accepted. "
               + (stuck or "Check the subject, and that you sent it with send_message on joe's submission endpoint."))
    if JANE not in {r.lower() for r in sent[-1].rcpts}:
        _wrong(f"Your message went to {', '.join(sent[-1].rcpts)}, not to {JANE}: put her in To:.")
    store = lab.server("somewhereelse.com").store
    copies = [store.get(JANE_ACCOUNT, info.uid) for info in store.list(JANE_ACCOUNT)]
    copies = [raw for raw in copies if str(parse(raw).get("Subject", "")).strip().casefold()
              == MENU_SUBJECT.casefold()]
    if not copies:
        _wrong(f"joe's provider accepted {MENU_SUBJECT!r}, but it is not in jane's INBOX yet: run the check again "
               "in a moment.")
    top = parse_message(copies[-1])
    said = f"jane's IMAP server describes it as BODYSTRUCTURE ({_shape(top)})"
    if not top.parts:
        _wrong(f"{said}: one part and no attachment. A message with an attachment is a multipart; "
               "EmailMessage.add_attachment makes one of a message that has its text already.")
    if top.content_type != "multipart/mixed":
        _wrong(f"{said}: a {top.content_type} at the top. Text plus an attachment is multipart/mixed: "
               "set the text with set_content first, then add the attachment.")
    if len(top.parts) != 2:
        _wrong(f"{said}: {len(top.parts)} parts. The task asks for two: the text, then the PDF.")
    text, pdf = top.parts
    if text.content_type != "text/plain":
        _wrong(f"{said}: part 1 is {text.content_type}, not text/plain. Give the text with set_content, "
               "before the attachment.")
    if pdf.content_type != "application/pdf":
        _wrong(f"{said}: part 2 is {pdf.content_type}. A mail program reads the type to know what the bytes "
               "are: tell add_attachment the PDF's maintype and subtype.")
    kind, filename = _disposition(pdf)
    if kind != "attachment" or filename != "menu.pdf":
        _wrong(f"{said}, but part 2's Content-Disposition is {kind or 'missing'!r} with filename "
               f"{filename or 'none'!r}: name the file menu.pdf (add_attachment's filename=), so that jane's "
               "program offers to save it under that name.")
    if pdf.encoding != "BASE64":
        _wrong(f"{said}, but part 2 travels as {pdf.encoding}: binary bytes need base64 to cross SMTP.")
    try:
        data = base64.b64decode(pdf.body, validate=False)
    except ValueError:
        data = b""
    if not data.startswith(b"%PDF"):
        _wrong(f"{said}, but part 2 does not hold a PDF (its bytes do not start with %PDF): attach the bytes "
               "in menu_pdf.")
    _correct(f"{said}: a text and menu.pdf, in base64, side by side in one multipart/mixed.")


# -- exercise 2: the hops of a Received: trail ---------------------------------------------------------------

TRAIL_SAMPLE = "received-trail"
_FROM_BY = re.compile(r"^\s*from\s+(\S+).*?\bby\s+(\S+)", re.IGNORECASE | re.DOTALL)


def _trail(raw: bytes) -> list[str]:
    """The hosts a message passed, in order: the first 'from', then each 'by', reading Received: bottom up."""
    fields = [" ".join(value.split()) for value in parse(raw).get_all("Received", [])]
    hosts: list[str] = []
    for value in reversed(fields):  # each server put its field on top (RFC 5321 section 4.4)
        match = _FROM_BY.match(value)
        if match:
            if not hosts:
                hosts.append(match[1].lower())
            hosts.append(match[2].lower())
    return hosts


def hops_named(hosts: object) -> None:
    """Exercise: the hosts of "A long way round", from the machine it was written on to jane's server."""
    expected = _trail(corpus.load(TRAIL_SAMPLE))
    if not isinstance(hosts, (list, tuple)) or not hosts:
        _wrong("hosts should be a list of host names, such as ['a.example.org', 'b.example.net', ...]; "
               f"it is {hosts!r}.")
    named = [str(h).strip().strip("<>[]()").lower() for h in hosts]
    if named == expected:
        _correct(f"{len(expected)} hosts, from {expected[0]} to {expected[-1]}: the message took "
                 f"{len(expected) - 1} hops, and each server stamped a Received: field on top.")
        return
    if named == expected[::-1]:
        _wrong("Those are the right hosts in the opposite order. Each server puts its Received: field on top "
               "of the others, so the top one was written last: read the trail from the bottom up.")
    unknown = [h for h in named if h not in expected]
    if unknown:
        _wrong(f"{unknown[0]!r} is not in this message's trail. Take the names after 'from' and 'by' in its "
               "Received: fields (the word right after them, not the part in brackets).")
    if named == expected[1:]:
        _wrong("Every server is there, in order, but the message began before the first of them: the bottom "
               "field's 'from' names the machine it was written on.")
    if len(named) != len(expected):
        _wrong(f"You named {len(named)} hosts. A field says 'from' one host 'by' the next, and the next field "
               "up starts from that one again: name each host once, the first 'from', then every 'by'.")
    first = next(i for i, (a, b) in enumerate(zip(named, expected)) if a != b)
    _wrong(f"The first {first} host(s) are right; host {first + 1}, {named[first]!r}, comes elsewhere in the "
           "trail. Go up one field at a time: who received it ('by') from the host before?")


# -- exercise 3: encoded words decoded by hand -----------------------------------------------------------------

WORDS_SAMPLE = "encoded-words"
_WORD = re.compile(r"=\?[^?\s]+\?[BbQq]\?[^?\s]*\?=")  # RFC 2047 section 2


def _subject_of(raw: bytes) -> str:
    """The Subject: field of a message as written (still encoded), unfolded."""
    return _header_value(raw.decode("utf-8", "surrogateescape").split("\r\n"), "Subject")


def _wire_subject(lab: Lab) -> str:
    """The Subject: line of the encoded-words sample as it crossed the wire ('' if it was not sent)."""
    written = _subject_of(corpus.load(WORDS_SAMPLE))
    for t in reversed(_transactions(lab)):
        if _header_value(t.body, "Subject") == written:
            return written
    return ""


def encoded_word_decoded(lab: Lab, decoded: object) -> None:
    """Exercise: the Subject: of the encoded-words sample, sent through the lab, decoded by hand."""
    wire = _wire_subject(lab)
    if not wire:
        _wrong(f"The trace shows no message with the Subject: of {WORDS_SAMPLE}.eml: run the cell that sends it first.")
    expected = str(email.header.make_header(email.header.decode_header(wire)))
    if not isinstance(decoded, str) or not decoded:
        _wrong(f"decoded should be the subject as a str; it is {decoded!r}.")
    if decoded == expected:
        _correct(f"the B word and the Q word, each turned into UTF-8 bytes and then into text: {expected!r}.")
        return
    if "=?" in decoded or "?=" in decoded:
        _wrong("Your text still has =?...?= in it. Each encoded word, markers and all, becomes the text it "
               "encodes; the words are =?charset?encoding?text?=, and this subject has two.")
    try:
        misread = decoded.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        misread = ""
    if misread and misread == expected:
        _wrong(f"{decoded!r}: the bytes are right, but they were read as Latin-1. Each word names its charset "
               "(UTF-8): decode the bytes with that one.")
    if re.search(r"=[0-9A-Fa-f]{2}", decoded):
        _wrong("There are =XX escapes left in your text: in Q encoding each =XX is one byte, written in hex.")
    if "".join(decoded.split()) == "".join(expected.split()):
        _wrong(f"{decoded!r}: nearly, but the spaces differ. White space between an encoded word and plain text "
               "is kept; only white space between two adjacent encoded words is dropped (RFC 2047 section 6.2).")
    parts = [p.strip() for p in expected.split("/")]
    if decoded.strip() in parts or "/" not in decoded:
        _wrong(f"{decoded!r} is not all of it: the subject is two encoded words with ' / ' between them, and the "
               "plain text between them belongs to the subject too.")
    _wrong(f"{decoded!r} is not what {wire!r} says. For each word: split it at '?'; B is base64, Q is =XX for a "
           "byte and '_' for a space; then decode the bytes with the charset the word names.")


# -- exercise 4: one part of a message, and not the rest ----------------------------------------------------------

PDF_SAMPLE_SUBJECT = "The menu, as a PDF"
_PART = re.compile(r"BODY(?:\.PEEK)?\[([0-9.]*)([A-Z.]*)", re.IGNORECASE)  # RFC 3501 section 6.4.5
_WHOLE = re.compile(r"\bRFC822(?:\.TEXT)?(?![.\w])|\bBODY(?:\.PEEK)?\[(?:TEXT)?\]", re.IGNORECASE)  # all of it


def _jane_sessions(lab: Lab, since: int) -> list[tuple[Connection, list[Exchange]]]:
    """Every IMAP session opened after the mark ``since`` that logged in as jane, with its exchanges."""
    found = []
    for conn in lab.trace.sessions(protocol="IMAP", since=since):
        exchanges = lab.trace.exchanges(conn)
        if any(e.verb in ("LOGIN", "AUTHENTICATE") and e.ok and "jane" in e.argument.lower() for e in exchanges):
            found.append((conn, exchanges))
    return found


def _reply_bytes(exchange: Exchange) -> int:
    """How many bytes the server sent in answer to one command, from the tap's record (lines and CRLFs)."""
    return sum(len(line.encode("utf-8", "surrogateescape")) + 2 for part in exchange.parts
               if part.direction == "s2c" for line in part.lines)


@reads_the_wire
def one_part_fetched(lab: Lab, text: object, since: int = 0) -> None:
    """Exercise: fetch part 1 (the text) of "The menu, as a PDF" in jane's INBOX, without the PDF.

    ``since`` is a mark of the trace (`Trace.mark`) taken in the exercise cell:
    only the sessions the student opened after it count.
    """
    sessions = _jane_sessions(lab, since)
    fetches = [(conn, e) for conn, exchanges in sessions for e in exchanges
               if e.verb in ("FETCH", "UID FETCH") and e.ok]
    if not fetches:
        _wrong("The trace shows no FETCH in an IMAP session logged in as jane since the exercise cell began. "
               "Open one with lab.imap, log in, select INBOX and fetch.")
    conn, last = fetches[-1]
    mine = [e for c, e in fetches if c is conn]
    whole = [e for e in mine if _WHOLE.search(e.argument)]
    if whole:
        _wrong(f"Your session asked for {whole[0].argument!r}: that is the whole message, PDF and all. "
               "Ask for one section: BODY.PEEK[n], with the number of the text's part.")
    sections = [(m[1], m[2].upper()) for e in mine for m in _PART.finditer(e.argument)]
    if not sections:
        _wrong(f"Your session's last FETCH was {last.argument!r}: it asked for no BODY[...] section. Name the "
               "part in brackets: BODY.PEEK[n].")
    if ("2", "") in sections:
        _wrong("Your session fetched part 2: that is the PDF, the part to leave on the server.")
    if ("1", "") not in sections:
        asked = ", ".join(f"[{n}{s}]" for n, s in sections)
        _wrong(f"Your session asked for {asked}, not for part 1's content. In BODYSTRUCTURE the text comes first.")
    menu = [raw for raw in (lab.server("somewhereelse.com").store.get(JANE_ACCOUNT, info.uid)
                            for info in lab.server("somewhereelse.com").store.list(JANE_ACCOUNT))
            if str(parse(raw).get("Subject", "")).strip() == PDF_SAMPLE_SUBJECT]
    if not menu:
        _wrong(f"jane's INBOX holds no {PDF_SAMPLE_SUBJECT!r} any more: run the set-up cell again.")
    want = parse_message(menu[-1]).parts[0].body.decode("ascii", "replace").strip()
    got = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    if not isinstance(got, str) or got.strip() != want:
        _wrong(f"Your session fetched part 1, but text is {text!r}, not the words of the menu's text part. "
               "imaplib returns [(b'... BODY[1] {n}', content), b')']: take the content.")
    sent = sum(_reply_bytes(e) for e in mine)
    _correct(f"BODY[1] of {PDF_SAMPLE_SUBJECT!r} crossed the wire in {sent} bytes of FETCH replies; "
             "the PDF stayed on the server.")
