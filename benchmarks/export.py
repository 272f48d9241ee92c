"""Time to export one large shift in every exchange format.

Prints one JSON line: per format the best and the median of the runs to render it
(no I/O), in seconds, and the totals; then ``end_to_end``: the whole
:meth:`Exporter.export_shift` on a shift stored in SQLite (read the shift, render
all three formats, write each file atomically with fsync, record the export),
with the files removed before each run, and the same for an unchanged re-export
(read, render, compare with the files there). The goal is a 5,000-receipt shift in
all three formats within 1 s, end to end. ``end_to_end_json`` is the same for the
JSON file alone, the default ``exchange.formats`` and what the writer process does
after each load of a closed shift; ``read_ms_per_1000`` and ``json_render_ms_per_1000``
are the read of the stored shift and its JSON rendering per 1,000 receipts (best
of the runs).

The garbage collector is set as in the daemon's processes (``--gc daemon``:
:func:`cashserver.tuning.manual_gc`, start-up objects frozen, no automatic
collection), so the figures are the writer's; ``--gc auto`` measures with
Python's automatic collector, which walks the read's tens of thousands of new
objects again and again and adds about as much as the read itself.

    PYTHONPATH=. python benchmarks/export.py [--receipts 5000] [--runs 3] [--gc daemon|auto]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from cashserver.config import Config, ExchangeConfig, ServerConfig, StoreConfig
from cashserver.domain import Line, Payment, PaymentMethod, Receipt, ReceiptKind, Shift, Upload
from cashserver.exchange import RENDERERS
from cashserver.exchange.exporter import Exporter, ExportStatus
from cashserver.log import configure_logging
from cashserver.reconcile import ShiftReport, compute_totals, counters_from_totals, make_report
from cashserver.store.engine import open_engine, upgrade
from cashserver.store.reading import Reader
from cashserver.store.repository import Repository
from cashserver.tuning import manual_gc

GOAL_S = 1.0
OPENED_AT = 1710485700000
ITEMS = [
    (f"{1000 + i}", f"46000000{i:05d}", f"Товар №{i}; вариант «{i % 7}»", (i % 50 + 1) * 1990)
    for i in range(400)
]


def _receipt(rng: random.Random, number: int) -> Receipt:
    kind = ReceiptKind.RETURN if rng.random() < 0.03 else ReceiptKind.SALE
    lines = []
    for position in range(1, rng.choice((2, 3, 3, 4)) + 1):
        code, barcode, name, price = rng.choice(ITEMS)
        quantity = rng.choice((1000, 1000, 2000, 548, 1250))
        full = price * quantity // 1000
        discount = full // 20 if rng.random() < 0.2 else 0
        vat = rng.choice((2000, 1000, 0))
        amount = full - discount
        lines.append(
            Line(position, code, barcode, name, "1", quantity, price, amount, discount, vat)
        )
    total = sum(line.amount for line in lines)
    payments: tuple[Payment, ...]
    if rng.random() < 0.5:
        payments = (Payment(rng.choice(list(PaymentMethod)), total),)
    else:
        cash = rng.randint(0, total)
        payments = (Payment(PaymentMethod.CASH, cash), Payment(PaymentMethod.NONCASH, total - cash))
    uid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    closed_at = OPENED_AT + number * 7_000
    return Receipt(uid, number, kind, closed_at, "Кассир 1", tuple(lines), payments)


def build_report(receipts: int) -> ShiftReport:
    """A closed shift of ``receipts`` receipts, about 3 lines and 1-2 payments each."""
    rng = random.Random(20240315)
    shift_receipts = [_receipt(rng, number) for number in range(1, receipts + 1)]
    counters = counters_from_totals(compute_totals(shift_receipts), 1, receipts)
    closed_at = OPENED_AT + (receipts + 1) * 7_000
    shift = Shift("shop-01", "K1", 42, OPENED_AT, closed_at, counters)
    return make_report(1001, shift, shift_receipts)


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def end_to_end(report: ShiftReport, config: Config, runs: int) -> dict[str, float | int]:
    """The exporter on the report's shift stored in a fresh SQLite database."""
    with tempfile.TemporaryDirectory() as folder:
        config = Config(
            server=ServerConfig(data_dir=folder), exchange=config.exchange, stores=config.stores
        )
        engine = open_engine(config.database_url)
        upgrade(engine)
        [outcome] = Repository(engine).load_batch([Upload(report.shift, report.receipts)])
        workshift_id = outcome.workshift_id
        exporter = Exporter(engine, config)
        read = [_timed(lambda: Reader(engine, config).report(workshift_id)) for _ in range(runs)]
        per_1000 = 1000 * 1000 / len(report.receipts)
        written, unchanged = [], []
        for _ in range(runs):
            for path in Path(folder, "outbox").rglob("shift-*"):
                path.unlink()
            started = time.perf_counter()
            result = exporter.export_shift(workshift_id)
            written.append(time.perf_counter() - started)
            assert result.status is ExportStatus.WRITTEN, result
            started = time.perf_counter()
            result = exporter.export_shift(workshift_id)
            unchanged.append(time.perf_counter() - started)
            assert result.status is ExportStatus.UNCHANGED, result
        size = sum(p.stat().st_size for p in Path(folder, "outbox").rglob("shift-*"))
        engine.dispose()
    return {
        "read_median_s": round(statistics.median(read), 4),
        "read_ms_per_1000": round(min(read) * per_1000, 2),
        "written_best_s": round(min(written), 4),
        "written_median_s": round(statistics.median(written), 4),
        "unchanged_median_s": round(statistics.median(unchanged), 4),
        "bytes": size,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--receipts", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--gc", choices=("daemon", "auto"), default="daemon")
    args = parser.parse_args()
    configure_logging(level="warning")
    report = build_report(args.receipts)
    if args.gc == "daemon":
        manual_gc()
    config = Config(
        exchange=ExchangeConfig(
            formats=tuple(RENDERERS),
            organization_name='ООО "Ромашка"',
            organization_inn="7701234567",
            frontol_database_id=1,
        ),
        stores={"shop-01": StoreConfig(name="Магазин на Ленина")},
    )
    formats: dict[str, dict[str, float | int]] = {}
    for name, render in RENDERERS.items():
        timings = []
        size = 0
        for _ in range(args.runs):
            started = time.perf_counter()
            size = len(render(report, config))
            timings.append(time.perf_counter() - started)
        formats[name] = {
            "best_s": round(min(timings), 4),
            "median_s": round(statistics.median(timings), 4),
            "bytes": size,
        }
    total_best = sum(float(f["best_s"]) for f in formats.values())
    total_median = sum(float(f["median_s"]) for f in formats.values())
    exported = end_to_end(report, config, args.runs)
    json_config = Config(exchange=ExchangeConfig(formats=("json",)), stores=config.stores)
    exported_json = end_to_end(report, json_config, args.runs)
    per_1000 = 1000 / args.receipts
    result = {
        "benchmark": "export",
        "receipts": args.receipts,
        "lines": sum(len(r.lines) for r in report.receipts),
        "payments": sum(len(r.payments) for r in report.receipts),
        "runs": args.runs,
        "gc": args.gc,
        "formats": formats,
        "total_best_s": round(total_best, 4),
        "total_median_s": round(total_median, 4),
        "end_to_end": exported,
        "end_to_end_json": exported_json,
        "read_ms_per_1000": exported_json["read_ms_per_1000"],
        "json_render_ms_per_1000": round(float(formats["json"]["best_s"]) * 1000 * per_1000, 2),
        "goal_s": GOAL_S,
        "within_goal": float(exported["written_median_s"]) <= GOAL_S,
    }
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
