"""Bar charts on the SVG canvas: a few numbers side by side, each bar with its value.

The lessons compare ways of reading a mailbox by a handful of numbers
(bytes on the wire, round trips, messages left). A bar per number, its
value written on it, a y axis with round ticks, and a hatch as well as a
colour for each measure: the chart reads in black and white, and without
the chart at all (the alt text says the same numbers in words).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from . import style
from .svg import Canvas, text_width


@dataclass(frozen=True)
class Series:
    """One measure: its name (for the legend), one value per group, and how its bars look."""

    label: str
    values: Sequence[float]
    colour: str
    hatch: str | None = None  # "/" or "x": see `Canvas.rect`


def ticks(top: float, integer: bool = False, most: int = 6) -> list[float]:
    """Round tick values from 0 to at least ``top``: steps of 1, 2 or 5 times a power of ten."""
    if top <= 0:
        return [0, 1]
    raw = top / (most - 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    if integer:
        step = max(1, round(step))
    return [i * step for i in range(int(math.floor(top / step)) + 1)]


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def panel(canvas: Canvas, left: float, top: float, width: float, height: float, *, title: str,
          groups: Sequence[str], series: Sequence[Series], headroom: float = 1.2, integer: bool = False,
          legend: bool = False) -> None:
    """One bar chart in the box (left, top, width, height) of ``canvas``, in inches.

    ``groups`` name the bars' places along the x axis; each series puts one
    bar in each place, side by side. The y axis runs up to the largest
    value times ``headroom`` (room for the numbers on top of the bars).
    """
    most = max([v for s in series for v in s.values] + [1])
    values = ticks(most * headroom, integer)
    y_top = max(values[-1], most * headroom)
    labels = [_number(v) for v in values]
    axis_x = left + max(text_width(label, style.SMALL) for label in labels) + 0.12
    axis_y = top + height - 0.32  # room below for the groups' names
    plot_top = top + 0.32  # room above for the title
    plot_w = left + width - axis_x - 0.1

    def y_of(value: float) -> float:
        return axis_y - (axis_y - plot_top) * value / y_top

    canvas.text(axis_x + plot_w / 2, top + 0.05, title, size=style.FONT, colour=style.TEXT, anchor="middle",
                baseline="top")
    for value, label in zip(values, labels):
        canvas.line(axis_x - 0.05, y_of(value), axis_x, y_of(value), colour=style.MUTED, width=0.8)
        canvas.text(axis_x - 0.08, y_of(value), label, size=style.SMALL, colour=style.MUTED, anchor="end",
                    baseline="middle")

    slot = plot_w / max(len(groups), 1)
    bar = min(0.6, 0.76 / len(series)) * slot if len(series) > 1 else 0.6 * slot
    for g, name in enumerate(groups):
        centre = axis_x + slot * (g + 0.5)
        for k, s in enumerate(series):
            x = centre + (k - (len(series) - 1) / 2) * bar - bar / 2
            value = s.values[g]
            canvas.rect(x, y_of(value), bar, axis_y - y_of(value), fill=s.colour, stroke=style.TEXT, width=0.8,
                        hatch=s.hatch)
            canvas.text(x + bar / 2, y_of(value) - 0.03, _number(value), size=style.SMALL, colour=style.TEXT,
                        anchor="middle", baseline="bottom")
        canvas.text(centre, axis_y + 0.08, name, size=style.FONT, colour=style.TEXT, anchor="middle",
                    baseline="top")
    canvas.line(axis_x, plot_top - 0.02, axis_x, axis_y, colour=style.TEXT, width=0.8)
    canvas.line(axis_x, axis_y, axis_x + plot_w, axis_y, colour=style.TEXT, width=0.8)

    if legend:
        x, y = axis_x + 0.12, plot_top + 0.05
        for s in series:
            canvas.rect(x, y - 0.06, 0.28, 0.12, fill=s.colour, stroke=style.TEXT, width=0.8, hatch=s.hatch)
            canvas.text(x + 0.36, y, s.label, size=style.SMALL, colour=style.TEXT, baseline="middle")
            x += 0.36 + text_width(s.label, style.SMALL) + 0.25
