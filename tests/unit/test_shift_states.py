"""The store-day completeness reads build domain objects positionally from rows."""

from __future__ import annotations

import dataclasses
from datetime import date
from zoneinfo import ZoneInfo

from cashserver.domain import COUNTER_FIELDS
from cashserver.reconcile import Totals
from cashserver.store.schema import COUNTER_COLUMNS, TOTAL_COLUMNS
from cashserver.store.shift_states import day_quarters


def test_columns_are_in_the_order_of_the_fields_they_fill() -> None:
    assert COUNTER_COLUMNS == COUNTER_FIELDS
    assert tuple(f.name for f in dataclasses.fields(Totals)) == TOTAL_COLUMNS


def test_a_local_day_is_its_quarter_hours_even_when_it_is_short() -> None:
    moscow = day_quarters(date(2026, 5, 5), ZoneInfo("Europe/Moscow"))
    assert moscow[1] - moscow[0] == 96
    # New York's first day of summer time has 23 hours; Kathmandu is UTC+05:45.
    spring = day_quarters(date(2026, 3, 8), ZoneInfo("America/New_York"))
    assert spring[1] - spring[0] == 92
    kathmandu = day_quarters(date(2026, 5, 5), ZoneInfo("Asia/Kathmandu"))
    assert kathmandu[1] - kathmandu[0] == 96 and kathmandu[0] * 900 % 3600 == 15 * 60
