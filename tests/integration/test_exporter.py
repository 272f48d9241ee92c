"""The exporter on SQLite and PostgreSQL: files at the SPEC 9 paths, the ``exported``
flag, identical re-exports, late receipts, failures and their retry, the worker the
daemon runs, and the ``export`` / ``reexport`` commands.

Every test that touches a database runs on both backends through the ``engine`` fixture.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import uuid
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import structlog
from sqlalchemy import Engine
from structlog.testing import capture_logs

from cashserver.cli import main as cli
from cashserver.config import Config, parse_config
from cashserver.domain import Line, Payment, PaymentMethod, Receipt, ReceiptKind, Shift, Upload
from cashserver.emulator.generate import ShiftPlan, generate_upload
from cashserver.exchange import enterprisedata, json_format
from cashserver.exchange.exporter import (
    LOCK_NAME,
    Exporter,
    ExportStatus,
    ExportWorker,
)
from cashserver.reconcile import compute_totals, counters_from_totals
from cashserver.store.reading import Reader
from cashserver.store.repository import LoadOutcome, Repository
from tests import xdto_check
from tests.frontol_reader import CARD, CASH, read_report

FORMATS = ("json", "enterprisedata", "frontol")
EXTENSIONS = {"json": "json", "enterprisedata": "xml", "frontol": "txt"}
"""Written out here from SPEC 9, not taken from the code under test."""
ED_VERSION = "1.11"
WAIT_S = 15.0


@pytest.fixture
def config(tmp_path: Path, db_url: str) -> Config:
    return parse_config(
        {
            "server": {"data_dir": str(tmp_path / "data"), "database_url": db_url},
            "grpc": {"listen": ""},
            "thrift": {"listen": ""},
            "exchange": {
                "formats": list(FORMATS),
                "organization_name": 'ООО "Ромашка"',
                "organization_inn": "7701234567",
                "organization_kpp": "770101001",
            },
        }
    )


@pytest.fixture
def exporter(engine: Engine, config: Config) -> Exporter:
    return Exporter(engine, config)


# -- helpers -----------------------------------------------------------------------------


def load(engine: Engine, *uploads: Upload) -> list[LoadOutcome]:
    return Repository(engine).load_batch(uploads)


def closed_shift(register: str = "R1", number: int = 1, receipts: int = 40) -> Upload:
    return generate_upload(ShiftPlan("S1", register, number, receipts, seed=7))


def open_shift(register: str = "R9", number: int = 1) -> Upload:
    return generate_upload(ShiftPlan("S1", register, number, 15, seed=8, closed=False))


def spec_path(config: Config, fmt: str, store: str, register: str, workshift_id: int) -> Path:
    name = f"shift-{workshift_id}.{EXTENSIONS[fmt]}"
    return config.outbox_dir / fmt / store / register / name


def files_of(config: Config, workshift_id: int, store: str, register: str) -> list[Path]:
    return [spec_path(config, fmt, store, register, workshift_id) for fmt in FORMATS]


def outbox_files(config: Config) -> set[Path]:
    """Every file in the outbox but the lock (no temp files may be left)."""
    return {
        p.relative_to(config.outbox_dir)
        for p in config.outbox_dir.rglob("*")
        if p.is_file() and p.name != LOCK_NAME
    }


def rows(engine: Engine, config: Config) -> dict[int, dict[str, Any]]:
    return {r["workshift_id"]: r for r in Reader(engine, config).shift_rows()}


def late_upload(original: Upload, extra: int, tag: int = 1) -> Upload:
    """The same closed shift again, with ``extra`` receipts more and counters to match."""
    last = max(r.number for r in original.receipts)
    closed_at = original.shift.closed_at
    assert closed_at is not None
    added = tuple(
        Receipt(
            uid=str(uuid.UUID(int=(0xA7E << 100) | (tag << 32) | n, version=4)),
            number=last + n,
            kind=ReceiptKind.SALE,
            closed_at=closed_at - 60_000 + n,
            cashier="Поздняя К.",
            lines=(Line(1, "9009", "", "Late item", "1", 1000, 1000 * n, 1000 * n),),
            payments=(Payment(PaymentMethod.NONCASH, 1000 * n),),
        )
        for n in range(1, extra + 1)
    )
    receipts = (*original.receipts, *added)
    counters = counters_from_totals(compute_totals(receipts), 1, last + extra)
    shift = original.shift
    header = Shift(
        shift.store_code,
        shift.register_code,
        shift.shift_number,
        shift.opened_at,
        closed_at,
        counters,
    )
    return Upload(header, added)


def check_files_add_up(config: Config, row: dict[str, Any]) -> None:
    """Each file of the shift holds the totals of its ``shifts`` row."""
    ws, store, register = row["workshift_id"], row["store_code"], row["register_code"]
    json_file, ed_file, frontol_file = files_of(config, ws, store, register)

    document = json.loads(json_file.read_bytes())
    jsonschema.Draft202012Validator(json_format.shift_schema()).validate(document)
    assert {k: document[k] for k in row if k != "exported"} == {
        k: v for k, v in row.items() if k != "exported"
    }
    assert len(document["receipts"]) == row["receipts_count"]

    ed_data = ed_file.read_bytes()
    if xdto_check.packages_missing() is None:
        assert xdto_check.check_message(ed_data) == []
    ns = f"{{{enterprisedata.ENTERPRISEDATA_NAMESPACE.format(version=ED_VERSION)}}}"
    body = ET.fromstring(ed_data).find(f"{ns}Body/{ns}{enterprisedata.DOCUMENT_TYPE}")
    assert body is not None

    def kopecks(path: str) -> int:
        found = body.findall("/".join(f"{ns}{part}" for part in path.split("/")))
        return sum(int(Decimal(el.text or "") * 100) for el in found)

    assert kopecks("Сумма") == row["revenue_cash"] + row["revenue_noncash"]
    assert kopecks("ОплатаПлатежнымиКартами/Строка/СуммаОплаты") == row["revenue_noncash"]

    report = read_report(frontol_file.read_bytes())
    assert report.report_number == str(ws)
    sums: Counter[tuple[int | None, int]] = Counter()
    for doc in report.documents.values():
        if not doc.cancelled:
            for method, amount in doc.payments.items():
                sums[(doc.operation, method)] += amount
    assert sums[(0, CASH)] == row["sales_cash"]
    assert sums[(0, CARD)] == row["sales_noncash"]
    assert sums[(1, CASH)] == row["returns_cash"]
    assert sums[(1, CARD)] == row["returns_noncash"]
    assert sum(d.cash_in for d in report.documents.values()) == row["cash_in"]
    assert sum(d.cash_out for d in report.documents.values()) == row["cash_out"]
    if row["closed_at"] is not None:
        z_report = report.shift_transactions[-1]
        assert z_report.amount(10) == row["revenue_cash"] + row["revenue_noncash"]
        assert z_report.amount(11) == row["drawer"]


# -- the exporter ------------------------------------------------------------------------------


def test_closed_shifts_land_at_the_spec_paths_in_every_format(
    engine: Engine, config: Config, exporter: Exporter
) -> None:
    first, second, still_open = load(
        engine, closed_shift("R1"), closed_shift("R2", 5), open_shift("R9")
    )
    summary = exporter.export_backlog()
    assert [(o.workshift_id, o.status) for o in summary.outcomes] == [
        (first.workshift_id, ExportStatus.WRITTEN),
        (second.workshift_id, ExportStatus.WRITTEN),
    ]
    assert (summary.written, summary.unchanged, summary.failed) == (2, 0, 0)
    expected = {
        p.relative_to(config.outbox_dir)
        for ws, register in ((first.workshift_id, "R1"), (second.workshift_id, "R2"))
        for p in files_of(config, ws, "S1", register)
    }
    assert outbox_files(config) == expected
    exported = {ws: r["exported"] for ws, r in rows(engine, config).items()}
    assert exported == {
        first.workshift_id: True,
        second.workshift_id: True,
        still_open.workshift_id: False,
    }
    assert exporter.backlog() == []


def test_every_file_adds_up_to_the_shifts_row(
    engine: Engine, config: Config, exporter: Exporter
) -> None:
    closed, still_open = load(engine, closed_shift(receipts=120), open_shift())
    assert exporter.export_shift(closed.workshift_id).status is ExportStatus.WRITTEN
    assert exporter.export_shift(still_open.workshift_id).status is ExportStatus.WRITTEN
    current = rows(engine, config)
    assert current[closed.workshift_id]["status"] == "ok"
    for row in current.values():
        assert row["exported"] is True
        check_files_add_up(config, row)


def test_an_unchanged_shift_is_not_rewritten(
    engine: Engine, config: Config, exporter: Exporter
) -> None:
    [outcome] = load(engine, closed_shift())
    ws = outcome.workshift_id
    assert exporter.export_shift(ws).written == FORMATS
    paths = files_of(config, ws, "S1", "R1")
    before = {p: (p.read_bytes(), p.stat().st_ino, p.stat().st_mtime_ns) for p in paths}

    again = Exporter(engine, config).export_shift(ws)

    assert (again.status, again.written) == (ExportStatus.UNCHANGED, ())
    assert {p: (p.read_bytes(), p.stat().st_ino, p.stat().st_mtime_ns) for p in paths} == before
    assert rows(engine, config)[ws]["exported"] is True


def test_a_deleted_file_is_written_again_with_the_same_bytes(
    engine: Engine, config: Config, exporter: Exporter
) -> None:
    [outcome] = load(engine, closed_shift())
    exporter.export_shift(outcome.workshift_id)
    json_file = files_of(config, outcome.workshift_id, "S1", "R1")[0]
    original = json_file.read_bytes()
    json_file.unlink()
    again = exporter.export_shift(outcome.workshift_id)
    assert (again.status, again.written) == (ExportStatus.WRITTEN, ("json",))
    assert json_file.read_bytes() == original


def test_late_receipts_make_the_shift_stale_until_the_backlog_rewrites_it(
    engine: Engine, config: Config, exporter: Exporter
) -> None:
    original = closed_shift(receipts=30)
    [outcome] = load(engine, original)
    ws = outcome.workshift_id
    exporter.export_backlog()
    json_file = files_of(config, ws, "S1", "R1")[0]
    assert json.loads(json_file.read_bytes())["receipts_count"] == 30

    [late] = load(engine, late_upload(original, 3))

    assert (late.workshift_id, late.changed, late.receipts_stored) == (ws, True, 3)
    row = rows(engine, config)[ws]
    assert (row["exported"], row["receipts_count"], row["status"]) == (False, 33, "ok")
    assert exporter.backlog() == [ws]
    summary = exporter.export_backlog()
    assert [(o.workshift_id, o.status) for o in summary.outcomes] == [(ws, ExportStatus.WRITTEN)]
    assert set(summary.outcomes[0].written) == set(FORMATS)
    row = rows(engine, config)[ws]
    assert row["exported"] is True
    check_files_add_up(config, row)
    assert exporter.export_backlog().outcomes == ()


def test_a_change_while_exporting_leaves_the_shift_not_exported(
    engine: Engine, config: Config, exporter: Exporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The revision recorded is the one read: a load racing the export is not lost."""
    original = closed_shift(receipts=20)
    [outcome] = load(engine, original)
    ws = outcome.workshift_id
    read = exporter.reader.report

    def report_then_change(workshift_id: int) -> Any:
        found = read(workshift_id)
        load(engine, late_upload(original, 2))  # lands between the read and the mark
        return found

    monkeypatch.setattr(exporter.reader, "report", report_then_change)
    raced = exporter.export_shift(ws)
    monkeypatch.undo()

    assert raced.status is ExportStatus.WRITTEN
    assert json.loads(files_of(config, ws, "S1", "R1")[0].read_bytes())["receipts_count"] == 20
    assert rows(engine, config)[ws]["exported"] is False
    assert exporter.backlog() == [ws]
    follow_up = exporter.export_backlog().outcomes[0]
    assert follow_up.revision is not None and raced.revision is not None
    assert follow_up.revision > raced.revision
    row = rows(engine, config)[ws]
    assert (row["exported"], row["receipts_count"]) == (True, 22)
    check_files_add_up(config, row)


@contextlib.contextmanager
def broken_json_folder(config: Config, how: str) -> Iterator[None]:
    """Make ``outbox/json`` unwritable while inside; repair it on leaving."""
    folder = config.outbox_dir / "json"
    config.outbox_dir.mkdir(parents=True, exist_ok=True)
    if how == "file_in_its_place":
        folder.write_text("not a folder")
        try:
            yield
        finally:
            folder.unlink()
        return
    folder.mkdir()
    folder.chmod(0o555)
    try:
        yield
    finally:
        folder.chmod(0o755)


@pytest.mark.parametrize("how", ["file_in_its_place", "read_only"])
def test_a_failed_write_leaves_the_shift_not_exported_and_the_next_export_retries(
    engine: Engine, config: Config, exporter: Exporter, how: str
) -> None:
    if how == "read_only" and os.geteuid() == 0:
        pytest.skip("root writes into read-only folders; the file-in-its-place case covers it")
    [outcome] = load(engine, closed_shift())
    ws = outcome.workshift_id
    with broken_json_folder(config, how), capture_logs() as logs:
        summary = exporter.export_backlog()
        assert [(o.workshift_id, o.status) for o in summary.outcomes] == [(ws, ExportStatus.FAILED)]
        assert summary.failed == 1
        assert summary.outcomes[0].error.startswith("json: ")
        failed = [e for e in logs if e["event"] == "export.failed"]
        assert [(e["workshift_id"], e["format"], e["log_level"]) for e in failed] == [
            (ws, "json", "warning")
        ]
        assert failed[0]["error"]
        assert not any(e["event"] == "shift.exported" for e in logs)
        assert rows(engine, config)[ws]["exported"] is False
        assert exporter.backlog() == [ws]
        # The other formats were written all the same; only the record is held back.
        assert all(p.is_file() for p in files_of(config, ws, "S1", "R1")[1:])

    retried = exporter.export_backlog()
    assert [(o.status, o.written) for o in retried.outcomes] == [(ExportStatus.WRITTEN, ("json",))]
    row = rows(engine, config)[ws]
    assert row["exported"] is True
    check_files_add_up(config, row)


def test_an_unusable_outbox_fails_every_shift(
    engine: Engine, config: Config, tmp_path: Path
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the outbox should be")
    blocked = parse_config(
        {
            "server": {"data_dir": str(tmp_path / "data"), "database_url": config.database_url},
            "exchange": {"formats": list(FORMATS), "outbox_dir": str(blocker / "outbox")},
        }
    )
    outcomes = load(engine, closed_shift("R1"), closed_shift("R2"))
    with capture_logs() as logs:
        summary = Exporter(engine, blocked).export_backlog()
    assert [o.status for o in summary.outcomes] == [ExportStatus.FAILED] * 2
    assert {e["workshift_id"] for e in logs if e["event"] == "export.failed"} == {
        o.workshift_id for o in outcomes
    }
    assert not any(r["exported"] for r in rows(engine, config).values())


def test_an_unknown_shift_is_a_failure(exporter: Exporter) -> None:
    with capture_logs() as logs:
        outcome = exporter.export_shift(424242)
    assert (outcome.status, outcome.error) == (ExportStatus.FAILED, "no such shift")
    assert [e["event"] for e in logs] == ["export.failed"]


# -- the worker the daemon runs -------------------------------------------------------------


@pytest.fixture
def worker(exporter: Exporter) -> Iterator[ExportWorker]:
    worker = ExportWorker(exporter, debounce_s=0.05, max_delay_s=0.5)
    yield worker
    worker.stop(5.0)


def test_the_worker_exports_closed_shifts_after_a_load_and_leaves_open_ones(
    engine: Engine, config: Config, worker: ExportWorker
) -> None:
    worker.start()
    outcomes = load(engine, open_shift(), closed_shift())
    worker.shifts_loaded(outcomes)
    assert worker.idle(WAIT_S)
    exported = {ws: r["exported"] for ws, r in rows(engine, config).items()}
    assert exported == {outcomes[0].workshift_id: False, outcomes[1].workshift_id: True}
    assert outbox_files(config) == {
        p.relative_to(config.outbox_dir)
        for p in files_of(config, outcomes[1].workshift_id, "S1", "R1")
    }


def test_the_worker_runs_the_backlog_at_start_and_exports_each_shift_once(
    engine: Engine, config: Config, worker: ExportWorker
) -> None:
    first = load(engine, closed_shift("R1"))
    second = load(engine, closed_shift("R2"))
    worker.shifts_loaded(first)
    worker.shifts_loaded(second)
    worker.shifts_loaded(first)  # the same shift again before the thread runs
    with capture_logs() as logs:
        worker.start()
        assert worker.idle(WAIT_S)
    exported = [e["workshift_id"] for e in logs if e["event"] == "shift.exported"]
    assert sorted(exported) == sorted([first[0].workshift_id, second[0].workshift_id])
    assert all(r["exported"] for r in rows(engine, config).values())


def test_stopping_the_worker_exports_what_is_queued(
    engine: Engine, config: Config, exporter: Exporter
) -> None:
    worker = ExportWorker(exporter, debounce_s=60.0, max_delay_s=60.0)
    worker.start()
    assert worker.idle(WAIT_S)  # the (empty) backlog at start
    outcomes = load(engine, closed_shift())
    worker.shifts_loaded(outcomes)
    worker.stop(WAIT_S)
    assert rows(engine, config)[outcomes[0].workshift_id]["exported"] is True


def test_the_worker_retries_a_failed_export_with_the_backlog(
    engine: Engine, config: Config, exporter: Exporter
) -> None:
    worker = ExportWorker(exporter, debounce_s=0.05, retry_first_s=0.0)
    worker.start()
    try:
        with broken_json_folder(config, "file_in_its_place"):
            outcomes = load(engine, closed_shift())
            worker.shifts_loaded(outcomes)
            assert worker.idle(WAIT_S)
            assert rows(engine, config)[outcomes[0].workshift_id]["exported"] is False
        worker.request_backlog()
        assert worker.idle(WAIT_S)
        assert rows(engine, config)[outcomes[0].workshift_id]["exported"] is True
    finally:
        worker.stop(WAIT_S)


def test_the_worker_backs_off_a_failing_shift_but_not_a_changed_one(
    engine: Engine, config: Config, exporter: Exporter
) -> None:
    worker = ExportWorker(exporter, debounce_s=0.05, retry_first_s=3600.0)
    worker.start()
    try:
        with broken_json_folder(config, "file_in_its_place"), capture_logs() as logs:
            failing, other = load(engine, closed_shift("R1"), closed_shift("R2"))
            worker.shifts_loaded([failing])
            assert worker.idle(WAIT_S)
            worker.request_backlog()  # tries the other shift, not the failing one again
            assert worker.idle(WAIT_S)
        attempts = Counter(
            (e["event"], e["workshift_id"]) for e in logs if e["event"] == "export.failed"
        )
        assert attempts == Counter(
            {("export.failed", failing.workshift_id): 1, ("export.failed", other.workshift_id): 1}
        )
        worker.request_backlog()  # repaired, but both are waiting for their retry time
        assert worker.idle(WAIT_S)
        assert not any(r["exported"] for r in rows(engine, config).values())
        worker.shifts_loaded([failing])  # a load of the shift is tried at once
        assert worker.idle(WAIT_S)
        exported = {ws: r["exported"] for ws, r in rows(engine, config).items()}
        assert exported == {failing.workshift_id: True, other.workshift_id: False}
    finally:
        worker.stop(WAIT_S)
    assert Exporter(engine, config).export_backlog().written == 1  # what ``export`` does


# -- the commands -----------------------------------------------------------------------------


def run_cli(config_path: Path, *args: str) -> tuple[int, str, str]:
    """``cashserver.cli.main`` in this process: (exit code, stdout, stderr)."""
    saved = structlog.get_config()
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main([*args, "--config", str(config_path)])
    finally:
        structlog.configure(**saved)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def config_file(tmp_path: Path, config: Config) -> Path:
    path = tmp_path / "cashserver.toml"
    formats = ", ".join(f'"{fmt}"' for fmt in FORMATS)
    path.write_text(
        f'[server]\ndata_dir = "{config.data_dir}"\ndatabase_url = "{config.database_url}"\n'
        f"[exchange]\nformats = [{formats}]\n",
        encoding="utf-8",
    )
    return path


def test_export_and_reexport_commands(engine: Engine, config: Config, config_file: Path) -> None:
    closed, still_open = load(engine, closed_shift(), open_shift())

    code, out, err = run_cli(config_file, "export")
    assert code == 0, err
    assert out.splitlines()[-1] == "1 shift(s): 1 written, 0 unchanged, 0 failed"
    code, out, err = run_cli(config_file, "export")
    assert (code, out) == (0, "nothing to export: the files of every closed shift are up to date\n")

    code, out, err = run_cli(config_file, "reexport", str(still_open.workshift_id), "--json")
    assert code == 0, err
    document = json.loads(out)
    assert (document["written"], document["unchanged"], document["failed"]) == (1, 0, 0)
    assert document["shifts"][0]["workshift_id"] == still_open.workshift_id
    assert sorted(document["shifts"][0]["written"]) == sorted(FORMATS)
    assert all(p.is_file() for p in files_of(config, still_open.workshift_id, "S1", "R9"))

    ids = [str(closed.workshift_id), "999999"]
    code, out, err = run_cli(config_file, "reexport", *ids)
    assert code == 1
    assert out.splitlines() == [
        f"shift {closed.workshift_id}: unchanged",
        "shift 999999: failed: no such shift",
        "2 shift(s): 0 written, 1 unchanged, 1 failed",
    ]
    events = [e["event"] for e in Reader(engine, config).events()]
    assert "export.failed" in events and "shift.exported" in events


def test_export_command_fails_with_exit_1_when_a_file_cannot_be_written(
    engine: Engine, config: Config, config_file: Path
) -> None:
    [outcome] = load(engine, closed_shift())
    with broken_json_folder(config, "file_in_its_place"):
        code, out, _ = run_cli(config_file, "export", "--json")
    assert code == 1
    document = json.loads(out)
    assert document["failed"] == 1
    assert document["shifts"][0]["workshift_id"] == outcome.workshift_id
    assert document["shifts"][0]["error"].startswith("json: ")
    assert run_cli(config_file, "export")[0] == 0
    assert rows(engine, config)[outcome.workshift_id]["exported"] is True
