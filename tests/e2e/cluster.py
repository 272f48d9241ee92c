"""Helpers for the cluster tests: several `cashserver serve` on one PostgreSQL, and a
crowd of registers pushing the same shifts to random daemons."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from msgspec.structs import replace
from sqlalchemy import Engine, func, select, text

from cashserver.domain import PaymentMethod, ReceiptKind, Upload, UploadStatus
from cashserver.emulator.generate import ShiftPlan, generate_upload
from cashserver.emulator.push import GrpcPusher, Pusher
from cashserver.emulator.thrift_push import ThriftPusher
from cashserver.store.schema import receipts, shifts
from tests.e2e.daemon import ServeProcess

LEASE_TTL_S = 3.0


@contextmanager
def daemons(
    root: Path, database_url: str, count: int, **sections: dict[str, Any]
) -> Iterator[list[ServeProcess]]:
    """``count`` daemons, each with its own data_dir, on one database; killed at the end."""
    nodes = [
        ServeProcess(
            root / f"node-{i}",
            database_url,
            cluster={"node_name": f"node-{i}", "lease_ttl_s": LEASE_TTL_S},
            **sections,
        )
        for i in range(count)
    ]
    try:
        for node in nodes:
            node.start(wait=False)
        for node in nodes:
            node.wait_serving(timeout_s=60.0)
        yield nodes
    finally:
        for node in nodes:
            node.kill()


def plan_shifts(registers: int, total: int, receipts: int) -> list[Upload]:
    """``total`` closed shifts spread over ``registers`` registers of two stores."""
    uploads = []
    for i in range(total):
        register = i % registers
        store = "S1" if register % 2 else "S2"
        plan = ShiftPlan(store, f"R{register}", i // registers + 1, receipts, 2, seed=14)
        uploads.append(generate_upload(plan))
    return uploads


def first_half(upload: Upload) -> Upload:
    """What a register sends mid-shift: the first receipts, the shift still open."""
    half = upload.receipts[: len(upload.receipts) // 2]
    return Upload(replace(upload.shift, closed_at=None, counters=None), half)


@dataclass
class Crowd:
    """Registers pushing uploads to random daemons over both protocols, in parallel."""

    nodes: Sequence[ServeProcess]
    seed: int = 1
    workers: int = 32
    retry_for_s: float = 60.0

    def __post_init__(self) -> None:
        self._local = threading.local()
        self._all: list[Pusher] = []
        self._lock = threading.Lock()
        self.statuses: list[UploadStatus] = []
        self.stopped = threading.Event()
        """Set to make every push give up (a failed test must not leave it running)."""

    def _pusher(self, node: int, protocol: int) -> Pusher:
        cache: dict[tuple[int, int], Pusher] = self._local.__dict__.setdefault("pushers", {})
        key = (node, protocol)
        if key not in cache:
            target = self.nodes[node]
            cache[key] = (
                GrpcPusher(target.grpc_target, timeout_s=30)
                if protocol == 4
                else ThriftPusher(target.thrift_target, timeout_s=30)
            )
            with self._lock:
                self._all.append(cache[key])
        return cache[key]

    def _drop(self, node: int, protocol: int) -> None:
        pusher = self._local.__dict__.get("pushers", {}).pop((node, protocol), None)
        if pusher is not None:
            pusher.close()

    def push(self, upload: Upload, node: int, protocol: int) -> None:
        """Push until the daemon takes it (a register retries after a failure)."""
        deadline = time.monotonic() + self.retry_for_s
        while True:
            try:
                result = self._pusher(node, protocol).upload(upload)
            except Exception:
                if time.monotonic() > deadline or self.stopped.is_set():
                    raise
                self._drop(node, protocol)
                time.sleep(0.2)
                continue
            with self._lock:
                self.statuses.append(result.status)
            return

    def push_all(self, uploads: Sequence[Upload], copies: int = 3) -> None:
        """Each upload ``copies`` times (the first one half, still open), to random
        daemons over random protocols; the copies of one shift go out side by side."""
        rng = random.Random(self.seed)
        tasks: list[tuple[Upload, int, int]] = []
        for upload in uploads:
            versions = [first_half(upload)] + [upload] * (copies - 1)
            for version in versions:
                tasks.append((version, rng.randrange(len(self.nodes)), rng.choice((3, 4))))
        with ThreadPoolExecutor(self.workers) as pool:
            futures = [pool.submit(self.push, *task) for task in tasks]
            try:
                for future in futures:
                    future.result()
            finally:
                self.stopped.set()
                pool.shutdown(cancel_futures=True)

    def close(self) -> None:
        with self._lock:
            for pusher in self._all:
                pusher.close()
            self._all.clear()


def spools_drained(nodes: Sequence[ServeProcess]) -> bool:
    return all(not node.spool_files("incoming") for node in nodes)


def stored_counts(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        return (
            conn.execute(select(func.count()).select_from(shifts)).scalar_one(),
            conn.execute(select(func.count()).select_from(receipts)).scalar_one(),
        )


def expected_row(upload: Upload) -> dict[str, Any]:
    """The section 7 money of a whole shift, computed here from what was sent."""

    def paid(kind: ReceiptKind, method: PaymentMethod | None = None) -> int:
        return sum(
            p.amount
            for r in upload.receipts
            if r.kind is kind
            for p in r.payments
            if method is None or p.method is method
        )

    return {
        "store_code": upload.shift.store_code,
        "register_code": upload.shift.register_code,
        "shift_number": upload.shift.shift_number,
        "receipts_count": len(upload.receipts),
        "sales_cash": paid(ReceiptKind.SALE, PaymentMethod.CASH),
        "sales_noncash": paid(ReceiptKind.SALE, PaymentMethod.NONCASH),
        "returns_cash": paid(ReceiptKind.RETURN, PaymentMethod.CASH),
        "returns_noncash": paid(ReceiptKind.RETURN, PaymentMethod.NONCASH),
        "cash_in": paid(ReceiptKind.CASH_IN),
        "cash_out": paid(ReceiptKind.CASH_OUT),
        "status": "ok",
    }


def expected_store_days(uploads: Sequence[Upload], timezone: str) -> list[dict[str, Any]]:
    """The section 11 store-day rows of these whole shifts, computed here."""
    zone = ZoneInfo(timezone)
    days: dict[tuple[str, str], dict[str, Any]] = {}
    for upload in uploads:
        store = upload.shift.store_code
        for r in upload.receipts:
            day = datetime.fromtimestamp(r.closed_at / 1000, zone).date().isoformat()
            row = days.setdefault(
                (store, day),
                {"store_code": store, "date": day, "registers": set(), "shifts": set()}
                | dict.fromkeys(MONEY_KEYS, 0),
            )
            row["registers"].add(upload.shift.register_code)
            row["shifts"].add((upload.shift.register_code, upload.shift.shift_number))
            row["receipts_count"] += 1
            for p in r.payments:
                key = _MONEY_KEY.get((r.kind, p.method))
                if key is not None:
                    row[key] += p.amount
    rows = []
    for (_store, _day), row in sorted(days.items()):
        row["registers_count"] = len(row.pop("registers"))
        row["shifts_count"] = len(row.pop("shifts"))
        rows.append(row)
    return rows


MONEY_KEYS = (
    "receipts_count",
    "sales_cash",
    "sales_noncash",
    "returns_cash",
    "returns_noncash",
    "cash_in",
    "cash_out",
)
_MONEY_KEY = {
    (ReceiptKind.SALE, PaymentMethod.CASH): "sales_cash",
    (ReceiptKind.SALE, PaymentMethod.NONCASH): "sales_noncash",
    (ReceiptKind.RETURN, PaymentMethod.CASH): "returns_cash",
    (ReceiptKind.RETURN, PaymentMethod.NONCASH): "returns_noncash",
    (ReceiptKind.CASH_IN, PaymentMethod.CASH): "cash_in",
    (ReceiptKind.CASH_OUT, PaymentMethod.CASH): "cash_out",
}


def shift_rows(node: ServeProcess) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(node.cli("shifts", "--json").stdout)
    return rows


def exported_events(engine: Engine) -> list[dict[str, Any]]:
    """Every ``shift.exported`` in the shared events table, whichever node logged it."""
    query = text("SELECT fields FROM events WHERE event = 'shift.exported' ORDER BY event_id")
    with engine.connect() as conn:
        return [json.loads(fields) for fields in conn.execute(query).scalars()]
