"""Times as ISO 8601 text: the day-cached formatter gives what ``strftime`` gives."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from cashserver.clock import iso_utc


def reference(ms: int) -> str:
    seconds, millis = divmod(ms, 1000)
    text = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{millis:03d}Z" if millis else f"{text}Z"


@settings(max_examples=2000)
@given(st.integers(min_value=-2_000_000_000_000, max_value=253_402_300_799_999))
def test_iso_utc_is_strftime_to_the_byte(ms: int) -> None:
    assert iso_utc(ms) == reference(ms)


def test_iso_utc_edges() -> None:
    assert iso_utc(None) is None
    assert iso_utc(0) == "1970-01-01T00:00:00Z"
    assert iso_utc(-1) == "1969-12-31T23:59:59.999Z"
    assert iso_utc(86_399_999) == "1970-01-01T23:59:59.999Z"
    assert iso_utc(1_772_348_400_005) == "2026-03-01T07:00:00.005Z"
    assert iso_utc(253_402_300_799_000) == "9999-12-31T23:59:59Z"
