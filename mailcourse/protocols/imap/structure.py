"""ENVELOPE and BODYSTRUCTURE: a message's header and MIME tree as IMAP data (RFC 3501 section 7.4.2).

Theory of operation
-------------------
Both are read from the tree that `mailcourse.protocols.imap.mime.parse_message`
builds, and are returned as plain Python lists for
`mailcourse.protocols.imap.response.render` (bytes are strings, None is NIL)::

    >>> body = bodystructure(b"Subject: Hi\\r\\n\\r\\nHello\\r\\n", extensible=False)
    >>> body
    [b'TEXT', b'PLAIN', [b'CHARSET', b'US-ASCII'], None, None, b'7BIT', 7, 1]
    >>> from mailcourse.protocols.imap.response import render
    >>> render(body)
    b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 7 1)'

The functions that take raw bytes (`envelope`, `bodystructure`) parse the
message; FETCH, which may ask for both, parses once and calls `envelope_of`
and `structure_of` on the tree. BODY is BODYSTRUCTURE without the extension
data (``extensible=False``).
"""
from __future__ import annotations

from .mime import Entity, header_params, parse_message

# -- ENVELOPE (RFC 3501 section 7.4.2) -------------------------------------------------------

def envelope(raw: bytes) -> list:
    """ENVELOPE as a list for `render`: date, subject, from, sender, reply-to, to, cc, bcc, in-reply-to, message-id."""
    return envelope_of(parse_message(raw))


def envelope_of(message: Entity) -> list:
    """RFC 3501 section 7.4.2: header values as they are (no RFC 2047 decoding), addresses taken apart.

    "If the Sender or Reply-To lines are absent in the [RFC-2822] header, or
    are present but empty, the server sets the corresponding member of the
    envelope to be the same value as the from member."
    """
    sender_from = _addresses(message.value("From"))
    sender = _addresses(message.value("Sender")) or sender_from
    reply_to = _addresses(message.value("Reply-To")) or sender_from
    return [message.value("Date"), message.value("Subject"), sender_from, sender, reply_to,
            _addresses(message.value("To")), _addresses(message.value("Cc")), _addresses(message.value("Bcc")),
            message.value("In-Reply-To"), message.value("Message-ID")]


_SPECIALS = "<>:;@,."


def _addresses(value: bytes | None) -> list | None:
    """An address list as IMAP's ``(name adl mailbox host)`` structures, or None (NIL) when there is none.

    RFC 3501 section 7.4.2: "[RFC-2822] group syntax is indicated by a
    special form of address structure in which the host name field is NIL.
    If the mailbox name field is also NIL, this is an end of group marker
    (semi-colon in RFC 822 syntax). If the mailbox name field is non-NIL,
    this is a start of group marker, and the mailbox name field holds the
    group name phrase." A word without ``@`` (``To: root``) gets an empty
    host, not NIL, so that it is not read as a group.
    """
    if not value:
        return None
    tokens = _address_tokens(value.decode("utf-8", "surrogateescape"))
    out: list[list] = []
    i, in_group = 0, False
    while i < len(tokens):
        kind, text = tokens[i]
        if kind == "special" and text in ",;>":
            if text == ";" and in_group:
                out.append([None, None, None, None])
                in_group = False
            i += 1
            continue
        words, comments = [], []
        while i < len(tokens) and not (tokens[i][0] == "special" and tokens[i][1] in "<>:;@,"):
            (comments if tokens[i][0] == "comment" else words).append(tokens[i])
            i += 1
        stop = tokens[i][1] if i < len(tokens) else ""
        comment = comments[-1][1].strip() if comments else ""  # "jdoe@host (John Doe)": an old way to give a name
        if stop == ":" and not in_group:
            out.append([None, None, _bytes(_phrase(words)), None])
            in_group = True
            i += 1
        elif stop == "<":
            route, local, domain, i = _angle_address(tokens, i + 1)
            out.append([_bytes(_phrase(words) or comment or None), _bytes(route or None), _bytes(local), _bytes(domain)])
        elif stop == "@":
            domain_words: list[tuple[str, str]] = []
            i += 1
            while i < len(tokens) and not (tokens[i][0] == "special" and tokens[i][1] in ",;<>"):
                if tokens[i][0] == "comment":
                    comment = tokens[i][1].strip()
                else:
                    domain_words.append(tokens[i])
                i += 1
            out.append([_bytes(comment or None), None, _bytes(_dotted(words)), _bytes(_dotted(domain_words))])
        else:
            if words:  # a bare word: a mailbox without a domain
                out.append([_bytes(comment or None), None, _bytes(_dotted(words)), b""])
            if stop == ":":
                i += 1  # a ":" inside a group is out of place: skip it
    if in_group:
        out.append([None, None, None, None])  # a group that never closed
    return out or None


def _angle_address(tokens: list[tuple[str, str]], i: int) -> tuple[str, str, str, int]:
    """``<@route,@route:local@domain>`` from just after ``<``: the route (IMAP's adl), local part, domain."""
    route = ""
    if i < len(tokens) and tokens[i] == ("special", "@"):  # obs-route, RFC 5322 section 4.4
        j = i
        while j < len(tokens) and tokens[j] != ("special", ":") and tokens[j] != ("special", ">"):
            j += 1
        if j < len(tokens) and tokens[j] == ("special", ":"):
            route = "".join(t for k, t in tokens[i:j] if k != "comment")
            i = j + 1
    local: list[tuple[str, str]] = []
    while i < len(tokens) and tokens[i] not in (("special", "@"), ("special", ">")):
        if tokens[i][0] != "comment":
            local.append(tokens[i])
        i += 1
    domain: list[tuple[str, str]] = []
    if i < len(tokens) and tokens[i] == ("special", "@"):
        i += 1
        while i < len(tokens) and tokens[i] != ("special", ">"):
            if tokens[i][0] != "comment":
                domain.append(tokens[i])
            i += 1
    return route, _dotted(local), _dotted(domain), i + 1


def _address_tokens(text: str) -> list[tuple[str, str]]:
    """RFC 5322 section 3.2 lexical tokens: ("word", ...), ("special", c) and ("comment", ...); white space dropped."""
    tokens: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in " \t\r\n":
            i += 1
        elif c == '"':
            j, chars = i + 1, []
            while j < n and text[j] != '"':
                if text[j] == "\\" and j + 1 < n:
                    j += 1
                if text[j] not in "\r\n":
                    chars.append(text[j])
                j += 1
            tokens.append(("word", "".join(chars)))
            i = j + 1
        elif c == "(":
            depth, j, chars = 1, i + 1, []
            while j < n and depth:
                if text[j] == "\\" and j + 1 < n:
                    j += 1
                elif text[j] == "(":
                    depth += 1
                elif text[j] == ")":
                    depth -= 1
                if depth:
                    chars.append(text[j])
                j += 1
            tokens.append(("comment", "".join(chars)))
            i = j
        elif c == "[":  # a domain literal such as [127.0.0.1]
            j = text.find("]", i)
            j = n if j < 0 else j + 1
            tokens.append(("word", text[i:j]))
            i = j
        elif c in _SPECIALS:
            tokens.append(("special", c))
            i += 1
        else:
            j = i
            while j < n and text[j] not in ' \t\r\n"()[' and text[j] not in _SPECIALS:
                j += 1
            tokens.append(("word", text[i:j]))
            i = j
    return tokens


def _phrase(words: list[tuple[str, str]]) -> str:
    """A display name: words with single spaces, a "." kept next to the word before it ("John Q. Public")."""
    out = ""
    for kind, text in words:
        out += text if kind == "special" or not out else " " + text
    return out


def _dotted(words: list[tuple[str, str]]) -> str:
    """A local part or a domain: words and dots with nothing between them."""
    return "".join(text for _, text in words)


def _bytes(text: str | None) -> bytes | None:
    return None if text is None else text.encode("utf-8", "surrogateescape")


# -- BODYSTRUCTURE and BODY (RFC 3501 section 7.4.2) -----------------------------------------

def bodystructure(raw: bytes, extensible: bool = True) -> list:
    """BODYSTRUCTURE (``extensible=True``) or BODY (without extension data) as a list for `render`."""
    return structure_of(parse_message(raw), extensible)


def structure_of(entity: Entity, extensible: bool) -> list:
    """One entity's structure, following RFC 3501 section 9's ``body`` grammar.

    body-type-mpart = 1*body SP media-subtype [SP body-ext-mpart]
    body-type-1part = (body-type-basic / body-type-msg / body-type-text) [SP body-ext-1part]
    body-fields     = body-fld-param SP body-fld-id SP body-fld-desc SP body-fld-enc SP body-fld-octets
    """
    maintype, _, subtype = entity.content_type.upper().partition("/")
    if entity.parts:
        out: list = [structure_of(p, extensible) for p in entity.parts] + [subtype.encode()]
        if extensible:  # body-ext-mpart = body-fld-param [SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc]]]
            out += [_param_list(entity.params)] + _extension_tail(entity)
        return out
    params = entity.params
    if maintype == "TEXT" and entity.param("charset") is None:
        params = [("charset", "US-ASCII")] + params  # RFC 2045 section 5.2: the default charset
    body = entity.body
    out = [maintype.encode(), subtype.encode(), _param_list(params), entity.value("Content-ID"),
           entity.value("Content-Description"), entity.encoding.encode("utf-8", "surrogateescape"), len(body)]
    if maintype == "TEXT":
        out.append(_lines(body))  # body-type-text adds body-fld-lines
    elif entity.message is not None:  # body-type-msg: envelope SP body SP body-fld-lines
        out += [envelope_of(entity.message), structure_of(entity.message, extensible), _lines(body)]
    if extensible:  # body-ext-1part = body-fld-md5 [SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc]]]
        out += [entity.value("Content-MD5")] + _extension_tail(entity)
    return out


def _extension_tail(entity: Entity) -> list:
    """body-fld-dsp, body-fld-lang, body-fld-loc: Content-Disposition (RFC 2183), -Language (RFC 3282), -Location (RFC 2557)."""
    disposition = None
    value = entity.text_value("Content-Disposition")
    if value:
        params = header_params(value, "content-disposition")
        if params and params[0][0]:
            disposition = [params[0][0].upper().encode("utf-8", "surrogateescape"), _param_list(params[1:])]
    languages = [w.strip() for w in (entity.text_value("Content-Language") or "").split(",") if w.strip()]
    language: object = None
    if len(languages) == 1:
        language = _bytes(languages[0])
    elif languages:
        language = [_bytes(w) for w in languages]
    return [disposition, language, entity.value("Content-Location")]


def _param_list(params: list[tuple[str, str]]) -> list | None:
    """body-fld-param: ``("CHARSET" "US-ASCII" "NAME" "x")`` or NIL. Names in upper case, values as written."""
    out: list = []
    for name, value in params:
        out += [name.upper().encode("utf-8", "surrogateescape"), value.encode("utf-8", "surrogateescape")]
    return out or None


def _lines(body: bytes) -> int:
    """body-fld-lines: the number of lines, counting a last line without a line end."""
    return body.count(b"\n") + (1 if body and not body.endswith(b"\n") else 0)
