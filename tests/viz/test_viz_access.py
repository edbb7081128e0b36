"""mailcourse.viz.access: the side-by-side views of one account and the chart of the three models.

Built from a real lab (an IMAP device, a POP3 fetch); the PNG goes to
test-output/viz/ for a human to look at.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from mailcourse import Lab
from mailcourse.viz import Diagram
from mailcourse.viz.access import (
    ABSENT,
    AccessRun,
    access_table,
    compare_access,
    flags_text,
    side_by_side,
)

OUTPUT = Path(__file__).resolve().parents[2] / "test-output" / "viz"
JANE = "jane@somewhereelse.com"


def test_flags_text_lists_system_flags_first() -> None:
    assert flags_text(frozenset()) == "(none)"
    assert flags_text({"$Forwarded", "\\Seen", "\\Answered"}) == "\\Answered \\Seen $Forwarded"


def test_side_by_side_shows_where_the_devices_differ_until_they_sync() -> None:
    with Lab.classic(seed=6) as lab:
        joe = lab.client("joe-laptop")
        for subject in ("one", "two"):
            joe.compose(JANE, subject, "text")
        joe.send_all()
        assert lab.wait_for_delivery()
        laptop, phone = lab.client("jane-laptop"), lab.add_client(JANE, "jane-phone")
        before = side_by_side(lab, JANE, ["jane-laptop", "jane-phone"])
        assert before.columns == ["server", "jane-laptop", "jane-phone"]
        assert [row[:3] for row in before.rows] == [("INBOX", 1, "one"), ("INBOX", 2, "two")]
        assert before.rows[0][3] == ["(none)", ABSENT, ABSENT] and not before.identical

        laptop.imap.sync()
        phone.imap.sync()
        laptop.go_offline()
        laptop.imap.mark_read(1)
        laptop.imap.delete(2)
        apart = side_by_side(lab, JANE, ["jane-laptop", "jane-phone"], folders=["INBOX"])
        assert [row[3] for row in apart.rows] == [["(none)", "\\Seen", "(none)"],
                                                  ["(none)", "\\Deleted", "(none)"]]
        text = repr(apart)
        assert text.splitlines()[0].split() == ["folder", "UID", "subject", "server", "jane-laptop", "jane-phone"]
        assert "\\Deleted" in text and str(apart) == text

        laptop.go_online()
        laptop.imap.sync()
        phone.imap.sync()
        after = side_by_side(lab, JANE, ["jane-laptop", "jane-phone"], folders=["INBOX"])
        assert after.identical and [row[:3] for row in after.rows] == [("INBOX", 1, "one")]
        assert after.rows[0][3] == ["\\Seen"] * 3


RUNS = [
    AccessRun("online", "direct access", "jane-laptop", 0, "nothing", 0, 0, 3),
    AccessRun("offline", "POP3", "jane-office", 3, "read", 1, 2687, 0),
    AccessRun("disconnected", "IMAP", "jane-laptop", 3, "read and change", 1, 5698, 3),
]


def test_access_table_has_a_column_per_way_and_a_row_per_measure() -> None:
    lines = access_table(RUNS).splitlines()
    assert lines[0].split() == ["direct", "access", "POP3", "IMAP"]
    rows = {line[:24].strip(): line[24:].split("  ") for line in lines[1:]}
    assert list(rows) == ["access model", "device", "messages on the device", "without a network",
                          "connections", "bytes on the wire", "left on the server"]
    assert [cell.strip() for cell in rows["bytes on the wire"] if cell.strip()] == ["0", "2,687", "5,698"]
    assert all(line == line.rstrip() for line in lines)


def test_compare_access_draws_bars_and_says_the_numbers_in_words() -> None:
    diagram = compare_access(RUNS, title="Three ways")
    assert isinstance(diagram, Diagram) and diagram.kind == "chart"
    assert diagram.svg().startswith("<svg ")
    assert repr(diagram) == (
        "Three ways: bar charts comparing 3 ways of reading the same mailbox (direct access, POP3, IMAP).\n"
        "Bytes on the wire: direct access 0, POP3 2,687, IMAP 5,698.\n"
        "Messages afterwards, on the device and left on the server: direct access 0 and 3, POP3 3 and 0, "
        "IMAP 3 and 3.")
    # Every bar carries its number, in the order the bars stand: bytes, then (device, server) per way.
    texts = [text for text, _ in diagram.canvas.texts]
    assert {"2,687", "5,698", "Bytes on the wire", "Messages afterwards", "on the device"} <= set(texts)
    assert texts.count("3") == 4 + 1  # four bars of 3 messages, and the axis's tick
    *bars, device_swatch, server_swatch = _bar_heights(diagram.svg())  # the legend's two swatches come last
    assert len(bars) == 9 and device_swatch == server_swatch
    # Bars are drawn to scale: within a panel, heights are proportional to the values.
    wire, where = bars[:3], bars[3:]
    assert wire[0] == 0 and wire[2] / wire[1] == pytest.approx(5698 / 2687, rel=0.01)
    assert [h > 0 for h in where] == [False, True, True, False, True, True]
    assert len({h for h in where if h}) == 1  # every 3 is as tall as the others
    diagram.save(OUTPUT / "access.svg")


def _bar_heights(svg: str) -> list[float]:
    """The heights of the bars: the filled rectangles with a dark outline, in drawing order."""
    return [float(h) for h in re.findall(r'<rect x="[^"]+" y="[^"]+" width="[^"]+" height="([^"]+)" '
                                         r'fill="#(?!ffffff)[0-9a-f]{6}" stroke="#1a1a1a"', svg)]


def test_importing_the_module_draws_nothing_and_needs_no_plotting_library() -> None:
    code = "import sys, mailcourse.viz.access; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120).stdout
    assert out.strip() == "False"
