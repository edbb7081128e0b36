"""What the webmail reads from the store: message lists, one message, search.

The webmail is an *online access* client (the course's chapter on access
models): it keeps no copy of anything. Every page is built from the server's
`MailStore` at the moment it is asked for, the same store that SMTP delivers
into and that POP3 and IMAP read. A message POP3 deleted a second ago is
simply not in the next list; a message read here has ``\\Seen`` in IMAP at
once, because it is one flag in one file name.

The store calls are quick (an in-memory index, one small file per message),
so they run on the lab's loop like POP3's and IMAP's. What is slow is
parsing a header for every line of a list: `SummaryCache` remembers it. A
message never changes once stored (RFC 3501 section 2.3.1.1: a UID names
one message for as long as UIDVALIDITY stays), so the cache needs no
invalidation, only a size bound; flags are read fresh each time.

Search is done on the server, by sender, subject and body text, with the
same matching rules as IMAP's SEARCH (`mailcourse.protocols.imap.search`:
case-insensitive substrings of the *decoded* header and body).
"""
from __future__ import annotations

import datetime
import email.policy
import email.utils
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesParser

from ..protocols.imap.search import Body, Candidate, Header, Or, SearchKey
from ..store import INBOX, MailStore, MessageInfo
from .attachments import Attachment, content_bytes, is_attachment, leaves, safe_filename
from .sanitize import clean_html, html_to_text

SEEN = "\\Seen"
FLAGGED = "\\Flagged"


def parse(raw: bytes, headers_only: bool = False) -> EmailMessage:
    """Bytes from the store (CRLF line ends, RFC 5322 section 2.1) as an `EmailMessage`."""
    parser = BytesParser(policy=email.policy.default)
    return parser.parsebytes(raw.replace(b"\r\n", b"\n"), headersonly=headers_only)  # type: ignore[return-value]


def header_text(message: EmailMessage, name: str) -> str:
    """A header's value with RFC 2047 encoded words decoded; "" if absent or beyond repair."""
    try:
        value = message.get(name)
        return "" if value is None else " ".join(str(value).split())
    except Exception:  # noqa: BLE001 - a malformed header is the sender's problem, not the page's
        return ""


def sent_date(message: EmailMessage) -> datetime.datetime | None:
    """The Date: header (RFC 5322 section 3.6.1), as the sender's clock wrote it."""
    try:
        return email.utils.parsedate_to_datetime(header_text(message, "Date"))
    except (TypeError, ValueError, IndexError):
        return None


@dataclass(frozen=True)
class Summary:
    """One line of a message list: what a student's `add_view` selection gets."""

    uid: int
    folder: str
    flags: frozenset[str]
    subject: str
    sender: str  # the From: header, decoded: "Joe <joe@someplace.org>"
    recipients: str  # the To: header, decoded
    date: datetime.datetime  # the Date: header, or when the message arrived if it has none
    size: int

    @property
    def seen(self) -> bool:
        return SEEN in self.flags

    @property
    def flagged(self) -> bool:
        return FLAGGED in self.flags


class SummaryCache:
    """Parsed headers by (account, folder, UIDVALIDITY, UID): a stored message never changes."""

    def __init__(self, max_entries: int = 20000) -> None:
        self.max_entries = max_entries
        self._entries: dict[tuple[str, str, int, int], tuple[str, str, str, datetime.datetime | None]] = {}

    def summary(self, store: MailStore, account: str, folder: str, info: MessageInfo) -> Summary:
        key = (account, folder, store.uidvalidity(account, folder), info.uid)
        found = self._entries.get(key)
        if found is None:
            message = parse(store.get(account, info.uid, folder), headers_only=True)
            found = (header_text(message, "Subject"), header_text(message, "From"),
                     header_text(message, "To"), sent_date(message))
            if len(self._entries) >= self.max_entries:
                self._entries.pop(next(iter(self._entries)))  # the oldest entry
            self._entries[key] = found
        subject, sender, recipients, date = found
        arrived = datetime.datetime.fromtimestamp(info.internaldate, datetime.UTC)
        return Summary(info.uid, folder, info.flags, subject, sender, recipients, date or arrived, info.size)


class MailboxView:
    """One user's mailbox, read-only: what `Webmail.add_view` hands to a selection function.

    >>> def flagged(mailbox: MailboxView) -> list[Summary]:
    ...     return [m for m in mailbox.messages("INBOX") if m.flagged]
    """

    def __init__(self, store: MailStore, account: str, cache: SummaryCache) -> None:
        self.store = store
        self.account = account
        self._cache = cache

    def folders(self) -> list[str]:
        """The user's folders: INBOX first, then the others by name."""
        return self.store.folders(self.account)

    def messages(self, folder: str = INBOX) -> list[Summary]:
        """The folder's messages, newest first (highest UID first: UIDs grow with arrival)."""
        infos = self.store.list(self.account, folder)
        return [self._cache.summary(self.store, self.account, folder, info) for info in reversed(infos)]

    def page(self, folder: str, number: int, size: int) -> tuple[list[Summary], int]:
        """Page ``number`` (from 1) of the folder's messages, newest first, and how many there are in all.

        Only the messages on the page are read: a folder of thousands costs no more than one of 25.
        """
        infos = self.store.list(self.account, folder)[::-1]
        shown = infos[(number - 1) * size: number * size]
        return [self._cache.summary(self.store, self.account, folder, info) for info in shown], len(infos)

    def unread(self, folder: str = INBOX) -> int:
        return sum(SEEN not in info.flags for info in self.store.list(self.account, folder))

    def search(self, text: str, where: str = "all", folders: list[str] | None = None) -> list[Summary]:
        """Messages whose sender, subject or body (``where``: from, subject, body, all) contains ``text``."""
        key = search_key(text, where)
        found = []
        for folder in folders or self.folders():
            for info in reversed(self.store.list(self.account, folder)):
                candidate = Candidate(seq=0, uid=info.uid, flags=info.flags, internaldate=info.internaldate,
                                      size=info.size, largest_seq=0, largest_uid=0,
                                      raw=lambda uid=info.uid, f=folder: self.store.get(self.account, uid, f))
                if key.matches(candidate):
                    found.append(self._cache.summary(self.store, self.account, folder, info))
        return found


SEARCH_FIELDS = {"from": "sender", "subject": "subject", "body": "text", "all": "sender, subject or text"}


def search_key(text: str, where: str) -> SearchKey:
    """IMAP's FROM, SUBJECT and BODY keys (RFC 3501 section 6.4.4), or all three with OR."""
    keys = {"from": Header("From", text), "subject": Header("Subject", text), "body": Body(text)}
    if where in keys:
        return keys[where]
    return Or(Or(keys["from"], keys["subject"]), keys["body"])


@dataclass
class ReadMessage:
    """One message as the message page shows it."""

    subject: str
    sender: str
    recipients: str
    cc: str
    reply_to: str
    date: datetime.datetime | None
    message_id: str
    references: str
    body_type: str  # "plain", "html" or "" (no text to show)
    text: str  # the plain text (for "plain"), or the cleaned HTML (for "html")
    attachments: list[Attachment]
    message: EmailMessage


def part_text(part: EmailMessage) -> str:
    """A text part's content as text: transfer encoding and charset undone (RFC 2045, RFC 2046 4.1.2)."""
    try:
        content = part.get_content()
        return content if isinstance(content, str) else ""
    except (LookupError, UnicodeError, AttributeError, ValueError):  # an unknown or wrong charset
        payload = part.get_payload(decode=True)
        return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""


def read_message(raw: bytes) -> ReadMessage:
    """Parse a stored message into what the message page needs."""
    message = parse(raw)
    try:
        body = message.get_body(preferencelist=("html", "plain"))
    except Exception:  # noqa: BLE001 - a broken MIME structure: show what can be shown
        body = None
    body_type, text = "", ""
    if isinstance(body, EmailMessage):
        body_type = "html" if body.get_content_subtype() == "html" else "plain"
        text = part_text(body)
        if body_type == "html":
            text = clean_html(text)
    attachments = []
    for number, (part, parent) in enumerate(leaves(message), start=1):
        if is_attachment(part, parent, body):
            content_type = part.get_content_type()
            try:
                filename = part.get_filename()
            except Exception:  # noqa: BLE001 - a malformed parameter
                filename = None
            attachments.append(Attachment(number, safe_filename(filename, number, content_type), content_type,
                                          len(content_bytes(part))))
    return ReadMessage(
        subject=header_text(message, "Subject"), sender=header_text(message, "From"),
        recipients=header_text(message, "To"), cc=header_text(message, "Cc"),
        reply_to=header_text(message, "Reply-To"), date=sent_date(message),
        message_id=header_text(message, "Message-ID"), references=header_text(message, "References"),
        body_type=body_type, text=text, attachments=attachments, message=message)


def plain_text(message: EmailMessage) -> str:
    """The message's text for quoting: the plain version, else the HTML one without markup."""
    try:
        body = message.get_body(preferencelist=("plain", "html"))
    except Exception:  # noqa: BLE001
        body = None
    if not isinstance(body, EmailMessage):
        return ""
    text = part_text(body)
    return html_to_text(text) if body.get_content_subtype() == "html" else text
