"""A small SVG canvas: the course's figures, drawn as text a browser renders.

SVG (Scalable Vector Graphics, a W3C recommendation) describes a picture
as elements: ``<line>``, ``<rect>``, ``<path>``, ``<text>``. A figure
written this way is a few kilobytes of text that stays sharp at any zoom,
and writing it needs nothing but string formatting. The course used
matplotlib before; importing it cost a lesson's kernel about 53 MiB, half
of what the whole lesson needs, to draw boxes, lines and words.

A canvas is laid out in inches with y growing downwards (what the layout
arithmetic of the ladder and the topology is written in), 100 pixels to
the inch. Line widths and font sizes are in points (1/72 inch), as in
typography. Two promises matter to the course:

- **The same drawing gives the same bytes.** Numbers are rounded to a tenth
  of a pixel and printed without trailing zeros, attributes come in a fixed
  order, and the only ids (hatch patterns) are named after what they are.
  A notebook's committed figure is then compared by nbval like any text.
- **Text is measured without a renderer.** A browser lays out SVG text
  itself; the canvas only needs to know how wide a label will be, to size
  a box or make room. `text_width` adds up the advance widths of DejaVu
  Sans (the font the figures ask for first), a table taken once from the
  font files. A browser that falls back to another font draws slightly
  wider or narrower text; the layout leaves room for that.
"""
from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence

PX = 100  # pixels per inch
PT = PX / 72  # pixels per point

SANS = "DejaVu Sans, Verdana, Bitstream Vera Sans, sans-serif"
MONO = "DejaVu Sans Mono, Menlo, Consolas, monospace"

# Advance widths of DejaVu Sans, in em, for the printable ASCII characters 32 to 126,
# in thousandths (measured from DejaVuSans.ttf and DejaVuSans-Bold.ttf, version 2.37).
_ASCII_REGULAR = (
    318, 401, 460, 838, 636, 950, 780, 275, 390, 390, 500, 838, 318, 361, 318, 337, 636, 636, 636, 636,
    636, 636, 636, 636, 636, 636, 337, 337, 838, 838, 838, 531, 1000, 684, 686, 698, 770, 632, 575, 775,
    752, 295, 295, 656, 557, 863, 748, 787, 603, 787, 695, 635, 611, 732, 684, 989, 685, 611, 685, 390,
    337, 390, 838, 500, 500, 613, 635, 550, 635, 615, 352, 635, 634, 278, 278, 579, 278, 974, 634, 612,
    635, 635, 411, 521, 392, 634, 592, 818, 592, 592, 525, 636, 337, 636, 838)
_ASCII_BOLD = (
    348, 456, 521, 838, 696, 1002, 872, 306, 457, 457, 523, 838, 380, 415, 380, 365, 696, 696, 696, 696,
    696, 696, 696, 696, 696, 696, 400, 400, 838, 838, 838, 580, 1000, 774, 762, 734, 830, 683, 683, 821,
    837, 372, 372, 775, 637, 995, 837, 850, 733, 850, 770, 720, 682, 812, 774, 1103, 771, 724, 725, 457,
    365, 457, 838, 500, 500, 675, 716, 593, 716, 678, 435, 716, 712, 343, 343, 665, 343, 1042, 712, 687,
    716, 716, 493, 595, 478, 712, 652, 924, 645, 652, 582, 712, 365, 712, 838)
_OTHER = {"…": 1000, "→": 838, "←": 838, "↑": 838, "↓": 838, "×": 838, "–": 500, "—": 1000, "·": 318}
_MONO_EM = 0.602  # every character of DejaVu Sans Mono
_WIDE = 0.75  # a character outside the table: letters of other scripts are about this wide

# Where a line's baseline sits, in em, below the point the text is anchored at ("top"),
# or above it ("bottom"): DejaVu Sans's ascender and descender (0.928 and 0.236 em).
_ASCENT, _DESCENT = 0.928, 0.236


# An id in hex, such as a queue id in "250 2.0.0 Ok: queued as 3F9A2B1C0D": new on every run.
_HEX_ID = re.compile(r"(?<![0-9A-Za-z])[0-9A-F]{8,}(?![0-9A-Za-z])")


def text_width(text: str, size: float, *, bold: bool = False, mono: bool = False) -> float:
    """How wide one line of ``text`` is, in inches, at ``size`` points (kerning left out).

    An id in hex is measured as if it were all digits (which are equally
    wide): its letters change from run to run, and the drawing, which a
    notebook commits and nbval compares, must not change with them.
    """
    text = _HEX_ID.sub(lambda found: "0" * len(found.group()), text)
    if mono:
        return len(text) * _MONO_EM * size / 72
    table = _ASCII_BOLD if bold else _ASCII_REGULAR
    em = 0
    for char in text:
        code = ord(char)
        em += table[code - 32] if 32 <= code < 127 else _OTHER.get(char, _WIDE * 1000)
    return em / 1000 * size / 72


def line_height(size: float, spacing: float = 1.2) -> float:
    """The distance between two lines of text at ``size`` points, in inches."""
    return size * spacing / 72


def _n(value: float) -> str:
    """A coordinate in pixels: rounded to 0.1 and written without trailing zeros (12, 12.5)."""
    text = f"{round(value, 1):.1f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _px(inches: float) -> str:
    return _n(inches * PX)


def _dash(dash: Sequence[float] | None, width: float) -> str:
    # Dashes are given in multiples of the line width, as matplotlib and most plotting tools do.
    if not dash:
        return ""
    return f' stroke-dasharray="{" ".join(_n(d * width * PT) for d in dash)}"'


class Canvas:
    """A drawing ``width`` x ``height`` inches; each method adds one element, in drawing order.

    Later elements are drawn over earlier ones, as on paper. `svg` writes the
    document. ``texts`` lists every text drawn with its estimated box, for a
    test that checks no two labels overlap and none leaves the figure.
    """

    def __init__(self, width: float, height: float, *, background: str = "#ffffff"):
        self.width, self.height = width, height
        self._defs: dict[str, str] = {}
        self._items: list[str] = []
        self.texts: list[tuple[str, tuple[float, float, float, float]]] = []
        if background:
            self._items.append(f'<rect width="100%" height="100%" fill="{background}"/>')

    # -- lines and shapes ------------------------------------------------------------

    def line(self, x1: float, y1: float, x2: float, y2: float, *, colour: str, width: float = 1.0,
             dash: Sequence[float] | None = None, opacity: float | None = None, cap: str = "butt") -> None:
        self._items.append(f'<line x1="{_px(x1)}" y1="{_px(y1)}" x2="{_px(x2)}" y2="{_px(y2)}"'
                           f'{_stroke(colour, width, dash, opacity, cap)}/>')

    def polygon(self, points: Iterable[tuple[float, float]], *, fill: str, stroke: str | None = None,
                width: float = 0.5, opacity: float | None = None) -> None:
        coords = " ".join(f"{_px(x)},{_px(y)}" for x, y in points)
        self._items.append(f'<polygon points="{coords}" fill="{fill}"'
                           f'{_stroke(stroke, width) if stroke else ""}{_opacity(opacity)}/>')

    def rect(self, x: float, y: float, w: float, h: float, *, fill: str = "none", stroke: str | None = None,
             width: float = 1.0, radius: float = 0.0, opacity: float | None = None, hatch: str | None = None,
             ) -> None:
        """A rectangle; ``radius`` rounds its corners, ``hatch`` ("/" or "x") lines it over the fill."""
        rounded = f' rx="{_px(radius)}"' if radius else ""
        shape = f'x="{_px(x)}" y="{_px(y)}" width="{_px(w)}" height="{_px(h)}"{rounded}'
        self._items.append(f'<rect {shape} fill="{fill}"{_stroke(stroke, width) if stroke else ""}'
                           f'{_opacity(opacity)}/>')
        if hatch:
            self._items.append(f'<rect {shape} fill="url(#{self._hatch(hatch)})"/>')

    def circle(self, cx: float, cy: float, r: float, *, fill: str, stroke: str | None = None,
               width: float = 1.0) -> None:
        self._items.append(f'<circle cx="{_px(cx)}" cy="{_px(cy)}" r="{_px(r)}" fill="{fill}"'
                           f'{_stroke(stroke, width) if stroke else ""}/>')

    def curve(self, start: tuple[float, float], control: tuple[float, float], end: tuple[float, float], *,
              colour: str, width: float = 1.0, dash: Sequence[float] | None = None,
              opacity: float | None = None, cap: str = "butt") -> None:
        """A quadratic Bézier curve from ``start`` to ``end``, pulled towards ``control``."""
        (x0, y0), (cx, cy), (x1, y1) = start, control, end
        self._items.append(f'<path d="M{_px(x0)} {_px(y0)} Q{_px(cx)} {_px(cy)} {_px(x1)} {_px(y1)}" '
                           f'fill="none"{_stroke(colour, width, dash, opacity, cap)}/>')

    def head(self, tip: tuple[float, float], direction: tuple[float, float], *, colour: str,
             length: float = 0.13, half: float = 0.05) -> tuple[float, float]:
        """A filled arrowhead with its point at ``tip``, pointing along ``direction``.

        Returns the middle of its base: where the arrow's line should stop, so
        that a dashed or thick line never dents the head.
        """
        dx, dy = direction
        norm = (dx * dx + dy * dy) ** 0.5 or 1.0
        ux, uy = dx / norm, dy / norm
        bx, by = tip[0] - ux * length, tip[1] - uy * length
        self.polygon([tip, (bx - uy * half, by + ux * half), (bx + uy * half, by - ux * half)],
                     fill=colour, stroke=colour, width=0.5)
        return bx, by

    # -- text -----------------------------------------------------------------------------

    def text(self, x: float, y: float, text: str, *, size: float, colour: str, anchor: str = "start",
             baseline: str = "baseline", bold: bool = False, italic: bool = False, mono: bool = False,
             spacing: float = 1.2, rotate: int = 0, background: str | None = None, pad: float = 0.0,
             border: str | None = None, radius: float = 0.0) -> tuple[float, float, float, float]:
        """Text at (x, y); lines split at "\\n". Returns its estimated box (left, top, right, bottom).

        ``anchor`` is "start", "middle" or "end" (SVG's text-anchor);
        ``baseline`` says what y is: "top", "middle" or "bottom" of the lines'
        box, or the first line's "baseline". ``background`` (with ``pad``
        inches around, an optional ``border`` and corner ``radius``) draws a
        box behind it, so the text stays readable over lines. ``rotate=90``
        turns it to read upwards.
        """
        lines = text.split("\n")
        step = line_height(size, spacing)
        em = size / 72
        tall = em * (_ASCENT + _DESCENT) + step * (len(lines) - 1)
        top = {"top": y, "middle": y - tall / 2, "bottom": y - tall}.get(baseline, y - em * _ASCENT)
        wide = max(text_width(line, size, bold=bold, mono=mono) for line in lines)
        left = {"start": x, "middle": x - wide / 2, "end": x - wide}[anchor]
        box = (left, top, left + wide, top + tall)
        if rotate:
            # Rotated about its anchor point: the box turns with it (a quarter turn only).
            dx, dy = box[0] - x, box[1] - y
            box = (x + dy, y - dx - wide, x + dy + tall, y - dx)
        if background:
            self.rect(box[0] - pad, box[1] - pad, box[2] - box[0] + 2 * pad, box[3] - box[1] + 2 * pad,
                      fill=background, stroke=border, width=1.0, radius=radius)
        first = top + em * _ASCENT
        attrs = (f'x="{_px(x)}" y="{_px(first)}" font-family="{MONO if mono else SANS}" '
                 f'font-size="{_n(size * PT)}" fill="{colour}"')
        if anchor != "start":
            attrs += f' text-anchor="{anchor}"'
        if bold:
            attrs += ' font-weight="bold"'
        if italic:
            attrs += ' font-style="italic"'
        if mono or "  " in text:
            attrs += ' xml:space="preserve"'  # runs of spaces line a preview's columns up
        if rotate:
            attrs += f' transform="rotate({-rotate} {_px(x)} {_px(y)})"'
        if len(lines) == 1:
            body = html.escape(text, quote=False)
        else:
            down = f' dy="{_px(step)}"'
            body = "".join(f'<tspan x="{_px(x)}"{down if i else ""}>{html.escape(line, quote=False)}</tspan>'
                           for i, line in enumerate(lines))
        self._items.append(f"<text {attrs}>{body}</text>")
        self.texts.append((text, box))
        return box

    # -- the document -----------------------------------------------------------------

    def _hatch(self, kind: str) -> str:
        name = {"/": "hatch-diagonal", "x": "hatch-cross"}[kind]
        if name not in self._defs:
            lines = '<path d="M0 8 L8 0" stroke="#1a1a1a" stroke-width="0.8"/>'
            if kind == "x":
                lines += '<path d="M0 0 L8 8" stroke="#1a1a1a" stroke-width="0.8"/>'
            self._defs[name] = (f'<pattern id="{name}" width="8" height="8" patternUnits="userSpaceOnUse">'
                                f"{lines}</pattern>")
        return name

    def svg(self, title: str = "") -> str:
        """The SVG document; ``title`` becomes its <title> (what a screen reader announces)."""
        w, h = _px(self.width), _px(self.height)
        parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}">']
        if title:
            parts.append(f"<title>{html.escape(title, quote=False)}</title>")
        if self._defs:
            parts.append("<defs>" + "".join(self._defs[k] for k in sorted(self._defs)) + "</defs>")
        parts.extend(self._items)
        parts.append("</svg>")
        return "\n".join(parts) + "\n"


def _stroke(colour: str | None, width: float, dash: Sequence[float] | None = None,
            opacity: float | None = None, cap: str = "butt") -> str:
    out = f' stroke="{colour}" stroke-width="{_n(width * PT)}"'
    if cap != "butt":
        out += f' stroke-linecap="{cap}"'
    return out + _dash(dash, width) + (f' stroke-opacity="{_n(opacity)}"' if opacity is not None else "")


def _opacity(opacity: float | None) -> str:
    return f' opacity="{_n(opacity)}"' if opacity is not None else ""
