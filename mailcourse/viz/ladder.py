"""The ladder (sequence) diagram: who said what to whom, in order.

One vertical lifeline per device, time flowing down, one arrow per thing
that crossed the wire. It is the picture RFC 5321 draws in words in its
Appendix D ("Scenarios"), and the one every textbook draws for SMTP::

    joe-laptop            mail.someplace.org
        |  <- - - 220 mail.someplace.org ESMTP - - |
        |  EHLO joe-laptop  ---------------------> |
        ...

Drawing every line of a session would bury the dialogue, so lines are
folded the way a reader groups them, and nothing else is changed. The
session is read into exchanges first (`mailcourse.protocols.exchanges`:
each command with its replies, pipelined or not), and each part of an
exchange is one arrow:

- a multi-line reply (RFC 5321 section 4.2.1: ``250-`` lines, then a last
  ``250`` line) is one arrow, "250 mail.someplace.org … (9 lines)";
- the message that follows ``354`` is one arrow, "message: 12 lines", with
  its first few lines shown and the final ``.`` that ends it (section
  4.1.1.4);
- after STARTTLS (RFC 3207), or from the start with implicit TLS (RFC
  8314), the TLS handshake is one step both ways, "TLS handshake (TLS
  1.3)", and what follows is ciphertext: each run of records in one
  direction is one arrow, "encrypted: 233 bytes in 8 records" (the sizes of
  application data, which follow the dialogue's; the handshake's change
  with every certificate and are never shown). ``keys=True`` draws what the
  lab's key log opens instead: the handshake, then the dialogue inside;
- an HTTP request and a response, with their header fields and body, are
  one arrow each: "POST /login (form: username, password, csrf)", "303 See
  Other → ./mailbox/INBOX + cookie" (RFC 9112 section 2.1);
- what an IMAP server sends while its client idles (RFC 2177 section 3) is
  one arrow, "pushed: * 4 EXISTS, * 1 RECENT": untagged news, asked by nobody.

Sessions are drawn one after the other, each under its own separator. Some
sessions are open at the same time, and the point is what one did to the
other: the relay that delivers joe's message while jane's phone idles, and
the push it causes. ``interleave=True`` draws their arrows in the order
they crossed, whichever session they belong to.

Command verbs are written in capitals: SMTP verbs are case-insensitive
(RFC 5321 section 2.4) and Python's smtplib sends "mail FROM:"; the arrow
shows "MAIL FROM:", as the RFC writes it. Everything else is the wire's text,
cut with "…" where it is too long for its arrow.
"""
from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..protocols import exchanges, tls
from ..trace import C2S, S2C, Connection, Trace
from . import style
from .diagram import Arrow, Diagram
from .svg import Canvas

LABEL_WIDTH = 44  # characters in an arrow's label
PREVIEW_WIDTH = 46  # characters in a line of a message preview

# Layout, in inches (y downwards, as on the canvas: see mailcourse.viz.svg).
LANE = 3.7  # between two lifelines
MARGIN = 1.5  # left and right of the outer lifelines
ROW = 0.38  # one arrow
PREVIEW_ROW = 0.153  # one line of a message preview
SEPARATOR = 0.55  # the band that starts a session
HEAD = 0.46  # a lifeline's name box


@dataclass
class Step:
    """An arrow before it has a place: direction, kind, label, wire lines.

    ``at`` is where its first line stands among the session's lines
    (`Trace.lines`), so that `Trace.line_times` tells when it crossed.
    """

    direction: str
    kind: str
    label: str
    lines: list[str]
    at: int = 0


# -- the arrows of a session, from its exchanges ----------------------------------------

# Each part of an exchange (`mailcourse.protocols.exchanges`) is one arrow, of this kind.
_ARROW_KIND = {exchanges.COMMAND: "command", exchanges.ANSWER: "command", exchanges.REPLY: "reply",
               exchanges.CHALLENGE: "reply", exchanges.PUSHED: "pushed", exchanges.MESSAGE: "message",
               exchanges.CIPHERTEXT: "encrypted", exchanges.HANDSHAKE: "handshake"}
HTTP_LABEL_WIDTH = 60  # an HTTP arrow says more (target, form fields, redirect): HTTP lanes are wide enough


def steps(protocol: str, found: Iterable[exchanges.Exchange]) -> list[Step]:
    """The arrows of a ladder: one per part of each exchange, in the order the parts crossed.

    A command, each reply (all lines of a multi-line one), the message after
    ``354``, and each run of ciphertext are one arrow each; so are an IMAP
    command's responses up to its tagged completion, and a POP3 response with
    its lines. Pipelined commands and their replies interleave as on the wire.
    """
    protocol = protocol.upper()
    parts = sorted((part for exchange in found for part in exchange.parts), key=lambda part: part.at)
    return [_step(protocol, part) for part in parts]


def _step(protocol: str, part: exchanges.Part) -> Step:
    kind, lines = _ARROW_KIND[part.kind], list(part.lines)
    step = Step(part.direction, kind, "", lines, part.at)
    if kind == "handshake":
        step.label = _handshake_label(lines)
    elif kind == "encrypted":
        sizes = [size for size in map(tls.record_size, lines) if size is not None]
        step.label = "encrypted" if not sizes else (
            f"encrypted: {sum(sizes):,} bytes" + (f" in {len(sizes)} records" if len(sizes) > 1 else ""))
    elif kind == "pushed":
        step.label = _pushed_label(lines)
    elif kind == "message":
        ended = protocol != "LOCAL" and lines[-1:] == ["."]
        body = lines[:-1] if ended else lines
        step.label = f"message: {_count(len(body), 'line')}" + (
            ", unfinished" if protocol != "LOCAL" and not ended else "")
    elif protocol == "HTTP":
        step.label = _http_label(step)
    elif protocol == "SMTP":
        step.label = _command(lines[0]) if kind == "command" else _reply_label(lines)
    else:
        step.label = _generic_label(protocol, step)
    return step


def _handshake_label(lines: list[str]) -> str:
    """"TLS handshake (TLS 1.3)": the version from the ServerHello, which the eavesdropper reads too."""
    version = next((m.group(1) for line in lines if (m := re.search(r"(TLS 1\.\d) ServerHello", line))), None)
    return f"TLS handshake ({version})" if version else "TLS handshake (no ServerHello)"


def _http_label(step: Step) -> str:
    start, *rest = step.lines
    blank = rest.index("") if "" in rest else len(rest)  # the empty line ends the header section
    fields = [line.split(":", 1) for line in rest[:blank] if ":" in line]
    headers = {name.strip().lower(): value.strip() for name, value in reversed(fields)}  # the first wins
    body = rest[blank + 1] if blank + 1 < len(rest) else ""
    if step.direction == C2S:
        label = start.rsplit(" HTTP/", 1)[0]  # "GET /login": the version says nothing here
        if body and "urlencoded" in headers.get("content-type", ""):
            names = [pair.split("=", 1)[0] for pair in body.split("&") if pair]
            label += f" (form: {', '.join(names)})"
    else:
        label = start.partition(" ")[2]  # "303 See Other"
        if "location" in headers:
            label += f" → {headers['location']}"
        elif body:
            label += f" {body}"
        if "set-cookie" in headers:
            label += " + cookie"
    return style.shorten(label, HTTP_LABEL_WIDTH)


def _command(line: str) -> str:
    verb, space, rest = line.partition(" ")
    return style.shorten(verb.upper() + space + rest, LABEL_WIDTH)


def _reply_label(lines: list[str]) -> str:
    first = style.shorten(lines[0], LABEL_WIDTH)
    if len(lines) == 1:
        return first
    # "250-mail.someplace.org" becomes "250 mail.someplace.org … (7 lines)".
    first = re.sub(r"^(\d{3})-", r"\1 ", first)
    return _counted(first, len(lines))


def _counted(first: str, count: int) -> str:
    """A several-line reply's first (or telling) line, cut to fit, and how many lines it has."""
    shown = style.shorten(first, LABEL_WIDTH - 12)
    return shown + ("" if shown.endswith("…") else " …") + f" ({count} lines)"  # one "…", not two


def _pushed_label(lines: list[str]) -> str:
    # Untagged news has no tagged line to end it: every line says something, the first most.
    together = "pushed: " + ", ".join(lines)
    if len(together) <= LABEL_WIDTH:
        return together
    if len(lines) == 1:
        return style.shorten(together, LABEL_WIDTH)
    return _counted("pushed: " + lines[0], len(lines))


def _generic_label(protocol: str, step: Step) -> str:
    if step.direction == C2S:
        return _command(step.lines[0]) if protocol == "POP3" else style.shorten(step.lines[0], LABEL_WIDTH)
    # IMAP's tagged line, last, says how the command ended; elsewhere the first line does.
    shown = step.lines[-1] if protocol == "IMAP" else step.lines[0]
    if len(step.lines) == 1:
        return style.shorten(shown, LABEL_WIDTH)
    return _counted(shown, len(step.lines))


def preview(lines: list[str], max_lines: int) -> list[str]:
    """The first ``max_lines`` lines of a message as a reader sees them, then "..." and ".".

    Header fields folded over several lines (RFC 5322 section 2.2.3, as a
    Received: field usually is) are unfolded first, so each preview line is a
    whole field.
    """
    ended = bool(lines) and lines[-1] == "."
    body = lines[:-1] if ended else list(lines)
    logical: list[str] = []
    in_header = True
    for line in body:
        if in_header and line[:1] in (" ", "\t") and logical:
            logical[-1] += " " + line.strip()
            continue
        if line == "":
            in_header = False
        logical.append(line)
    shown = [style.shorten(line, PREVIEW_WIDTH) for line in logical[:max_lines]]
    if len(logical) > max_lines:
        shown.append("...")
    return shown + (["."] if ended else [])


# -- the figure ---------------------------------------------------------------------------


def ladder(trace: Trace, sessions: Connection | Iterable[Connection] | None = None, *,
           max_body_lines: int = 3, title: str | None = None, interleave: bool = False,
           keys: bool | str = False) -> Diagram:
    """A ladder diagram of SMTP (or other) sessions from a lab's trace.

    ``sessions`` are `Connection` objects from ``trace.sessions(...)``
    (default: every session); their order sets the lifelines' order, left
    to right. Several sessions are drawn one after the other on the same
    lifelines, each under a separator that names it: a submission and the
    relay that followed read top to bottom as the message's journey.
    ``interleave=True`` draws sessions that were open at the same time as
    they happened instead: every arrow in the order its first line crossed
    (`Trace.line_times`), each session's separator above its first arrow,
    and the sessions numbered in the order they opened. ``max_body_lines`` is
    how many lines of each message are shown with its arrow (0: only its
    size).

    A TLS session is drawn as an eavesdropper sees it: the handshake, then
    encrypted records. ``keys=True`` opens it with the lab's key log (the
    trace's ``keylog_source``), or ``keys`` is a key log's text: then the
    dialogue inside TLS is drawn after the handshake, and the session's title
    says it was decrypted.
    """
    keylog = (trace.keylog_source() if trace.keylog_source is not None else None) if keys is True else keys or None
    if sessions is None:
        sessions = trace.sessions()
    elif isinstance(sessions, Connection):
        sessions = [sessions]
    sessions = list(sessions)
    servers = {c.server for c in trace.sessions()}

    lifelines: list[str] = []
    for conn in sessions:
        for device in (conn.client, conn.server):
            if device not in lifelines:
                lifelines.append(device)
    if interleave:
        sessions.sort(key=lambda conn: (conn.opened, conn.id))

    folded: list[tuple[Connection, list[Arrow]]] = []
    decrypted: set[int] = set()  # the TLS sessions the key log opened
    # The drawing's order: (when, session number, place in the session, arrow or None for a
    # session with no arrow). One after the other, "when" is the session's number.
    order: list[tuple[float, int, int, Arrow | None]] = []
    for number, conn in enumerate(sessions, start=1):
        these = []
        times = trace.line_times(conn, keylog) if interleave else []
        found = trace.exchanges(conn, keylog)
        if keylog and conn.tls and _opened(found):
            decrypted.add(conn.id)
        for step in steps(conn.protocol, found):
            src, dst = (conn.client, conn.server) if step.direction == C2S else (conn.server, conn.client)
            these.append(Arrow(number, src, dst, step.direction, step.kind, step.label, tuple(step.lines)))
            when = times[step.at] if interleave and step.at < len(times) else float(number)
            order.append((when, number, len(these), these[-1]))
        if not these:
            order.append((conn.opened if interleave else float(number), number, 0, None))
        folded.append((conn, these))
    order.sort(key=lambda item: item[:3])
    drawn = [(number, item) for _, number, _, item in order]

    draw = functools.partial(_draw, lifelines, folded, drawn, servers, max_body_lines, title, decrypted)
    alt = _alt(lifelines, folded, servers, interleave)
    arrows = [arrow for _, arrow in drawn if arrow is not None]
    return Diagram(draw, alt, "ladder", lifelines=lifelines, arrows=arrows)


def _opened(found: list[exchanges.Exchange]) -> bool:
    """Was a TLS session read inside: exchanges after its handshake, and no ciphertext?"""
    parts = [part.kind for exchange in found for part in exchange.parts]
    return exchanges.HANDSHAKE in parts and exchanges.CIPHERTEXT not in parts and (
        len(parts) > parts.index(exchanges.HANDSHAKE) + 1)


def _session_title(number: int, conn: Connection, servers: set[str], open_: Sequence[int] = (),
                   decrypted: bool = False) -> str:
    title = f"Session {number}:  {conn.client} → {conn.server},  {style.service_name(conn, servers)}"
    if decrypted:
        title += ",  inside TLS decrypted with the lab's keys"
    if open_:  # interleaved: this session began while another still had arrows to come
        names = " and ".join(str(n) for n in open_)
        title += f",  while session {names} is open" if len(open_) == 1 else f",  while sessions {names} are open"
    return title


def _draw(lifelines: list[str], folded: list[tuple[Connection, list[Arrow]]],
          drawn: list[tuple[int, Arrow | None]], servers: set[str], max_body_lines: int,
          title: str | None, decrypted: set[int]) -> Canvas:
    x_of = {name: MARGIN + i * LANE for i, name in enumerate(lifelines)}
    width = 2 * MARGIN + LANE * max(len(lifelines) - 1, 1)
    count = sum(len(arrows) for _, arrows in folded)
    heads_below = count > 12  # a long diagram names its lifelines at the bottom too

    # Heights first: every arrow's row, then the whole figure.
    top = 0.25 + (0.45 if title else 0) + 0.4  # title, legend
    y = top + HEAD + 0.15
    # ("session", y, (number, conn)), ("arrow", y, (arrow, preview lines)) or ("empty", y, conn)
    rows: list[tuple[str, float, Any]] = []
    started: list[int] = []
    last = {number: place for place, (number, _) in enumerate(drawn)}  # each session's last row
    for place, (number, arrow) in enumerate(drawn):
        conn = folded[number - 1][0]
        if number not in started:  # a session's separator stands above its first arrow
            open_ = [n for n in started if last[n] > place]  # interleaved: sessions still going on
            started.append(number)
            rows.append(("session", y, (number, conn, open_)))
            y += SEPARATOR
        if arrow is None:
            y += ROW
            rows.append(("empty", y, conn))
            continue
        shown = []
        if arrow.kind == "message" and max_body_lines > 0:
            shown = preview(list(arrow.lines), max_body_lines)
        y += ROW + (PREVIEW_ROW * len(shown) + 0.16 if shown else 0)
        rows.append(("arrow", y, (arrow, shown)))
    y += 0.3
    lifeline_end = y
    height = y + (HEAD + 0.35 if heads_below else 0.2)

    canvas = Canvas(width, height)
    if title:
        canvas.text(width / 2, 0.25, title, size=style.FONT + 3, colour=style.TEXT, anchor="middle",
                    baseline="top", bold=True)
    _legend(canvas, width / 2, top - 0.2)

    head_top = top
    for x in x_of.values():
        canvas.line(x, head_top + HEAD, x, lifeline_end, colour="#a0a0a0", width=1.2)
    # Time flows down: say so once, in the left margin.
    canvas.line(0.3, head_top + HEAD + 0.4, 0.3, lifeline_end - 0.2, colour=style.MUTED, width=1.0)
    canvas.head((0.3, lifeline_end - 0.1), (0, 1), colour=style.MUTED, length=0.1, half=0.04)
    canvas.text(0.18, head_top + HEAD + 0.45, "time", size=style.SMALL, colour=style.MUTED, anchor="end",
                baseline="middle", rotate=90)

    for kind, row_y, item in rows:
        if kind == "session":
            number, conn, open_ = item
            line_y = row_y + 0.12
            canvas.line(0.55, line_y, width - 0.2, line_y, colour="#c8c8c8", width=1.0)
            canvas.text(0.6, line_y + 0.07, _session_title(number, conn, servers, open_, conn.id in decrypted),
                        size=style.FONT - 0.5, colour=style.MUTED, baseline="top", italic=True,
                        background="#ffffff", pad=0.02)
        elif kind == "arrow":
            arrow, shown = item
            _arrow(canvas, x_of[arrow.src], x_of[arrow.dst], row_y - 0.07, arrow, shown)
        else:
            conn = item
            x = (x_of[conn.client] + x_of[conn.server]) / 2
            canvas.text(x, row_y - 0.1, "(nothing crossed the wire)", size=style.SMALL, colour=style.MUTED,
                        anchor="middle", baseline="bottom", italic=True)
    # The names go over the lifelines' tops.
    for name, x in x_of.items():
        _head(canvas, x, head_top, name)
        if heads_below:
            _head(canvas, x, lifeline_end, name)
    if not folded:
        canvas.text(width / 2, top + HEAD + 0.4, "no sessions yet", size=style.FONT, colour=style.MUTED,
                    anchor="middle", baseline="middle")
    return canvas


def _head(canvas: Canvas, x: float, y: float, name: str) -> None:
    canvas.text(x, y + HEAD / 2, name, size=style.FONT, colour=style.TEXT, anchor="middle", baseline="middle",
                bold=True, background="#f2f2f2", border="#7f7f7f", pad=0.07, radius=0.06)


def _legend(canvas: Canvas, x: float, y: float) -> None:
    for offset, direction, text in ((-2.6, C2S, "client → server (command)"),
                                    (0.4, S2C, "server → client (reply)")):
        spec = style.ARROW[direction]
        end = canvas.head((x + offset + 0.55, y), (1, 0), colour=spec["colour"])
        canvas.line(x + offset, y, end[0], y, colour=spec["colour"], width=style.ARROW_WIDTH, dash=spec["dash"])
        canvas.text(x + offset + 0.7, y, text, size=style.SMALL, colour=style.TEXT, baseline="middle")


def _arrow(canvas: Canvas, x1: float, x2: float, y: float, arrow: Arrow, shown: list[str]) -> None:
    sign = 1 if x2 > x1 else -1
    if arrow.kind == "handshake":  # both sides take turns: one grey line with a head at each end
        start = canvas.head((x1, y), (-sign, 0), colour=style.MUTED)
        end = canvas.head((x2, y), (sign, 0), colour=style.MUTED)
        canvas.line(start[0], y, end[0], y, colour=style.MUTED, width=style.ARROW_WIDTH * 2)
        canvas.text((x1 + x2) / 2, y - 0.06, arrow.label, size=style.FONT, colour=style.TEXT, anchor="middle",
                    baseline="bottom", background="#ffffff", pad=0.015, bold=True)
        return
    spec = style.ARROW[arrow.direction]
    # The line stops where the head starts, so a dashed line never dents the head.
    end = canvas.head((x2, y), (sign, 0), colour=spec["colour"])
    canvas.line(x1, y, end[0], y, colour=spec["colour"], width=style.ARROW_WIDTH, dash=spec["dash"])
    middle = (x1 + x2) / 2
    label_y = y - 0.06
    if shown:
        left = min(x1, x2) + 0.25
        canvas.text(left, label_y - 0.045, "\n".join(shown), size=8.5, colour=style.TEXT, baseline="bottom",
                    mono=True, spacing=1.3, background="#f6f6f6", border="#d0d0d0", pad=0.035)
        label_y -= PREVIEW_ROW * len(shown) + 0.1
        canvas.text(left, label_y, arrow.label, size=style.FONT, colour=style.TEXT, baseline="bottom", bold=True)
        return
    canvas.text(middle, label_y, arrow.label, size=style.FONT, colour=style.TEXT, anchor="middle",
                baseline="bottom", background="#ffffff", pad=0.015)


# -- the words ------------------------------------------------------------------------


def _alt(lifelines: list[str], folded: list[tuple[Connection, list[Arrow]]], servers: set[str],
         interleave: bool = False) -> str:
    if not folded:
        return "Ladder diagram: no sessions yet."
    count = sum(len(arrows) for _, arrows in folded)
    n = len(folded)
    order = "; the sessions' arrows interleaved in the order they crossed" if interleave and n > 1 else ""
    out = [(f"Ladder diagram: {_count(n, 'session')} on {_count(len(lifelines), 'lifeline')} "
            f"({', '.join(lifelines)}), {_count(count, 'arrow')}, time flowing down{order}.")]
    for number, (conn, arrows) in enumerate(folded, start=1):
        said = [_said(a) for a in arrows if a.direction == C2S]
        answered = [_answered(conn.protocol, a) for a in arrows if a.direction == S2C]
        line = (f"Session {number}: {conn.client} -> {conn.server}, {style.service_name(conn, servers)}, "
                f"{_count(len(arrows), 'arrow')}.")
        if said:
            line += f" {'Client' if conn.protocol != 'local' else 'Handed over'}: {'; '.join(said)}."
        if answered:
            # An HTTP response's label has commas of its own ("[body: 2,224 bytes, text/html]").
            line += f" Server: {('; ' if conn.protocol.upper() == 'HTTP' else ', ').join(answered)}."
        out.append(line)
    return "\n".join(out)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' if n != 1 else ''}"


def _said(arrow: Arrow) -> str:
    if arrow.kind == "encrypted":
        return _answered("", arrow)
    if arrow.kind == "message":
        return "message (" + arrow.label.removeprefix("message: ") + ")"
    # ESMTP parameters such as SIZE=272 depend on the message's length: leave them out.
    match = re.match(r"^(MAIL FROM:<[^>]*>|RCPT TO:<[^>]*>)", arrow.label, re.IGNORECASE)
    return match.group(1) if match else arrow.label


def _answered(protocol: str, arrow: Arrow) -> str:
    if arrow.kind == "encrypted":  # "encrypted (233 bytes in 8 records)"
        return "encrypted" if arrow.label == "encrypted" else f"encrypted ({arrow.label.removeprefix('encrypted: ')})"
    if arrow.kind == "pushed":  # "pushed * 4 EXISTS (2 lines)": untagged news, its first line says it
        words = arrow.lines[0].split()
        token = " ".join(words[:3] if len(words) > 2 and words[1].isdigit() else words[:2])
        return f"pushed {token}" + (f" ({len(arrow.lines)} lines)" if len(arrow.lines) > 1 else "")
    protocol = protocol.upper()
    if protocol == "HTTP":
        return arrow.label  # "303 See Other → ./mailbox/INBOX + cookie": one response, one arrow
    line = arrow.lines[-1] if protocol == "IMAP" else arrow.lines[0]
    words = line.split() or ["(empty)"]
    if protocol == "SMTP":
        token = line[:3]
    elif protocol == "IMAP":
        token = " ".join(words[:2])
    else:
        token = words[0]
    return token + (f" ({len(arrow.lines)} lines)" if len(arrow.lines) > 1 else "")
