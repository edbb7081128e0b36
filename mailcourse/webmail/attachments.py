"""Attachments: finding them in a MIME message, and handing them out safely.

A MIME message (RFC 2045, RFC 2046) is a tree: ``multipart/*`` entities hold
other entities, the leaves hold content. The webmail numbers the leaves
1, 2, 3... in the order they appear (depth first, as `email.message.Message.walk`
goes); ``message/<folder>/<uid>/part/<n>`` downloads leaf ``n``. A forwarded
``message/rfc822`` counts as one leaf: it is downloaded whole, as an .eml file.

Which leaves are attachments? RFC 2183 lets the sender say so with
``Content-Disposition: attachment`` (and give a ``filename``). Readers also
treat as attachments the parts they do not show inline: anything that is not
text. The text part chosen as the body, and the other text versions of it
inside the same ``multipart/alternative`` (RFC 2046 section 5.1.4: "each of
the body parts is an alternative version of the same information"), are not
listed.

A download must not turn into a page of the webmail. So (RFC 6266 for the
header):

* ``Content-Disposition: attachment``: the browser saves it, it does not show it;
* the file name comes from the sender and is cleaned (`safe_filename`): no
  directory parts, no control characters, no quotes; sent twice, as an
  ASCII ``filename="..."`` and as UTF-8 in ``filename*=UTF-8''...``
  (RFC 6266 section 4.3, with RFC 8187's encoding, the successor of RFC 2231);
* the Content-Type is ``application/octet-stream`` unless the type is one
  a browser cannot run (`HARMLESS_TYPES`); with ``nosniff`` the browser
  believes it.
"""
from __future__ import annotations

import mimetypes
import re
import urllib.parse
from dataclasses import dataclass
from email.message import EmailMessage

# Types a browser only ever displays (never runs), kept as they are on download.
HARMLESS_TYPES = frozenset({"text/plain", "image/png", "image/jpeg", "image/gif", "application/pdf"})

_UNSAFE_IN_NAME = re.compile(r'[\x00-\x1f\x7f"\\/:*?<>|]')
MAX_FILENAME = 120


@dataclass(frozen=True)
class Attachment:
    """One attachment as the message page lists it."""

    number: int  # the leaf number in the URL: <uid>/part/<number>
    filename: str  # cleaned, never empty
    content_type: str  # as the sender declared it, e.g. "image/png"
    size: int  # decoded size in bytes


def leaves(message: EmailMessage) -> list[tuple[EmailMessage, str]]:
    """Every leaf entity, depth first, with the subtype of the multipart it sits in ("" at the top)."""
    found: list[tuple[EmailMessage, str]] = []

    def visit(part: EmailMessage, parent: str) -> None:
        if part.get_content_maintype() == "multipart":
            for child in part.iter_parts():
                visit(child, part.get_content_subtype())  # type: ignore[arg-type]
        else:
            found.append((part, parent))

    visit(message, "")
    return found


def is_attachment(part: EmailMessage, parent: str, body: EmailMessage | None) -> bool:
    if part is body:
        return False
    if part.get_content_disposition() == "attachment" or part.get_filename():
        return True
    # A text part left over is another version of the body (or the text of a message without a body).
    return not (part.get_content_maintype() == "text" and (body is None or parent == "alternative"))


def content_bytes(part: EmailMessage) -> bytes:
    """A leaf's content with its transfer encoding (RFC 2045 section 6) undone: the file as it was sent."""
    if part.get_content_type() == "message/rfc822":
        inner = part.get_payload(0)
        return inner.as_bytes() if isinstance(inner, EmailMessage) else b""
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def safe_filename(name: str | None, number: int, content_type: str) -> str:
    """A file name that names a file and nothing else (see the module docstring)."""
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]  # no directories, Windows' or Unix'
    name = _UNSAFE_IN_NAME.sub("_", name).strip(" .")  # no leading dot: no hidden or ".." names
    if len(name) > MAX_FILENAME:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: MAX_FILENAME - len(ext) - 1] + dot + ext) if dot and len(ext) < 10 else name[:MAX_FILENAME]
    if not name:
        extension = ".eml" if content_type == "message/rfc822" else (mimetypes.guess_extension(content_type) or ".bin")
        name = f"part-{number}{extension}"
    return name


def content_disposition(filename: str) -> str:
    """``attachment`` with the name in ASCII and in UTF-8 (RFC 6266 section 4.3, RFC 8187)."""
    ascii_name = filename.encode("ascii", "replace").decode("ascii").replace("?", "_")
    encoded = urllib.parse.quote(filename, safe="")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{encoded}"


def download_type(part: EmailMessage) -> str:
    """The Content-Type to send: the declared one if harmless, else application/octet-stream."""
    declared = part.get_content_type()
    if declared not in HARMLESS_TYPES:
        return "application/octet-stream"
    charset = part.get_content_charset()
    if declared == "text/plain" and charset and re.fullmatch(r"[A-Za-z0-9._-]{1,40}", charset):
        return f"text/plain; charset={charset}"
    return declared
