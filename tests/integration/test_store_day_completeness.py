"""Store-day completeness (SPEC 11) and the shifts of a sales date, on both backends.

The store is in New York while the server's own time zone is Moscow's, and one
shift runs across New York's midnight: it must count on both of its local days,
and ``--sales-date`` must find it on both.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from structlog.testing import capture_logs

from cashserver.config import Config, parse_config
from cashserver.domain import (
    Line,
    Payment,
    PaymentMethod,
    Receipt,
    ReceiptKind,
    Shift,
    ShiftCounters,
    Upload,
)
from cashserver.jobs.completeness import IncompleteDays
from cashserver.reconcile import compute_totals, counters_from_totals
from cashserver.reports import Reports
from cashserver.store.engine import open_engine, upgrade
from cashserver.store.reading import Reader, ShiftFilter
from cashserver.store.repository import Repository
from tests.integration.http_client import client_for, log_in
from tests.integration.http_client import make_config as http_config

NY = ZoneInfo("America/New_York")
HOUR = 3_600_000


def make_config() -> Config:
    return parse_config(
        {"server": {"timezone": "Europe/Moscow"}, "stores": {"S9": {"timezone": str(NY)}}}
    )


def at(day: int, hour: int, minute: int = 0) -> int:
    """Milliseconds of 2026-05-<day> hour:minute in New York."""
    return int(datetime(2026, 5, day, hour, minute, tzinfo=NY).timestamp() * 1000)


def receipt(register: str, shift: int, number: int, closed_at: int) -> Receipt:
    return Receipt(
        uid=str(uuid.uuid5(uuid.NAMESPACE_OID, f"{register}/{shift}/{number}")),
        number=number,
        kind=ReceiptKind.SALE,
        closed_at=closed_at,
        lines=(Line(1, "A1", "", "bread", "Bakery", 1000, 7000, 7000),),
        payments=(Payment(PaymentMethod.CASH, 7000),),
    )


def upload(
    register: str,
    number: int,
    times: list[int],
    closed: bool,
    counters: ShiftCounters | None = None,
    numbers: list[int] | None = None,
) -> Upload:
    numbers = numbers or list(range(1, len(times) + 1))
    items = tuple(receipt(register, number, n, t) for n, t in zip(numbers, times, strict=True))
    honest = counters_from_totals(compute_totals(items), min(numbers), max(numbers))
    shift = Shift(
        "S9",
        register,
        number,
        times[0] - HOUR,
        times[-1] + HOUR if closed else None,
        (counters or honest) if closed else None,
    )
    return Upload(shift, items)


def days_of(engine: Engine) -> dict[str, dict[str, object]]:
    rows = Reports(engine, make_config()).store_days("S9")
    return {str(r["date"]): r for r in rows}


def ids_on(engine: Engine, day: date, store: str | None = "S9") -> list[int]:
    flt = ShiftFilter(store_code=store, sales_date=day)
    return [r["workshift_id"] for r in Reader(engine, make_config()).shift_rows(flt)]


def test_open_shift_across_local_midnight_then_closed(engine: Engine) -> None:
    repo = Repository(engine)
    # 23:00 on the 4th and 01:00 on the 5th in New York: in Moscow both are the 5th.
    times = [at(4, 23), at(5, 1)]
    opened = repo.load(upload("R1", 1, times, closed=False))
    days = days_of(engine)
    assert sorted(days) == ["2026-05-04", "2026-05-05"]
    for row in days.values():
        assert (row["complete"], row["open_shifts"], row["problem_shifts"]) == (False, 1, 1)
        assert row["shifts_count"] == 1
    # The shift is on both of its local days, and on no other.
    assert ids_on(engine, date(2026, 5, 4)) == [opened.workshift_id]
    assert ids_on(engine, date(2026, 5, 5)) == [opened.workshift_id]
    assert ids_on(engine, date(2026, 5, 4), store=None) == [opened.workshift_id]
    assert ids_on(engine, date(2026, 5, 6)) == []
    assert ids_on(engine, date(2026, 5, 3)) == []

    repo.load(upload("R1", 1, times, closed=True))
    for row in days_of(engine).values():
        assert (row["complete"], row["open_shifts"], row["problem_shifts"]) == (True, 0, 0)


def test_mismatch_and_missing_number_are_problems(engine: Engine) -> None:
    repo = Repository(engine)
    good = repo.load(upload("R1", 1, [at(6, 10), at(6, 11)], closed=True))
    wrong = ShiftCounters(2, 1, 2, 99_999, 0, 0, 0, 0, 0, 99_999)
    mismatched = repo.load(upload("R2", 1, [at(6, 12), at(6, 13)], closed=True, counters=wrong))
    # Receipt 2 of 1..3 never arrived: the counters say three, two are stored.
    gap = repo.load(
        upload(
            "R3",
            1,
            [at(7, 9), at(7, 10)],
            closed=True,
            counters=ShiftCounters(3, 1, 3, 21_000, 0, 0, 0, 0, 0, 21_000),
            numbers=[1, 3],
        )
    )
    clean = repo.load(upload("R1", 2, [at(8, 9), at(8, 10)], closed=True))
    days = days_of(engine)
    assert (days["2026-05-06"]["complete"], days["2026-05-06"]["problem_shifts"]) == (False, 1)
    assert days["2026-05-06"]["open_shifts"] == 0 and days["2026-05-06"]["shifts_count"] == 2
    assert (days["2026-05-07"]["complete"], days["2026-05-07"]["problem_shifts"]) == (False, 1)
    assert (days["2026-05-08"]["complete"], days["2026-05-08"]["problem_shifts"]) == (True, 0)
    statuses = {r["workshift_id"]: r["status"] for r in Reader(engine, make_config()).shift_rows()}
    assert statuses == {
        good.workshift_id: "ok",
        mismatched.workshift_id: "mismatch",
        gap.workshift_id: "incomplete",
        clean.workshift_id: "ok",
    }
    assert ids_on(engine, date(2026, 5, 6)) == [good.workshift_id, mismatched.workshift_id]


def test_incomplete_days_count_only_days_ended_a_day_ago(engine: Engine) -> None:
    repo = Repository(engine)
    repo.load(upload("R1", 1, [at(10, 23), at(11, 1)], closed=False))  # the 10th and 11th
    repo.load(upload("R2", 1, [at(3, 10)], closed=False))  # too long ago for 7 days
    reports = Reports(engine, make_config())
    # Noon on the 12th: the 11th ended 12 hours ago, the 10th 36 hours ago.
    assert reports.incomplete_days(at(12, 12), 7) == 1
    # A day later the 11th counts too; the 3rd is outside seven days either way.
    assert reports.incomplete_days(at(13, 12), 7) == 2
    assert reports.incomplete_days(at(13, 12), 15) == 3
    assert (
        reports.incomplete_days(at(13, 12) + int(timedelta(days=30).total_seconds()) * 1000, 7) == 0
    )


def test_stores_page_highlights_incomplete_days_and_links_their_shifts(tmp_path: Path) -> None:
    base = http_config(tmp_path)
    config = dataclasses.replace(base, stores=make_config().stores)
    engine = open_engine(config.database_url)
    upgrade(engine)
    repo = Repository(engine)
    across = repo.load(upload("R1", 1, [at(4, 23), at(5, 1)], closed=False)).workshift_id
    whole = repo.load(upload("R2", 1, [at(5, 9), at(5, 10)], closed=True)).workshift_id
    repo.load(upload("R2", 2, [at(6, 9)], closed=True))
    client = client_for(config, engine)
    log_in(client)
    page = client.get("/stores?store=S9&from=2026-05-01&to=2026-06-01").text
    rows = re.findall(r'<tr class="([^"]*)" data-store="S9" data-date="([^"]+)"', page)
    assert rows == [
        ("highlight incomplete", "2026-05-04"),
        ("highlight incomplete", "2026-05-05"),
        ("", "2026-05-06"),
    ]
    link = "/shifts?store=S9&amp;sales_date=2026-05-05"
    assert f'<a class="warn" href="{link}"' in page
    listed = client.get(link.replace("&amp;", "&")).text
    assert set(map(int, re.findall(r'data-workshift="(\d+)"', listed))) == {across, whole}
    api = client.get("/api/shifts?sales_date=2026-05-04").json()
    assert [r["workshift_id"] for r in api] == [across]
    assert client.get("/api/shifts?sales_date=May").status_code == 400
    days = client.get("/api/report/stores?store=S9&from=2026-05-05&to=2026-05-06").json()
    assert [(d["complete"], d["open_shifts"], d["problem_shifts"]) for d in days] == [(False, 1, 1)]
    engine.dispose()


def test_the_timer_count_keeps_its_last_value_while_the_database_fails(
    engine: Engine, tmp_path: Path
) -> None:
    Repository(engine).load(upload("R1", 1, [at(4, 23), at(5, 1)], closed=False))
    counter = IncompleteDays(make_config(), engine)
    assert counter.value is None  # not counted yet: /metrics leaves the series out
    counter.days = 100_000  # reach back to May 2026 from whenever the test runs
    counter.refresh()
    assert counter.value == 2
    broken = open_engine(f"sqlite:///{tmp_path / 'missing' / 'cashserver.db'}")
    counter.reports.engine = broken
    with capture_logs() as logs:
        counter.refresh()
        counter.refresh()
    assert counter.value == 2
    assert [e["event"] for e in logs] == ["completeness.count_failed"]
    broken.dispose()
