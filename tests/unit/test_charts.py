"""The console's SVG charts: well-formed, labelled, legible, and true to the numbers."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET

import pytest

from cashserver.http.charts import (
    MAX_SERIES,
    NARROW_WIDTH,
    OTHER_COLOUR,
    Chart,
    Series,
    axis_ticks,
    nice_step,
    render,
    top_series,
)
from cashserver.http.overview import roubles_tick

SVG = "{http://www.w3.org/2000/svg}"


def chart(series: tuple[Series, ...], categories: int = 3) -> Chart:
    return Chart(
        title="Revenue by day",
        categories=tuple(f"{d} Dec" for d in range(1, categories + 1)),
        series=series,
        x_title="Day",
        y_title="Revenue, ₽",
        value_text=lambda v: f"{v} units",
        tick_text=roubles_tick,
        empty_text="No sales.",
        label="test",
    )


def texts(svg: ET.Element, cls: str) -> list[str]:
    return [t.text or "" for t in svg.iter(f"{SVG}text") if t.get("class") == cls]


@pytest.mark.parametrize(
    ("span", "step"),
    [(0, 1), (1, 1), (5, 1), (6, 2), (11, 5), (26, 10), (1_234_567, 500_000), (100, 20)],
)
def test_steps_are_one_two_or_five_times_a_power_of_ten(span: int, step: int) -> None:
    assert nice_step(span) == step


@pytest.mark.parametrize(
    ("low", "high"), [(0, 0), (0, 1), (0, 987_654_321), (-12_345, 67_890), (-50, 0), (3, 7)]
)
def test_ticks_hold_zero_and_the_extremes_in_even_steps(low: int, high: int) -> None:
    ticks = axis_ticks(low, high)
    assert ticks[0] <= min(low, 0) and ticks[-1] >= max(high, 0) and 0 in ticks
    steps = {b - a for a, b in itertools.pairwise(ticks)}
    assert len(steps) == 1 and len(ticks) <= 7


def test_money_ticks_read_as_roubles() -> None:
    assert roubles_tick(15_000_000) == "150\u202f000"
    assert roubles_tick(0) == "0"
    assert roubles_tick(50) == "0.50"
    assert roubles_tick(-200_000) == "−2\u202f000"


def test_a_line_chart_has_axes_a_legend_and_a_tooltip_a_point() -> None:
    series = (Series("Lenina 12", (100_00, 0, 250_000_00)), Series("S2", (5_00, 7_00, 0)))
    svg = ET.fromstring(render(chart(series), "line"))
    assert svg.get("role") == "img" and svg.get("aria-label") == "Revenue by day"
    assert texts(svg, "legend-label") == ["Lenina 12", "S2"]
    assert texts(svg, "heading") == ["Revenue by day"]
    assert {"Day", "Revenue, ₽"} <= set(texts(svg, "title"))
    ticks = texts(svg, "tick")
    assert "0" in ticks and "250\u202f000" in ticks  # the top tick covers the largest day
    assert {"1 Dec", "2 Dec", "3 Dec"} <= set(ticks)
    # A marker with its value on every day with sales; the lines go through every day.
    tips = sorted(c.findtext(f"{SVG}title") or "" for c in svg.iter(f"{SVG}circle"))
    assert tips == [
        "Lenina 12, 1 Dec: 10000 units",
        "Lenina 12, 3 Dec: 25000000 units",
        "S2, 1 Dec: 500 units",
        "S2, 2 Dec: 700 units",
    ]
    assert [len((p.get("points") or "").split()) for p in svg.iter(f"{SVG}polyline")] == [3, 3]


def test_higher_values_are_drawn_higher() -> None:
    svg = ET.fromstring(render(chart((Series("A", (1, 2, 3)),)), "line"))
    ys = [float(c.get("cy") or 0) for c in svg.iter(f"{SVG}circle")]
    assert ys[0] > ys[1] > ys[2]


def test_stacked_bars_add_up_to_each_category_total() -> None:
    series = (Series("A", (3, 0, 10)), Series("B", (1, 4, 0)))
    svg = ET.fromstring(render(chart(series), "stacked"))
    bars = list(svg.iter(f"{SVG}rect"))
    plot = [b for b in bars if b.findtext(f"{SVG}title")]
    assert len(plot) == 4  # no bar for a zero
    heights = {b.findtext(f"{SVG}title"): float(b.get("height") or 0) for b in plot}
    unit = heights["A, 3 Dec: 10 units"] / 10
    assert heights["A, 1 Dec: 3 units"] + heights["B, 1 Dec: 1 units"] == pytest.approx(4 * unit)
    assert heights["B, 2 Dec: 4 units"] == pytest.approx(4 * unit)


def test_names_are_escaped() -> None:
    evil = "<script>alert(1)</script> & Co"
    svg_text = render(chart((Series(evil, (1, 2, 3)),)), "line")
    assert "<script>" not in svg_text
    assert texts(ET.fromstring(svg_text), "legend-label") == [evil]


def test_an_empty_chart_says_so() -> None:
    svg = ET.fromstring(render(chart(()), "line"))
    assert texts(svg, "empty") == ["No sales."]
    zero = ET.fromstring(render(chart((Series("A", (0, 0, 0)),)), "stacked"))
    assert texts(zero, "empty") == ["No sales."]


def test_many_stores_keep_the_largest_and_sum_the_rest() -> None:
    many = [Series(f"S{i:02d}", (i, i)) for i in range(12)]
    kept = top_series(many, "Other stores")
    assert len(kept) == MAX_SERIES
    assert [s.name for s in kept[:-1]] == [f"S{i:02d}" for i in range(5, 12)]
    assert kept[-1].name == "Other stores (5)" and kept[-1].values == (10, 10)
    assert kept[-1].others
    svg = ET.fromstring(render(chart(kept, categories=2), "stacked"))
    colours = [r.get("fill") for r in svg.iter(f"{SVG}rect") if r.get("width") == "14"]
    assert colours[-1] == OTHER_COLOUR and len(set(colours)) == MAX_SERIES
    assert top_series(many[:3], "Other stores") == tuple(many[:3])


def height(svg: ET.Element) -> float:
    return float((svg.get("viewBox") or "").split()[3])


def test_a_long_legend_wraps_and_the_plot_moves_down() -> None:
    short = ET.fromstring(render(chart((Series("A", (1, 2, 3)),)), "line"))
    names = tuple(
        Series(f"A store with a rather long name number {i}", (1, 2, 3)) for i in range(6)
    )
    tall = ET.fromstring(render(chart(names), "line"))
    legend_ys = {float(r.get("y") or 0) for r in tall.iter(f"{SVG}rect") if r.get("width") == "14"}
    assert len(legend_ys) >= 2
    assert height(tall) > height(short)


def test_a_phone_s_chart_is_narrower_and_labels_fewer_days() -> None:
    thirty = chart((Series("A", tuple(range(30))),), categories=30)
    wide = ET.fromstring(render(thirty, "line"))
    narrow = ET.fromstring(render(thirty, "line", NARROW_WIDTH, "-narrow"))
    assert narrow.get("id") == "chart-test-narrow" and wide.get("id") == "chart-test"
    assert (narrow.get("viewBox") or "").split()[2] == str(NARROW_WIDTH)
    days = [t for t in texts(narrow, "tick") if t.endswith("Dec")]
    assert 3 <= len(days) < len([t for t in texts(wide, "tick") if t.endswith("Dec")])
    assert days[-1] == "30 Dec"  # the latest day is always labelled
