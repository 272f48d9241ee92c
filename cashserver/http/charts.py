"""Charts for the console, drawn on the server as inline SVG.

Why our own SVG and not a charting library: the console is server-rendered HTML
with no script of its own, and must work with no internet access. The two charts
the Overview needs (a line a store over 30 days, stacked bars over 24 hours) are
about 300 lines here; a browser library (Chart.js, uPlot, ECharts) would add a
vendored 50-1000 KiB file to keep up to date, a script on a page that has none,
and a canvas whose legend and labels a test (or a screen reader) cannot read.
Inline SVG is text in the page: it prints, it zooms without blurring, it needs
no JavaScript (so it can raise no JavaScript error), every label is in the DOM,
and each point carries a ``<title>`` that the browser shows on hover.

Values are integers (kopecks, counts); only pixel positions are computed in
floating point. Tick steps are 1, 2 or 5 times a power of ten of the value's own
unit, so money ticks fall on whole kopecks and whole roubles alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#59a14f",
    "#b07aa1",
    "#76b7b2",
    "#9c755f",
    "#edc948",
)
"""Tableau 10's first colours: tell-apart for most colour-blind readers too."""
OTHER_COLOUR = "#a0a7b0"
MAX_SERIES = len(PALETTE)
"""More series than this: the largest ``MAX_SERIES - 1`` and one "others" series."""

WIDTH = 880
NARROW_WIDTH = 400
"""For a phone's screen: the page carries both and CSS shows the one that fits."""
PLOT_HEIGHT = 220
FONT_PX = 12
CHAR_PX = 7.2
"""An average glyph's width at FONT_PX, for laying out labels without measuring them."""
LEGEND_ROW_PX = 20
TICKS = 5


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    values: tuple[int, ...]
    """One value a category, in the chart's category order."""
    others: bool = False
    """The sum of the series left out (drawn in grey)."""


@dataclass(frozen=True, slots=True)
class Chart:
    title: str
    categories: tuple[str, ...]
    """The x axis' labels, one a category."""
    series: tuple[Series, ...]
    x_title: str
    y_title: str
    value_text: Callable[[int], str]
    """A value as a person reads it (tooltips)."""
    tick_text: Callable[[int], str]
    """A tick of the y axis as a person reads it."""
    empty_text: str = "Nothing to show yet."
    label: str = ""
    """The chart's id in the page (``revenue``, ``receipts``)."""


def nice_step(span: int, ticks: int = TICKS) -> int:
    """The smallest step of 1, 2 or 5 x 10^k that covers ``span`` in ``ticks`` steps."""
    if span <= 0:
        return 1
    power = 1
    while True:
        for factor in (1, 2, 5):
            if factor * power * ticks >= span:
                return factor * power
        power *= 10


def axis_ticks(low: int, high: int, ticks: int = TICKS) -> list[int]:
    """Ticks from a multiple of the step at or below ``min(low, 0)`` to one at or above
    ``max(high, 0)``: zero is always on the axis."""
    low, high = min(low, 0), max(high, 0)
    step = nice_step(high - low, ticks)
    first = -(-low // step) * step if low % step == 0 else (low // step) * step
    last = -(-high // step) * step
    if last == first:
        last = first + step
    return list(range(first, last + 1, step))


def top_series(series: Sequence[Series], other_name: str) -> tuple[Series, ...]:
    """At most MAX_SERIES: the largest by total, the rest summed into one."""
    if len(series) <= MAX_SERIES:
        return tuple(series)
    ranked = sorted(series, key=lambda s: (-sum(s.values), s.name))
    kept, rest = ranked[: MAX_SERIES - 1], ranked[MAX_SERIES - 1 :]
    summed = tuple(sum(column) for column in zip(*(s.values for s in rest), strict=True))
    kept_order = [s for s in series if s in kept]
    return (*kept_order, Series(f"{other_name} ({len(rest)})", summed, others=True))


def _colour(index: int, series: Sequence[Series]) -> str:
    return OTHER_COLOUR if series[index].others else PALETTE[index % len(PALETTE)]


def _text(x: float, y: float, text: str, cls: str, anchor: str = "start", extra: str = "") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" class="{cls}" text-anchor="{anchor}"{extra}>'
        f"{escape(text)}</text>"
    )


class _Frame:
    """Where the plot sits in the picture, and how values and categories map onto it."""

    def __init__(self, chart: Chart, ticks: list[int], legend_rows: int, width: int) -> None:
        self.ticks = ticks
        widest = max(len(chart.tick_text(t)) for t in ticks)
        self.left = 28 + widest * CHAR_PX + 8
        self.right = width - 16
        self.top = 30 + legend_rows * LEGEND_ROW_PX + 16
        self.bottom = self.top + PLOT_HEIGHT
        self.height = self.bottom + 48
        self.count = max(1, len(chart.categories))
        self.band = (self.right - self.left) / self.count

    def y(self, value: int) -> float:
        low, high = self.ticks[0], self.ticks[-1]
        return self.bottom - (value - low) / (high - low) * (self.bottom - self.top)

    def x(self, index: int) -> float:
        """The middle of a category's band."""
        return self.left + (index + 0.5) * self.band


def _legend(series: Sequence[Series], chart_width: int) -> tuple[list[str], int]:
    """The legend's items laid out in rows under the title; and how many rows."""
    parts, x, row = [], 16.0, 0
    for index, item in enumerate(series):
        width = 14 + 6 + len(item.name) * CHAR_PX + 22
        if x + width > chart_width - 16 and x > 16:
            x, row = 16.0, row + 1
        y = 30 + row * LEGEND_ROW_PX + 4
        parts.append(
            f'<g class="legend-item"><rect x="{x:.1f}" y="{y:.1f}" width="14" height="14"'
            f' rx="2" fill="{_colour(index, series)}"/>'
            + _text(x + 20, y + 11.5, item.name, "legend-label")
            + "</g>"
        )
        x += width
    return parts, (row + 1 if series else 0)


def _axes(chart: Chart, frame: _Frame) -> list[str]:
    parts = []
    for tick in frame.ticks:
        y = frame.y(tick)
        cls = "zero" if tick == 0 else "grid"
        parts.append(
            f'<line x1="{frame.left:.1f}" x2="{frame.right:.1f}" y1="{y:.1f}" y2="{y:.1f}"'
            f' class="{cls}"/>'
        )
        parts.append(_text(frame.left - 6, y + 4, chart.tick_text(tick), "tick", "end"))
    # As many category labels as fit, evenly spaced, always the last one.
    widest = max((len(c) for c in chart.categories), default=1) * CHAR_PX + 10
    every = max(1, -(-int(widest) // max(1, int(frame.band))))
    shown = [
        i for i in range(len(chart.categories)) if (len(chart.categories) - 1 - i) % every == 0
    ]
    for index in shown:
        x = frame.x(index)
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{frame.bottom:.1f}"'
            f' y2="{frame.bottom + 4:.1f}" class="axis"/>'
        )
        parts.append(_text(x, frame.bottom + 17, chart.categories[index], "tick", "middle"))
    parts.append(
        f'<line x1="{frame.left:.1f}" x2="{frame.left:.1f}" y1="{frame.top:.1f}"'
        f' y2="{frame.bottom:.1f}" class="axis"/>'
    )
    parts.append(
        _text((frame.left + frame.right) / 2, frame.bottom + 38, chart.x_title, "title", "middle")
    )
    middle = (frame.top + frame.bottom) / 2
    parts.append(
        _text(
            16,
            middle,
            chart.y_title,
            "title",
            "middle",
            f' transform="rotate(-90 16 {middle:.1f})"',
        )
    )
    return parts


def _tooltip(chart: Chart, series: Series, index: int) -> str:
    value = chart.value_text(series.values[index])
    return (
        f"<title>{escape(series.name)}, {escape(chart.categories[index])}: {escape(value)}</title>"
    )


def _lines(chart: Chart, series: Sequence[Series], frame: _Frame) -> list[str]:
    parts = []
    radius = 3.0 if frame.band >= 12 else 2.0
    for s_index, item in enumerate(series):
        colour = _colour(s_index, series)
        points = " ".join(f"{frame.x(i):.1f},{frame.y(v):.1f}" for i, v in enumerate(item.values))
        parts.append(f'<g class="series" data-series="{escape(item.name)}">')
        parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" class="line"/>')
        for i, value in enumerate(item.values):
            if value == 0:
                continue  # the line shows it; a marker on every empty day is clutter
            parts.append(
                f'<circle cx="{frame.x(i):.1f}" cy="{frame.y(value):.1f}" r="{radius}"'
                f' fill="{colour}">{_tooltip(chart, item, i)}</circle>'
            )
        parts.append("</g>")
    return parts


def _stacked_bars(chart: Chart, series: Sequence[Series], frame: _Frame) -> list[str]:
    parts = []
    width = max(1.0, frame.band * 0.72)
    base = [0] * len(chart.categories)
    for s_index, item in enumerate(series):
        colour = _colour(s_index, series)
        parts.append(f'<g class="series" data-series="{escape(item.name)}">')
        for i, value in enumerate(item.values):
            if value <= 0:
                continue
            top, bottom = frame.y(base[i] + value), frame.y(base[i])
            base[i] += value
            parts.append(
                f'<rect x="{frame.x(i) - width / 2:.1f}" y="{top:.1f}" width="{width:.1f}"'
                f' height="{bottom - top:.1f}" fill="{colour}">{_tooltip(chart, item, i)}</rect>'
            )
        parts.append("</g>")
    return parts


STYLE = (
    "<style>"
    f"text{{font:{FONT_PX}px system-ui,sans-serif;fill:#1d2733}}"
    ".heading{font-size:14px;font-weight:600}.tick{fill:#4a5663}.title{fill:#4a5663}"
    ".grid{stroke:#e3e7ec}.zero,.axis{stroke:#8a96a3}.line{stroke-width:2;stroke-linejoin:round}"
    ".empty{fill:#5d6b7a;font-size:14px}"
    "</style>"
)


def render(chart: Chart, kind: str, width: int = WIDTH, suffix: str = "") -> str:
    """The chart as an ``<svg>`` element ``width`` units wide; ``kind`` is ``line`` or
    ``stacked``. Its id is ``chart-<label><suffix>``."""
    series = chart.series
    if kind == "stacked":
        totals = [sum(column) for column in zip(*(s.values for s in series), strict=True)]
        low, high = 0, max(totals, default=0)
    else:
        every = [v for s in series for v in s.values]
        low, high = min(every, default=0), max(every, default=0)
    legend, rows = _legend(series, width)
    frame = _Frame(chart, axis_ticks(low, high), rows, width)
    body = _axes(chart, frame)
    if not series or high == low == 0:
        body.append(
            _text(
                (frame.left + frame.right) / 2,
                (frame.top + frame.bottom) / 2,
                chart.empty_text,
                "empty",
                "middle",
            )
        )
    body += (
        _stacked_bars(chart, series, frame) if kind == "stacked" else _lines(chart, series, frame)
    )
    label = escape(chart.label)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="chart-{label}{suffix}"'
        f' viewBox="0 0 {width} {frame.height:.0f}" role="img" aria-label="{escape(chart.title)}">'
        f"{STYLE}"
        + _text(16, 18, chart.title, "heading")
        + f'<g class="legend">{"".join(legend)}</g>'
        + "".join(body)
        + "</svg>"
    )
