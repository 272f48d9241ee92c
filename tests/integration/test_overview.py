"""The Overview's numbers on a real SQLite store, through the console's own HTTP app."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
from sqlalchemy import Engine, text

from cashserver.clock import now_ms
from cashserver.config import Config, parse_config
from cashserver.http.context import HttpContext
from cashserver.http.overview_data import overview
from cashserver.spool import Spool
from cashserver.store.engine import open_engine, upgrade
from cashserver.store.events import Events
from cashserver.store.exports import Exports
from cashserver.store.overview import sales_query
from cashserver.store.registers import Registers
from cashserver.store.reports import Reports
from cashserver.store.repository import Repository
from cashserver.store.schema import registers
from tests.integration.http_client import HASH, client_for, log_in
from tests.recent_sales import shift_upload

NOW = int(datetime(2026, 3, 10, 14, 30, tzinfo=UTC).timestamp() * 1000)
"""17:30 in Moscow (S1) on 10 March; 00:30 on 11 March in Vladivostok (S2)."""
HOUR = 3_600_000


def utc(day: int, hour: int, minute: int = 0) -> int:
    return int(datetime(2026, 3, day, hour, minute, tzinfo=UTC).timestamp() * 1000)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Config, Engine]]:
    config = parse_config(
        {
            "server": {"data_dir": str(tmp_path / "data"), "timezone": "Europe/Moscow"},
            "grpc": {"listen": ""},
            "thrift": {"listen": ""},
            "http": {"listen": "127.0.0.1:0", "password_hash": HASH},
            "stores": {"S1": {"name": "Lenina 12"}, "S2": {"timezone": "Asia/Vladivostok"}},
        }
    )
    engine = open_engine(config.database_url)
    upgrade(engine)
    yield config, engine
    engine.dispose()


def load(engine: Engine) -> list[int]:
    """Four shifts; returns their workshift ids."""
    uploads = [
        # S1 on 9 March (Moscow, UTC+3): 100 + 200 sold at 10:00 and 11:00, 50 returned.
        shift_upload(
            "S1", "R1", 1, [(utc(9, 7), 100_00), (utc(9, 8), 200_00)], returns=[(utc(9, 9), 50_00)]
        ),
        # S1 on 10 March at 09:15, 09:45 and 13:05 Moscow; still open.
        shift_upload(
            "S1",
            "R1",
            2,
            [(utc(10, 6, 15), 10_00), (utc(10, 6, 45), 20_00), (utc(10, 10, 5), 5_00)],
            closed=False,
        ),
        # S1, 31 days before: out of the window.
        shift_upload("S1", "R2", 1, [(NOW - 31 * 24 * HOUR, 999_00)]),
        # S2 (UTC+10): 9 March 23:30 UTC is 10 March 09:30 there, and 10 March 14:10 UTC
        # is 00:10 on 11 March, S2's today.
        shift_upload("S2", "R1", 1, [(utc(9, 23, 30), 70_00), (utc(10, 14, 10), 30_00)]),
    ]
    repo = Repository(engine)
    return [repo.load(u).workshift_id for u in uploads]


def skew(engine: Engine, values: dict[tuple[str, str], int | None]) -> None:
    with engine.begin() as conn:
        for (store, register), seconds in values.items():
            conn.execute(
                registers.update()
                .where(registers.c.store_code == store, registers.c.register_code == register)
                .values(clock_skew_s=seconds)
            )


def problem_counts(document: dict[str, Any]) -> dict[str, int]:
    return {p["key"]: p["count"] for p in document["problems"]}


def test_revenue_and_receipts_by_each_store_s_local_day_and_hour(
    site: tuple[Config, Engine],
) -> None:
    config, engine = site
    load(engine)
    document = overview(HttpContext(config, engine, "secret"), NOW)
    days = document["revenue_days"]
    assert len(days["dates"]) == 30 and days["dates"][-1] == "2026-03-11"  # S2's today
    assert days["dates"][0] == "2026-02-10"
    by_store = {s["store_code"]: s for s in days["stores"]}
    assert [s["name"] for s in days["stores"]] == ["Lenina 12", "S2"]
    s1 = dict(zip(days["dates"], by_store["S1"]["revenue"], strict=True))
    assert {d: v for d, v in s1.items() if v} == {"2026-03-09": 250_00, "2026-03-10": 35_00}
    assert sum(by_store["S1"]["receipts"]) == 6  # the sale 31 days back is left out
    s2 = dict(zip(days["dates"], by_store["S2"]["revenue"], strict=True))
    assert {d: v for d, v in s2.items() if v} == {"2026-03-10": 70_00, "2026-03-11": 30_00}

    today = {s["store_code"]: s for s in document["receipts_today"]["stores"]}
    assert today["S1"]["date"] == "2026-03-10" and today["S2"]["date"] == "2026-03-11"
    assert {h: n for h, n in enumerate(today["S1"]["receipts"]) if n} == {9: 2, 13: 1}
    assert {h: n for h, n in enumerate(today["S2"]["receipts"]) if n} == {0: 1}


def test_each_problem_is_counted_and_its_page_lists_exactly_those(
    site: tuple[Config, Engine],
) -> None:
    config, engine = site
    ids = load(engine)
    closed = [ids[0], ids[2], ids[3]]
    # One closed shift exported; one whose export failed after its last change; one
    # whose export failed before a later change (waiting, not failed).
    Exports(engine).mark_exported(ids[3], 1, ["json"], "hash")
    Events(engine).write(
        [
            (
                now_ms() + 1000,
                "export.failed",
                json.dumps({"workshift_id": ids[0], "error": "disk full"}),
            ),
            (
                now_ms() - 3_600_000,
                "export.failed",
                json.dumps({"workshift_id": ids[2], "error": "old"}),
            ),
        ]
    )
    directory = Registers(engine)
    directory.set_state("S1", "R1", "ERROR", "connection refused", now_ms())
    directory.set_state("S1", "R2", "READY", "", now_ms())
    skew(engine, {("S1", "R1"): 30, ("S1", "R2"): -121, ("S2", "R1"): None})
    spool = Spool(config.spool_dir)
    spool.prepare()
    for name, folder in (("a.json", "error"), ("b.json", "broken"), ("c.json", "broken")):
        path = spool.folder("incoming") / name
        path.write_text("{}")
        reason = {"reason": f"{folder} reason", "error": "details", "time": "2026-03-10T14:00:00Z"}
        spool.move([path], folder, reason if name != "c.json" else None)

    client = client_for(config, engine)
    log_in(client)
    document = client.get("/api/overview").json()
    assert problem_counts(document) == {
        "registers_error": 1,
        "spool_error": 1,
        "spool_broken": 2,
        "exports_failed": 1,
        "shifts_not_exported": 2,
        "store_days_incomplete": 0,
        "clocks_skewed": 1,
    }
    assert document["upstream"] is None and document["not_ready"] == {}
    assert document["spool"] == {"incoming": 0, "processed": 0, "error": 1, "broken": 2}
    links = {p["key"]: (p["page"], p["api"]) for p in document["problems"]}

    # The JSON lists behind each count.
    errors = client.get(links["registers_error"][1]).json()
    assert [(r["store_code"], r["register_code"]) for r in errors] == [("S1", "R1")]
    held = client.get("/api/spool").json()
    assert [f["name"] for f in held["error"]] == ["a.json"]
    assert [(f["name"], f["reason"]) for f in held["broken"]] == [
        ("b.json", "broken reason"),
        ("c.json", None),
    ]
    skewed = client.get(links["clocks_skewed"][1]).json()
    assert [(r["register_code"], r["clock_skew_s"]) for r in skewed] == [("R2", -121)]
    failed = client.get(links["exports_failed"][1]).json()
    assert [(r["workshift_id"], r["error"]) for r in failed] == [(ids[0], "disk full")]
    backlog = client.get(links["shifts_not_exported"][1]).json()
    assert [r["workshift_id"] for r in backlog] == [i for i in closed if i != ids[3]]

    # The pages the tiles link to show the same items.
    page = client.get(links["registers_error"][0].split("#")[0]).text
    assert page.count('name="register" value=') == 1 and "S1/R1" in page
    page = client.get("/spool").text
    assert page.count('class="file-name"') == 3 and "(no reason file)" in page
    page = client.get("/export").text
    failed_table = page.split('id="failed-table"')[1].split("</table>")[0]
    assert failed_table.count("data-workshift=") == 1 and "disk full" in failed_table
    backlog_table = page.split('id="backlog-table"')[1].split("</table>")[0]
    assert backlog_table.count("data-workshift=") == 2

    page = client.get(links["clocks_skewed"][0]).text
    assert page.count('name="register" value=') == 1 and "S1/R2" in page
    home = client.get("/").text
    assert home.count('class="problem problem-bad"') == 6
    assert 'id="chart-revenue"' in home and 'id="chart-receipts"' in home
    assert ">Lenina 12</text>" in home


def test_nothing_wrong_and_no_export_problems_without_formats(tmp_path: Path) -> None:
    config = parse_config(
        {
            "server": {"data_dir": str(tmp_path / "data")},
            "grpc": {"listen": ""},
            "thrift": {"listen": ""},
            "exchange": {"formats": []},
        }
    )
    engine = open_engine(config.database_url)
    upgrade(engine)
    try:
        load(engine)
        document = overview(HttpContext(config, engine, "secret"), NOW)
        assert problem_counts(document) == {
            "registers_error": 0,
            "spool_error": 0,
            "spool_broken": 0,
            "store_days_incomplete": 0,
            "clocks_skewed": 0,
        }
    finally:
        engine.dispose()


def test_the_sales_query_reads_the_store_quarter_index(site: tuple[Config, Engine]) -> None:
    _config, engine = site
    query = sales_query("S1", 0).compile(engine, compile_kwargs={"literal_binds": True})
    with engine.connect() as conn:
        plan = " ".join(str(row[-1]) for row in conn.execute(text(f"EXPLAIN QUERY PLAN {query}")))
    assert "ix_shift_quarter_totals_store_quarter" in plan and "TEMP B-TREE" not in plan, plan


def test_incomplete_store_days_are_the_ended_ones_each_with_its_shifts(
    site: tuple[Config, Engine],
) -> None:
    config, engine = site
    repo = Repository(engine)
    mismatch = shift_upload("S1", "R1", 4, [(utc(5, 9), 100_00)])
    assert mismatch.shift.counters is not None
    wrong = msgspec.structs.replace(mismatch.shift.counters, sales_cash=99_00)
    ids = {
        "open, 6 March": repo.load(shift_upload("S1", "R2", 1, [(utc(6, 9), 10_00)], closed=False)),
        "ok, 7 March": repo.load(shift_upload("S1", "R1", 5, [(utc(7, 9), 10_00)])),
        "mismatch, 5 March": repo.load(
            msgspec.structs.replace(
                mismatch, shift=msgspec.structs.replace(mismatch.shift, counters=wrong)
            )
        ),
        "open, 9 March (ended less than a day ago)": repo.load(
            shift_upload("S1", "R3", 1, [(utc(9, 9), 10_00)], closed=False)
        ),
        "open, 1 March (before the 7 days)": repo.load(
            shift_upload("S2", "R3", 1, [(utc(1, 9), 10_00)], closed=False)
        ),
    }
    document = overview(HttpContext(config, engine, "secret"), NOW)
    assert problem_counts(document)["store_days_incomplete"] == 2
    days = [
        (d["store_code"], d["date"], d["open_shifts"], d["problem_shifts"])
        for d in document["incomplete_days"]
    ]
    assert days == [("S1", "2026-03-05", 0, 1), ("S1", "2026-03-06", 1, 1)]
    # The same days as the store-day report marks incomplete and the metric counts.
    reports = Reports(engine, config)
    assert reports.incomplete_days(NOW, config.reports.completeness_days) == 2
    report = {
        (r["date"], r["open_shifts"], r["problem_shifts"])
        for r in reports.store_days("S1")
        if not r["complete"]
    }
    assert {(d, o, p) for _s, d, o, p in days} <= report
    client = client_for(config, engine)
    log_in(client)
    listed = client.get(document["incomplete_days"][1]["api"]).json()
    assert [r["workshift_id"] for r in listed] == [ids["open, 6 March"].workshift_id]
    page = client.get(document["incomplete_days"][0]["page"]).text
    assert page.count("data-workshift=") == 1


def test_with_an_upstream_the_unforwarded_shifts_are_counted_as_listed(tmp_path: Path) -> None:
    config = parse_config(
        {
            "server": {"data_dir": str(tmp_path / "data")},
            "grpc": {"listen": ""},
            "thrift": {"listen": ""},
            "http": {"listen": "127.0.0.1:0", "password_hash": HASH},
            "upstream": {"target": "127.0.0.1:9"},
        }
    )
    engine = open_engine(config.database_url)
    upgrade(engine)
    try:
        ids = load(engine)
        client = client_for(config, engine)
        log_in(client)
        document = client.get("/api/overview").json()
        (problem,) = [p for p in document["problems"] if p["key"] == "shifts_not_forwarded"]
        listed = client.get(problem["api"]).json()
        assert problem["count"] == len(ids) == len(listed)
        assert document["upstream"]["target"] == "127.0.0.1:9"
        page = client.get(problem["page"]).text
        assert page.count("data-workshift=") == len(ids)
    finally:
        engine.dispose()
