"""The database trimmer against a register that keeps uploading, on SQLite.

Loads ``--shifts`` old exported shifts of ``--receipts`` receipts each, then loads
fresh 100-receipt shifts one after another on a second engine (as the daemon's
loader would, beside ``cashserver trim`` in another process) and times each load:
first for a few seconds without the trimmer, then while the trimmer deletes the old
shifts in transactions of ``--batch`` receipts. Prints one JSON line: the trimmer's
rate and its longest transaction, and the upload's latency idle (p50, max) and
during the trim (p50, max). The longest pause the trimmer causes is the worst
upload during the trim less the idle median.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path

from msgspec.structs import replace
from sqlalchemy import select

from benchmarks.common import percentile
from cashserver.clock import now_ms
from cashserver.domain import Upload
from cashserver.emulator.generate import ShiftPlan, generate_upload
from cashserver.jobs.trimmer import trim_shifts
from cashserver.log import configure_logging
from cashserver.store.engine import open_engine, upgrade
from cashserver.store.exports import Exports
from cashserver.store.repository import Repository
from cashserver.store.schema import shifts

DAY_MS = 86_400_000
IDLE_S = 3.0


def moved(upload: Upload, delta_ms: int) -> Upload:
    shift = upload.shift
    return replace(
        upload,
        shift=replace(
            shift,
            opened_at=None if shift.opened_at is None else shift.opened_at + delta_ms,
            closed_at=None if shift.closed_at is None else shift.closed_at + delta_ms,
        ),
        receipts=tuple(replace(r, closed_at=r.closed_at + delta_ms) for r in upload.receipts),
    )


class Uploader(threading.Thread):
    def __init__(self, repository: Repository, now: int) -> None:
        super().__init__(daemon=True)
        self.repository = repository
        self.now = now
        self.stop = threading.Event()
        self.samples: list[tuple[float, float]] = []
        """(time it started, seconds it took)."""

    def run(self) -> None:
        number = 1
        while not self.stop.is_set():
            upload = generate_upload(ShiftPlan("LIVE", "R1", number, 100, seed=5))
            upload = moved(upload, self.now - upload.receipts[-1].closed_at)
            started = time.monotonic()
            self.repository.load_batch([upload])
            self.samples.append((started, time.monotonic() - started))
            number += 1


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shifts", type=int, default=100)
    parser.add_argument("--receipts", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=5000)
    args = parser.parse_args()
    configure_logging(level="warning")
    now = now_ms()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        trimmer_engine = open_engine(url)
        upgrade(trimmer_engine)
        setup = Repository(trimmer_engine)
        for n in range(1, args.shifts + 1):
            upload = generate_upload(ShiftPlan("OLD", f"R{n % 10}", n, args.receipts, seed=n))
            setup.load_batch([moved(upload, now - 60 * DAY_MS - upload.receipts[-1].closed_at)])
        exports = Exports(trimmer_engine)
        with trimmer_engine.connect() as conn:
            rows = conn.execute(select(shifts.c.workshift_id, shifts.c.revision)).all()
        for workshift_id, revision in rows:
            exports.mark_exported(workshift_id, revision, ["json"], "bench")

        loader_engine = open_engine(url)
        uploader = Uploader(Repository(loader_engine), now)
        uploader.start()
        time.sleep(IDLE_S)  # the idle baseline: a fixed measuring window, not a wait
        trim_started = time.monotonic()
        done = trim_shifts(trimmer_engine, 30, args.batch, now=now)
        trim_s = time.monotonic() - trim_started
        uploader.stop.set()
        uploader.join()
        trimmer_engine.dispose()
        loader_engine.dispose()
    idle = [s for at, s in uploader.samples if at < trim_started]
    during = [s for at, s in uploader.samples if at >= trim_started]
    print(
        json.dumps(
            {
                "benchmark": "trimmer",
                "backend": "sqlite",
                "shifts_trimmed": len(done.shifts),
                "receipts_trimmed": done.receipts,
                "batch_receipts": args.batch,
                "trim_s": round(trim_s, 2),
                "trimmed_receipts_per_s": round(done.receipts / trim_s),
                "transactions": done.transactions,
                "longest_transaction_ms": round(done.longest_transaction_s * 1000, 1),
                "upload_100_receipts_idle_p50_ms": round(percentile(idle, 50) * 1000, 1),
                "upload_idle_max_ms": round(max(idle) * 1000, 1),
                "uploads_during_trim": len(during),
                "upload_during_trim_p50_ms": round(percentile(during, 50) * 1000, 1)
                if during
                else None,
                "upload_during_trim_max_ms": round(max(during) * 1000, 1) if during else None,
                "longest_pause_ms": round((max(during) - percentile(idle, 50)) * 1000, 1)
                if during
                else None,
            }
        )
    )


if __name__ == "__main__":
    main()
