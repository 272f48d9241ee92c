"""The command line (SPEC sections 6 and 7) on SQLite, run as ``python -m cashserver.cli``."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime

import orjson
import pytest
import structlog
from sqlalchemy import Engine

from cashserver.log import Journal, configure_logging, set_journal
from cashserver.reconcile import compute_totals
from cashserver.store.events import Events
from cashserver.store.exports import Exports
from cashserver.store.reading import Reader
from cashserver.store.repository import Repository
from tests.integration.site import Site, plans

SPEC7_KEYS = {
    "workshift_id",
    "store_code",
    "register_code",
    "shift_number",
    "opened_at",
    "closed_at",
    "receipts_count",
    "sales_cash",
    "sales_noncash",
    "returns_cash",
    "returns_noncash",
    "revenue_cash",
    "revenue_noncash",
    "drawer",
    "cash_in",
    "cash_out",
    "exported",
    "status",
}


def test_db_upgrade_then_shifts_on_an_empty_database(site: Site) -> None:
    upgraded = site.run("db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert (site.root / "data" / "cashserver.db").exists()
    result = site.run("shifts", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []
    code, out, _ = site.call("shifts")
    assert code == 0 and out.strip() == "(none)"


def test_shifts_lists_every_shift_with_its_sums_and_status(site: Site, site_engine: Engine) -> None:
    uploads = plans()
    repo = Repository(site_engine)
    ids = [repo.load(u).workshift_id for u in uploads]
    rows = site.json("shifts")
    assert [r["workshift_id"] for r in rows] == ids
    for row, u in zip(rows, uploads, strict=True):
        assert set(row) == SPEC7_KEYS
        totals = compute_totals(u.receipts)
        assert row["receipts_count"] == len(u.receipts)
        assert (row["sales_cash"], row["sales_noncash"]) == (
            totals.sales_cash,
            totals.sales_noncash,
        )
        assert (row["returns_cash"], row["returns_noncash"]) == (
            totals.returns_cash,
            totals.returns_noncash,
        )
        assert (row["revenue_cash"], row["revenue_noncash"]) == (
            totals.revenue_cash,
            totals.revenue_noncash,
        )
        assert (row["cash_in"], row["cash_out"], row["drawer"]) == (
            totals.cash_in,
            totals.cash_out,
            totals.drawer,
        )
        assert (row["store_code"], row["register_code"], row["shift_number"]) == (
            u.shift.store_code,
            u.shift.register_code,
            u.shift.shift_number,
        )
        assert row["exported"] is False
        opened = datetime.fromisoformat(row["opened_at"].replace("Z", "+00:00"))
        assert opened == datetime.fromtimestamp(u.shift.opened_at / 1000, UTC)  # type: ignore[operator]
    assert rows[1]["closed_at"] is None
    assert [r["status"] for r in rows] == ["ok", "no_counters", "incomplete", "mismatch"]

    code, out, err = site.call("shifts")
    assert code == 0, err
    lines = out.splitlines()
    assert "status" in lines[0] and "id" in lines[0]
    body = lines[1:]
    assert len(body) == 4
    for line, row in zip(body, rows, strict=True):
        cells = line.split()
        assert cells[0] == str(row["workshift_id"])
        assert cells[-1] == row["status"]
        drawer = row["drawer"]
        assert f"{drawer // 100}.{drawer % 100:02d}" in cells


def test_shifts_filters_from_the_command_line(site: Site, site_engine: Engine) -> None:
    repo = Repository(site_engine)
    ids = [repo.load(u).workshift_id for u in plans()]
    assert [r["workshift_id"] for r in site.json("shifts", "--store", "S2")] == ids[2:]
    assert [r["workshift_id"] for r in site.json("shifts", "--register", "R2")] == [ids[1]]
    # Shift n opens at 08:00 UTC on 2026-01-n (11:00 in Moscow, the default zone).
    assert [r["workshift_id"] for r in site.json("shifts", "--from", "2026-01-02")] == ids[2:]
    assert [
        r["workshift_id"] for r in site.json("shifts", "--from", "2026-01-02", "--to", "2026-01-03")
    ] == [ids[2]]


def test_not_exported_lists_only_stale_shifts(site: Site, site_engine: Engine) -> None:
    repo = Repository(site_engine)
    ids = [repo.load(u).workshift_id for u in plans()]
    report = Reader(site_engine, site.config).report(ids[0])
    assert report is not None
    Exports(site_engine).mark_exported(ids[0], report[1], ["json"], "hash")
    rows = site.json("shifts", "--not-exported")
    assert [r["workshift_id"] for r in rows] == ids[1:]
    assert [r["exported"] for r in site.json("shifts")] == [True, False, False, False]


@pytest.fixture
def journal() -> Iterator[Journal]:
    """Collect this process's dotted log events, as the daemon does, then put logging back."""
    saved = structlog.get_config()
    configure_logging(stream=io.StringIO(), as_json=True)
    collected = Journal()
    set_journal(collected)
    yield collected
    set_journal(None)
    structlog.configure(**saved)


def test_log_lists_loaded_shifts_after_the_journal_is_flushed(
    site: Site, site_engine: Engine, journal: Journal
) -> None:
    repo = Repository(site_engine)
    before_ms = int(datetime.now(UTC).timestamp() * 1000) - 1000
    ids = [repo.load(u).workshift_id for u in plans()[:2]]
    assert site.json("log") == []  # nothing written yet
    Events(site_engine).write(journal.drain())
    after_ms = int(datetime.now(UTC).timestamp() * 1000) + 1000

    events = site.json("log")
    loaded = [e for e in events if e["event"] == "shift.loaded"]
    assert [e["workshift_id"] for e in loaded] == ids
    assert [e["receipts_stored"] for e in loaded] == [20, 10]
    assert loaded[0]["store_code"] == "S1" and loaded[1]["register_code"] == "R2"
    for event in events:
        assert event["time"].endswith("Z")
        moment = datetime.fromisoformat(event["time"].replace("Z", "+00:00"))
        assert before_ms <= moment.timestamp() * 1000 <= after_ms

    code, out, _ = site.call("log")
    assert code == 0
    assert sum("shift.loaded" in line for line in out.splitlines()) == 2


def test_log_since(site: Site, site_engine: Engine) -> None:
    day = 86_400_000
    jan1 = 1_577_836_800_000  # 2020-01-01T00:00:00Z
    Events(site_engine).write(
        [
            (jan1, "test.first", orjson.dumps({"n": 1}).decode()),
            (jan1 + day // 2, "test.noon", orjson.dumps({"n": 2}).decode()),
            (jan1 + day, "test.second", orjson.dumps({"n": 3}).decode()),
        ]
    )
    assert [e["event"] for e in site.json("log")] == ["test.first", "test.noon", "test.second"]
    assert site.json("log")[1] == {"time": "2020-01-01T12:00:00Z", "event": "test.noon", "n": 2}
    since = site.json("log", "--since", "2020-01-01T12:00:00Z")
    assert [e["event"] for e in since] == ["test.noon", "test.second"]
    # With an offset: 15:00 in Moscow is 12:00 UTC; without one it is UTC.
    assert site.json("log", "--since", "2020-01-01T15:00:00+03:00") == since
    assert [e["event"] for e in site.json("log", "--since", "2020-01-01T12:00:01")] == [
        "test.second"
    ]
    assert site.json("log", "--since", "2020-01-03") == []


def test_registers_add_and_list(site: Site) -> None:
    code, out, err = site.call("registers", "add", "S1", "R7", "--protocol", "3")
    assert code == 0, err
    assert "S1/R7 added" in out
    assert site.call("registers", "add", "S1", "R8")[0] == 0
    listed = site.json("registers", "list")
    assert [(r["store_code"], r["register_code"], r["protocol_version"]) for r in listed] == [
        ("S1", "R7", 3),
        ("S1", "R8", None),
    ]
    code, _, err = site.call("registers", "add", "S1", "R7", "--protocol", "4")
    assert code == 1 and "exists" in err
    assert site.call("registers", "set", "S1", "R7", "--protocol", "4")[0] == 0
    assert site.json("registers", "list")[0]["protocol_version"] == 4
    code, out, _ = site.call("registers", "list")
    assert code == 0 and "R7" in out and "R8" in out


@pytest.mark.parametrize(
    "args",
    [
        ("shifts", "--from", "2026-13-01"),
        ("shifts", "--to", "01.02.2026"),
        ("log", "--since", "yesterday"),
        ("registers", "add", "S 1", "R1"),
        ("registers", "add", "S1", "R1", "--protocol", "5"),
    ],
)
def test_bad_arguments_exit_2(site: Site, args: tuple[str, ...]) -> None:
    code, out, err = site.call(*args)
    assert code == 2
    assert out == ""
    assert err.strip()


def test_a_bad_date_exits_2_from_the_real_entry_point(site: Site) -> None:
    result = site.run("shifts", "--from", "2026-02-30", "--json")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "--from" in result.stderr
