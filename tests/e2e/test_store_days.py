"""Store-day completeness (SPEC 11, 16) through a real ``serve``: CLI, API and /metrics.

The store keeps Vladivostok's time while the server keeps Moscow's; its open shift
runs across Vladivostok's midnight (in Moscow both its receipts fall on one day).
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from cashserver.domain import (
    Line,
    Payment,
    PaymentMethod,
    Receipt,
    ReceiptKind,
    Shift,
    Upload,
    UploadStatus,
)
from cashserver.emulator.push import GrpcPusher
from cashserver.emulator.thrift_push import ThriftPusher
from cashserver.reconcile import compute_totals, counters_from_totals
from tests.e2e.daemon import ServeProcess, scrape
from tests.waiting import wait_for

ZONE = ZoneInfo("Asia/Vladivostok")
HOUR = 3_600_000


def across_midnight(closed: bool) -> tuple[Upload, str, str]:
    """Shift 1 of S5/R1 from 23:00 three local days ago to 01:00 the next day."""
    first_day = datetime.now(ZONE).date() - timedelta(days=3)
    late = int(datetime.combine(first_day, datetime.min.time(), ZONE).timestamp() * 1000)
    times = (late + 23 * HOUR, late + 24 * HOUR + HOUR)
    items = tuple(
        Receipt(
            uid=str(uuid.uuid5(uuid.NAMESPACE_OID, f"S5/R1/1/{n}")),
            number=n,
            kind=ReceiptKind.SALE,
            closed_at=at,
            lines=(Line(1, "A1", "", "rice", "Grocery", 1000, 12_000, 12_000),),
            payments=(Payment(PaymentMethod.NONCASH, 12_000),),
        )
        for n, at in enumerate(times, start=1)
    )
    counters = counters_from_totals(compute_totals(items), 1, 2) if closed else None
    shift = Shift("S5", "R1", 1, times[0] - HOUR, times[1] + HOUR if closed else None, counters)
    second_day = first_day + timedelta(days=1)
    return Upload(shift, items), first_day.isoformat(), second_day.isoformat()


def store_days(daemon: ServeProcess) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(
        daemon.cli("report", "stores", "--store", "S5", "--json").stdout
    )
    return rows


def test_an_open_shift_across_local_midnight_leaves_both_days_incomplete(tmp_path: Path) -> None:
    daemon = ServeProcess(tmp_path, "", **{"stores.S5": {"timezone": "Asia/Vladivostok"}})
    daemon.start()
    try:
        opened, first, second = across_midnight(closed=False)
        pusher = GrpcPusher(daemon.grpc_target, timeout_s=10)
        try:
            result = pusher.upload(opened)
        finally:
            pusher.close()
        assert result.status is UploadStatus.LOADED
        workshift_id = result.workshift_id
        days = store_days(daemon)
        assert [d["date"] for d in days] == [first, second]
        assert [(d["complete"], d["open_shifts"], d["shifts_count"]) for d in days] == [
            (False, 1, 1),
            (False, 1, 1),
        ]
        for day in (first, second):
            listed = json.loads(daemon.cli("shifts", "--sales-date", day, "--json").stdout)
            assert [r["workshift_id"] for r in listed] == [workshift_id]
            status, body = daemon.http(f"/api/shifts?sales_date={day}&store=S5")
            assert status == 200 and [r["workshift_id"] for r in json.loads(body)] == [workshift_id]
        day_before = (datetime.fromisoformat(first) - timedelta(days=1)).date().isoformat()
        assert json.loads(daemon.cli("shifts", "--sales-date", day_before, "--json").stdout) == []
        # Both days ended over 24 hours ago: the timer's count shows them.
        wait_for(
            lambda: scrape(daemon).get(("cashserver_store_days_incomplete", ())) == 2,
            45,
            "two incomplete store-days in /metrics",
        )

        closed, _, _ = across_midnight(closed=True)
        thrift = ThriftPusher(daemon.thrift_target, timeout_s=10)
        try:
            assert thrift.upload(closed).status is UploadStatus.LOADED
        finally:
            thrift.close()
        days = store_days(daemon)
        assert [(d["complete"], d["open_shifts"], d["problem_shifts"]) for d in days] == [
            (True, 0, 0),
            (True, 0, 0),
        ]
        table = daemon.cli("report", "stores", "--store", "S5").stdout.splitlines()
        assert "complete" in table[0] and "problem shifts" in table[0]
    finally:
        daemon.kill()
