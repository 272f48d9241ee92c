"""Money as text: exact, whichever separators the caller picks."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cashserver.money import format_money


@given(st.integers(-(2**63), 2**63 - 1))
def test_the_text_reads_back_as_the_same_kopecks(kopecks: int) -> None:
    text = format_money(kopecks)
    whole, _, part = text.lstrip("-").partition(".")
    assert len(part) == 2
    assert (-1 if text.startswith("-") else 1) * (int(whole) * 100 + int(part)) == kopecks


def test_separators() -> None:
    assert format_money(0) == "0.00"
    assert format_money(-5) == "-0.05"
    assert format_money(123456, point=",") == "1234,56"
    assert (
        format_money(-123456789, thousands="\u202f", minus="\u2212")
        == "\u22121\u202f234\u202f567.89"
    )
