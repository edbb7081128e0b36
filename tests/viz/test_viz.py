"""The figures: drawn from a real lab's trace, checked by what they contain.

No image comparison: a `Diagram` says what it drew (lifelines, arrows,
edges, hops), and that is what these tests read. The SVGs are written to
test-output/viz/ for a human to look at.
"""
from __future__ import annotations

import base64
import html
import re
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path
from xml.etree import ElementTree

import pytest

from mailcourse import Lab
from mailcourse.trace import C2S, S2C, Trace
from mailcourse.viz import Diagram, ladder, topology
from mailcourse.protocols.exchanges import read_exchanges, read_http
from mailcourse.protocols.http import HttpMessage
from mailcourse.viz.ladder import preview, steps

OUTPUT = Path(__file__).resolve().parents[2] / "test-output" / "viz"
CLASSIC = ["joe-laptop", "mail.someplace.org", "mail.somewhereelse.com"]


def journey(seed: int = 1) -> tuple[Diagram, Diagram, str, list]:
    """The chapter's journey: joe writes to jane; the two figures, the Message-ID, the sessions."""
    with Lab.classic(seed=seed) as lab:
        joe = lab.client("joe-laptop")
        msg = joe.compose("jane@somewhereelse.com", "Lunch tomorrow", "Noon at the usual place?")
        assert all(r.ok for r in joe.send_all())
        assert lab.wait_for_delivery()
        sessions = [(c.client, c.server, lab.trace.lines(c)) for c in lab.trace.sessions()]
        return ladder(lab.trace), topology(lab, msg["Message-ID"]), msg["Message-ID"], sessions


@pytest.fixture(scope="module")
def classic() -> tuple[Diagram, Diagram, str, list]:
    return journey(seed=1)


# -- the ladder ---------------------------------------------------------------------------


def test_ladder_has_one_lifeline_per_device_involved(classic):
    lad, _, _, _ = classic
    assert lad.kind == "ladder"
    assert lad.lifelines == CLASSIC
    assert {a.session for a in lad.arrows} == {1, 2}
    assert {(a.src, a.dst) for a in lad.arrows if a.session == 1} == {
        ("joe-laptop", "mail.someplace.org"), ("mail.someplace.org", "joe-laptop")}
    assert {(a.src, a.dst) for a in lad.arrows if a.session == 2} == {
        ("mail.someplace.org", "mail.somewhereelse.com"), ("mail.somewhereelse.com", "mail.someplace.org")}


def _expected_arrows(lines: list[tuple[str, str]]) -> int:
    """Count arrows the long way: a command, the last line of a reply, a whole message."""
    count, in_data = 0, False
    for direction, line in lines:
        if direction == C2S:
            if in_data:
                if line == ".":
                    count, in_data = count + 1, False
                continue
            count += 1
        else:
            if line[3:4] != "-":
                count += 1
            if line.startswith("354"):
                in_data = True
    return count


def test_ladder_arrows_are_the_folded_lines(classic):
    lad, _, _, sessions = classic
    for number, (client, server, lines) in enumerate(sessions, start=1):
        arrows = [a for a in lad.arrows if a.session == number]
        assert len(arrows) == _expected_arrows(lines)
        # Folding loses nothing: the arrows hold every line of the session, in order.
        assert [line for a in arrows for line in a.lines] == [line for _, line in lines]
        for a in arrows:
            assert (a.src, a.dst) == ((client, server) if a.direction == C2S else (server, client))
    assert len(lad.arrows) == sum(_expected_arrows(lines) for *_, lines in sessions)


def test_ladder_labels_read_like_the_rfc(classic):
    lad, _, _, _ = classic
    labels = [a.label for a in lad.arrows]
    assert any(label.startswith("MAIL FROM:<joe@someplace.org>") for label in labels)
    assert any(label.startswith("RCPT TO:<jane@somewhereelse.com>") for label in labels)
    assert "AUTH PLAIN ********" in labels  # the tap masked the password; the figure shows the mask
    assert sum(label.startswith("354") for label in labels) == 2
    ehlo_replies = [a for a in lad.arrows if a.kind == "reply" and len(a.lines) > 1]
    # Submission: name, SIZE, 8BITMIME, SMTPUTF8, STARTTLS, AUTH, PIPELINING, ENHANCEDSTATUSCODES,
    # HELP; the MX the same without AUTH.
    assert [a.label for a in ehlo_replies] == ["250 mail.someplace.org … (9 lines)",
                                               "250 mail.somewhereelse.com … (8 lines)"]
    messages = [a for a in lad.arrows if a.kind == "message"]
    assert len(messages) == 2 and all(a.lines[-1] == "." for a in messages)
    assert messages[0].label == f"message: {len(messages[0].lines) - 1} lines"
    # The relay's copy is longer: the submission server added a Received: field.
    assert messages[1].lines[0].startswith("Received: from joe-laptop")
    assert all(len(label) <= 44 for label in labels)


def test_ladder_grows_with_its_arrows():
    with Lab.classic(seed=1) as lab:
        joe = lab.client("joe-laptop")
        for i in range(3):
            joe.compose("jane@somewhereelse.com", f"Note {i}", "Hello")
        joe.send_all()
        lab.wait_for_delivery()
        submission = lab.trace.sessions(service="submission")
        first_relay = lab.trace.sessions(service="mx")[:1]
        long = ladder(lab.trace, submission)
        bare = ladder(lab.trace, submission, max_body_lines=0)
        longer = ladder(lab.trace, submission + first_relay)
    # One session, three transactions: 220 EHLO 250 AUTH 235,
    # 3 x (MAIL 250 RCPT 250 DATA 354 message 250), QUIT 221.
    assert len(long.arrows) == 5 + 3 * 8 + 2
    assert long.lifelines == ["joe-laptop", "mail.someplace.org"]
    assert bare.arrows == long.arrows  # the preview changes the picture only
    assert bare.canvas.height < long.canvas.height < longer.canvas.height
    assert longer.canvas.height > 0.3 * len(longer.arrows)  # about 0.4 inch an arrow: readable
    long.save(OUTPUT / "ladder_three_messages.svg")


def idle_while_joe_writes() -> tuple[Diagram, Diagram, Trace, list]:
    """Jane's phone idles on its INBOX while joe's message is relayed to her server (RFC 2177)."""
    with Lab.classic(seed=6) as lab:
        joe = lab.client("joe-laptop")
        lab.add_client("jane@somewhereelse.com", "jane-phone")
        start = lab.trace.mark()
        with lab.imap("jane-phone", lab.server("somewhereelse.com").endpoints["imap"]) as session:
            session.login("jane@somewhereelse.com", "jane-password")
            session.select("INBOX")
            session.send(b"I001 IDLE\r\n")
            assert session.readline().startswith(b"+")
            joe.compose("jane@somewhereelse.com", "Call me", "Call me when you land.")
            joe.send_all()
            assert lab.wait_for_delivery()
            assert session.readline() == b"* 1 EXISTS\r\n"
            session.send(b"DONE\r\n")
            while not session.readline().startswith(b"I001 "):
                pass
        phone = lab.trace.sessions(protocol="IMAP", since=start)
        relay = lab.trace.sessions(service="mx", since=start)
        together = ladder(lab.trace, relay + phone, interleave=True, title="IDLE")
        apart = ladder(lab.trace, relay + phone, title="IDLE")
        return together, apart, lab.trace, relay + phone


def test_interleaved_sessions_show_the_push_where_it_happened():
    together, apart, trace, sessions = idle_while_joe_writes()
    # The lifelines keep the order given; the sessions are numbered in the order they opened.
    assert together.lifelines == apart.lifelines == ["mail.someplace.org", *CLASSIC[2:], "jane-phone"]
    assert together.arrows[0].dst == "jane-phone"  # session 1, opened first, is the phone's: its greeting
    assert {a.dst for a in together.arrows if a.session == 2} == set(CLASSIC[1:])
    labels = [a.label for a in together.arrows]
    pushed = [a for a in together.arrows if a.kind == "pushed"]
    assert [(a.src, a.dst, a.label) for a in pushed] == [
        ("mail.somewhereelse.com", "jane-phone", "pushed: * 1 EXISTS, * 1 RECENT")]
    # In the order they crossed: the phone idles, the relay brings the message, the server pushes
    # the news (once delivered, before its 250 to the relay), and only then does the phone say DONE.
    at = labels.index(pushed[0].label)
    before, after = labels[:at], labels[at + 1:]
    assert "I001 IDLE" in before and "+ idling" in before and "EHLO mail.someplace.org" in before
    assert [label for label in before if label.startswith("message:")] == ["message: 13 lines"]
    assert after[0].startswith("250 2.0.0") and "DONE" in after and "QUIT" in after
    assert after.index("QUIT") < after.index("DONE")
    # Each session's own arrows keep their order; drawn apart, the IMAP session comes whole.
    for number in (1, 2):
        assert [(a.src, a.label, a.lines) for a in together.arrows if a.session == number] == [
            (a.src, a.label, a.lines) for a in apart.arrows if a.session == 3 - number]
    assert len(together.arrows) == len(apart.arrows)
    assert together.alt.startswith("Ladder diagram: 2 sessions on 3 lifelines")
    assert "the sessions' arrows interleaved in the order they crossed" in together.alt
    assert "+ idling, pushed * 1 EXISTS (2 lines), I001 OK" in together.alt
    # The same rows, reordered.
    assert together.canvas.height == pytest.approx(apart.canvas.height)
    for conn in sessions:
        times = trace.line_times(conn)
        assert len(times) == len(trace.lines(conn)) and times == sorted(times)
    boxes = together.canvas.texts
    assert any(text.endswith("while session 1 is open") for text, _ in boxes)
    for i, (a, box_a) in enumerate(boxes):
        for b, box_b in boxes[i + 1:]:
            assert not _overlap(box_a, box_b), (a, b)
    together.save(OUTPUT / "ladder_idle.svg")


def test_empty_trace_says_so():
    d = ladder(Trace())
    assert d.arrows == [] and d.lifelines == []
    assert repr(d) == "Ladder diagram: no sessions yet."
    assert "no sessions yet" in d.svg()


# -- the topology ---------------------------------------------------------------------------


def test_topology_highlights_the_hops_in_order(classic):
    _, topo, _, _ = classic
    assert topo.kind == "topology"
    assert [(e.src, e.dst) for e in topo.hops] == [
        ("joe-laptop", "mail.someplace.org"), ("mail.someplace.org", "mail.somewhereelse.com")]
    assert [e.label for e in topo.hops] == ["SMTP (submission)", "SMTP (relay, MX)"]
    assert [e.hops for e in topo.hops] == [[1], [2]]
    assert all(e.used and e.sessions == 1 for e in topo.hops)


def test_topology_is_the_four_device_model(classic):
    _, topo, _, _ = classic
    assert topo.nodes == ["joe-laptop", "mail.someplace.org", "mail.somewhereelse.com", "jane-laptop"]
    xs = [topo.graph.nodes[n]["pos"][0] for n in topo.nodes]
    assert xs == sorted(xs) and len(set(xs)) == 4  # left to right, one column each
    unused = [e for e in topo.edges if not e.used]
    assert [(e.src, e.dst, e.label) for e in unused] == [
        ("mail.somewhereelse.com", "jane-laptop", "POP3 / IMAP / HTTP")]
    assert set(topo.graph.edges) == {(e.src, e.dst) for e in topo.edges}
    assert topo.graph.edges["mail.someplace.org", "mail.somewhereelse.com"]["hops"] == [2]


def test_topology_without_a_message_highlights_nothing(classic):
    with Lab.classic(seed=1) as lab:
        plain = topology(lab)
    assert plain.hops == [] and not any(e.used for e in plain.edges)
    assert [(e.src, e.dst, e.label) for e in plain.edges] == [
        ("joe-laptop", "mail.someplace.org", "SMTP (submission)"),
        ("mail.someplace.org", "mail.somewhereelse.com", "SMTP (relay, MX)"),
        ("mail.somewhereelse.com", "jane-laptop", "POP3 / IMAP / HTTP")]
    assert "No traffic yet." in plain.alt


def test_a_shell_user_gets_a_node_next_to_its_server():
    with Lab.classic(seed=3) as lab:
        msg = EmailMessage()
        msg["From"], msg["To"] = "joe@someplace.org", "jane@somewhereelse.com"
        msg["Subject"] = "From the shell"
        msg["Message-ID"] = "<shell-1@someplace.org>"
        msg.set_content("Typed on the server itself.")
        lab.server("someplace.org").inject("joe", msg)
        assert lab.wait_for_delivery()
        topo = topology(lab, "<shell-1@someplace.org>")
        lad = ladder(lab.trace)
    assert "joe (shell)" in topo.nodes
    shell, server = topo.graph.nodes["joe (shell)"], topo.graph.nodes["mail.someplace.org"]
    assert shell["kind"] == "shell" and shell["pos"][0] == server["pos"][0]
    assert [(e.src, e.dst, e.label) for e in topo.hops] == [
        ("joe (shell)", "mail.someplace.org", "local (sendmail)"),
        ("mail.someplace.org", "mail.somewhereelse.com", "SMTP (relay, MX)")]
    # The ladder draws the hand-over as one arrow: the message, with no SMTP dialogue.
    first = [a for a in lad.arrows if a.session == 1]
    assert [(a.kind, a.src, a.dst) for a in first] == [("message", "joe (shell)", "mail.someplace.org")]
    topo.save(OUTPUT / "topology_shell.svg")


# -- the Diagram: SVG, words, the same bytes every time ------------------------------------------


def test_diagrams_render_svg_and_save(classic):
    lad, topo, _, _ = classic
    for name, d in (("ladder_classic.svg", lad), ("topology_classic.svg", topo)):
        svg = d._repr_svg_()
        root = ElementTree.fromstring(svg)  # well-formed XML
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        assert float(root.get("width")) == pytest.approx(d.canvas.width * 100)
        # Every label is in the picture as text a browser draws (and a search finds).
        drawn = {"".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")}
        assert root.findtext("{http://www.w3.org/2000/svg}title") == d.alt.split("\n")[0]
        for arrow in d.arrows:
            assert arrow.label in drawn, arrow.label
        for node in d.nodes:
            assert node in drawn
        path = d.save(OUTPUT / name)
        assert path.read_text(encoding="utf-8") == svg
    with pytest.raises(ValueError, match="SVG"):
        lad.save(OUTPUT / "ladder.png")


def test_a_notebook_gets_the_svg_and_an_img_that_an_untrusted_notebook_shows(classic):
    lad, _, _, _ = classic
    bundle = lad._repr_mimebundle_()
    assert set(bundle) == {"image/svg+xml", "text/html", "text/plain"}
    assert bundle["text/plain"] == lad.alt
    match = re.fullmatch(r'<img src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)" width="(\d+)" '
                         r'style="max-width:100%;height:auto" alt="([^"]*)">', bundle["text/html"])
    assert match, bundle["text/html"][:200]
    assert base64.b64decode(match.group(1)).decode() == bundle["image/svg+xml"]
    assert html.unescape(match.group(3)) == lad.alt


def test_the_same_drawing_gives_the_same_bytes(classic):
    lad, topo, _, _ = classic
    lad2, topo2, _, _ = journey(seed=1)
    # Only what the sanitizer of nbval replaces may differ: the queue ids in "queued as ..." replies.
    queue_id = re.compile(r"(?<![0-9A-Za-z])[0-9A-F]{10}(?![0-9A-Za-z])")
    assert queue_id.sub("QUEUEID", lad.svg()) == queue_id.sub("QUEUEID", lad2.svg())
    assert topo.svg() == topo2.svg()
    assert not re.search(r'id="(?!hatch-)', lad.svg() + topo.svg())  # no generated ids


def test_alt_text_is_deterministic_and_says_what_is_drawn(classic):
    lad, topo, message_id, _ = classic
    lad2, topo2, message_id2, _ = journey(seed=1)
    assert message_id == message_id2
    assert repr(lad) == lad.alt == lad2.alt
    assert repr(topo) == topo.alt == topo2.alt
    for alt in (lad.alt, topo.alt):
        assert not re.search(r":\d{2,5}\b|0x[0-9a-f]+|\d\d:\d\d", alt)  # no port, address or time
    assert lad.alt.startswith("Ladder diagram: 2 sessions on 3 lifelines (joe-laptop, mail.someplace.org, "
                              "mail.somewhereelse.com)")
    assert "MAIL FROM:<joe@someplace.org>;" in lad.alt  # ESMTP parameters (SIZE=) are left out
    assert message_id not in topo.alt  # the words name the message by its subject
    assert 'Hops of "Lunch tomorrow": 1. joe-laptop -> mail.someplace.org, SMTP (submission); ' \
           "2. mail.someplace.org -> mail.somewhereelse.com, SMTP (relay, MX)." in topo.alt


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_no_label_overlaps_another_or_leaves_the_figure(classic):
    for d in classic[:2]:
        canvas = d.canvas
        boxes = canvas.texts
        assert len(boxes) > 5
        for text, (x0, y0, x1, y1) in boxes:
            assert 0 <= x0 and x1 <= canvas.width, text
            assert 0 <= y0 and y1 <= canvas.height, text
        for i, (a, box_a) in enumerate(boxes):
            for b, box_b in boxes[i + 1:]:
                assert not _overlap(box_a, box_b), (d.kind, a, b)


def test_import_mailcourse_stays_light():
    heavy = ('mailcourse.viz', 'networkx', 'ipywidgets', 'aiohttp', 'jinja2', 'nh3',  # imported when first used
             'trustme', 'cryptography')  # TLS: when the first certificate is made (mailcourse.tls)
    code = f"import sys, mailcourse; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]"


def test_drawing_a_topology_does_not_import_networkx():
    """networkx (11 MB in a kernel) is for whoever asks for ``diagram.graph``; the drawing needs plain dicts."""
    code = ("import sys\nfrom mailcourse import Lab\nfrom mailcourse.viz import topology, ladder\n"
            "with Lab.classic(seed=1) as lab:\n"
            "    topology(lab).svg(); ladder(lab.trace).svg()\n"
            "    print('networkx' in sys.modules, 'matplotlib' in sys.modules)\n"
            "    topology(lab).graph\n"
            "    print('networkx' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.split() == ["False", "False", "True"]


def test_a_diagram_draws_once_and_keeps_its_svg():
    lad = ladder(Trace())
    calls = []
    draw = lad.draw
    lad.draw = lambda: calls.append(1) or draw()
    assert lad.svg() is lad.svg() and lad.html() == lad.html()
    assert calls == [1]  # drawn once, when first shown
    assert lad.canvas is lad.canvas


# -- folding, line by line (no lab needed) ---------------------------------------------------


def fold(protocol, lines):
    """The ladder's arrows for a session's lines, read into exchanges first."""
    return steps(protocol, read_exchanges(protocol, lines))


def test_fold_follows_pipelined_replies_into_data():
    lines = [(S2C, "220 mx ESMTP"), (C2S, "EHLO a"), (S2C, "250-mx"), (S2C, "250 PIPELINING"),
             (C2S, "MAIL FROM:<a@x>"), (C2S, "RCPT TO:<b@y>"), (C2S, "DATA"),
             (S2C, "250 OK"), (S2C, "250 OK"), (S2C, "354 go ahead"),
             (C2S, "Subject: hi"), (C2S, ""), (C2S, "body"), (C2S, "."), (S2C, "250 queued")]
    steps = fold("SMTP", lines)
    assert [s.label for s in steps] == [
        "220 mx ESMTP", "EHLO a", "250 mx … (2 lines)", "MAIL FROM:<a@x>", "RCPT TO:<b@y>", "DATA",
        "250 OK", "250 OK", "354 go ahead", "message: 3 lines", "250 queued"]


def test_fold_after_starttls_shows_the_handshake_then_only_ciphertext_runs():
    # The lines as `Trace.lines` gives a TLS session: one per record (`protocols.tls.record_line`).
    lines = [(S2C, "220 mx"), (C2S, "STARTTLS"), (S2C, "220 Ready to start TLS"),
             (C2S, "[TLS handshake: ClientHello for mx: TLS 1.3]"),
             (S2C, "[TLS handshake: TLS 1.3 ServerHello, cipher TLS_AES_128_GCM_SHA256]"),
             (S2C, "[TLS handshake: encrypted]"), (C2S, "[TLS handshake: encrypted]"),
             (C2S, "[application data, 34 bytes (encrypted)]"), (C2S, "[application data, 1,200 bytes (encrypted)]"),
             (S2C, "[application data, 41 bytes (encrypted)]")]
    steps = fold("SMTP", lines)
    assert [(s.direction, s.kind, len(s.lines), s.label) for s in steps[3:]] == [
        (C2S, "handshake", 4, "TLS handshake (TLS 1.3)"),
        (C2S, "encrypted", 2, "encrypted: 1,234 bytes in 2 records"), (S2C, "encrypted", 1, "encrypted: 41 bytes")]
    # Lines that are not records (a recording from elsewhere): no size to tell.
    odd = fold("SMTP", lines[:3] + [(C2S, "\x16\x03\x01garbage")])
    assert (odd[-1].kind, odd[-1].label) == ("encrypted", "encrypted")


def test_fold_pop3_and_imap_group_server_runs():
    pop = fold("POP3", [(S2C, "+OK ready"), (C2S, "user jane"), (S2C, "+OK"), (C2S, "LIST"),
                        (S2C, "+OK 2 messages"), (S2C, "1 120"), (S2C, "2 200"), (S2C, ".")])
    assert [s.label for s in pop] == ["+OK ready", "USER jane", "+OK", "LIST", "+OK 2 messages … (4 lines)"]
    imap = fold("IMAP", [(S2C, "* OK ready"), (C2S, "a1 SELECT INBOX"), (S2C, "* 2 EXISTS"),
                         (S2C, "a1 OK [READ-WRITE] done")])
    assert [s.label for s in imap] == [
        "* OK ready", "a1 SELECT INBOX", "a1 OK [READ-WRITE] done … (2 lines)"]


def test_fold_imap_idle_pushes_untagged_news():
    steps = fold("IMAP", [(S2C, "* OK ready"), (C2S, "I001 IDLE"), (S2C, "+ idling"),
                          (S2C, "* 4 EXISTS"), (S2C, "* 1 RECENT"), (C2S, "DONE"),
                          (S2C, "I001 OK IDLE terminated")])
    assert [(s.kind, s.label) for s in steps] == [
        ("reply", "* OK ready"), ("command", "I001 IDLE"), ("reply", "+ idling"),
        ("pushed", "pushed: * 4 EXISTS, * 1 RECENT"), ("command", "DONE"),
        ("reply", "I001 OK IDLE terminated")]
    assert [s.at for s in steps] == [0, 1, 2, 3, 5, 6]  # where each starts among the lines
    many = fold("IMAP", [(S2C, "* OK ready"), (C2S, "I1 IDLE"), (S2C, "+ idling")]
                + [(S2C, f"* {n} FETCH (UID {n} FLAGS (\\Seen \\Flagged))") for n in range(1, 4)])
    assert many[-1].label == "pushed: * 1 FETCH (UID 1 FLAGS… (3 lines)"


def test_a_label_cut_short_has_one_ellipsis():
    imap = fold("IMAP", [(S2C, "* OK ready"), (C2S, "a1 SELECT INBOX"), (S2C, "* 2 EXISTS"),
                         (S2C, "a1 OK [READ-WRITE] SELECT completed, and then some")])
    assert imap[-1].label == "a1 OK [READ-WRITE] SELECT compl… (2 lines)"


def test_an_unfinished_message_is_marked():
    steps = fold("SMTP", [(C2S, "DATA"), (S2C, "354 go"), (C2S, "Subject: x")])
    assert steps[-1].label == "message: 1 line, unfinished"
    assert steps[-1].lines == ["Subject: x"]


def test_preview_unfolds_header_fields():
    lines = ["Received: from a", "\tby b", "\tfor <c>; date", "From: joe@x", "To: jane@y", "", "hi", "."]
    assert preview(lines, 2) == ["Received: from a by b for <c>; date", "From: joe@x", "...", "."]
    assert preview(lines, 10)[-3:] == ["", "hi", "."]


def test_an_http_session_is_one_arrow_per_request_and_one_per_response():
    from mailcourse.clients.browser import WebmailBrowser

    with Lab.classic(seed=3) as lab:
        with WebmailBrowser(lab, lab.server("somewhereelse.com"), device="jane-laptop") as web:
            web.login("jane@somewhereelse.com", "jane-password")
        diagram = ladder(lab.trace, lab.trace.sessions(protocol="HTTP"), title="Webmail")
        for conn in lab.trace.sessions(protocol="HTTP"):  # one time a line, a message's lines alike
            times = lab.trace.line_times(conn)
            assert len(times) == len(lab.trace.lines(conn)) and times == sorted(times)
    assert [(a.src, a.dst) for a in diagram.arrows] == [("jane-laptop", "mail.somewhereelse.com"),
                                                        ("mail.somewhereelse.com", "jane-laptop")] * 3
    labels = [a.label for a in diagram.arrows]
    assert labels[0::2] == ["GET /login", "POST /login (form: username, password, csrf)", "GET /mailbox/INBOX"]
    assert re.fullmatch(r"200 OK \[body: [\d,]+ bytes, text/html\] \+ cookie", labels[1])
    assert labels[3] == "303 See Other → ./mailbox/INBOX + cookie"
    assert "(form: username, password, csrf)" in repr(diagram)  # the alt text says what was sent


def test_fold_http_keeps_pipelined_requests_apart():
    found = read_http([(C2S, HttpMessage("GET /a HTTP/1.1", [("Host", "x")])),
                       (C2S, HttpMessage("GET /b HTTP/1.1", [("Host", "x")])),
                       (S2C, HttpMessage("HTTP/1.1 204 No Content")),
                       (S2C, HttpMessage("HTTP/1.1 200 OK", [("Content-Type", "text/plain")], b"ok"))])
    arrows = steps("HTTP", found)
    assert [s.label for s in arrows] == ["GET /a", "GET /b", "204 No Content",
                                         "200 OK [body: 2 bytes, text/plain]"]
    assert arrows[3].lines[-1] == "[body: 2 bytes, text/plain]"
