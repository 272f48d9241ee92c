"""Pull speed: one scheduled round over many emulated registers, into SQLite.

Emulated registers (``cashserver emulator serve --registers N``, protocol 4, one
process) each hold one shift (a day's sales); the daemon has them in its
directory before it starts, with an interval long enough for one round. The
round runs from its first ``pull.started`` until every register is READY
(``state_at``). Printed as one JSON line: the round's time and receipts per
second for 200 registers x 500 receipts and 1,000 x 50, the daemon's peak RSS
(VmHWM, summed over the daemon and its children), and the push rate
(benchmarks/ingest.py's 32 concurrent registers) measured in the same run as the
yardstick. Exchange files are off in both, as in the ingest benchmark.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.ingest import concurrent_rate
from cashserver.config import parse_config
from cashserver.store.engine import open_engine, upgrade
from cashserver.store.reading import Reader
from cashserver.store.registers import Registers
from tests.e2e.daemon import ServeProcess
from tests.e2e.pull_peers import emulator_fleet

INTERVAL_S = 30
"""First pulls of new registers spread over a tenth of this; long enough for one round."""
ROUND_LIMIT_S = 300.0


def tree_peak_rss_mb(pid: int) -> float:
    """VmHWM of ``pid`` and its descendants, in MB."""
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            for task in Path(f"/proc/{current}/task").iterdir():
                pending.extend(int(c) for c in (task / "children").read_text().split())
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1])
    return total / 1024


def one_round(registers: int, receipts: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        daemon = ServeProcess(
            Path(folder),
            thrift={"listen": ""},
            exchange={"formats": []},
            pull={
                "interval_s": INTERVAL_S,
                "first_window_s": 400 * 86400,
                "timeout_s": 120,
            },
        )
        config = parse_config(
            {"server": {"data_dir": str(daemon.data_dir)}, "grpc": {"listen": ""}}
        )
        with emulator_fleet(
            "--store", "B1", "--shifts", "1", "--receipts", str(receipts), registers=registers
        ) as fleet:  # fmt: skip
            engine = open_engine(config.database_url)
            upgrade(engine)
            directory = Registers(engine)
            for index in range(registers):
                directory.add_entry("B1", f"R{index + 1}", {"address": fleet.address(index)})
            reader = Reader(engine, config)
            daemon.start()
            try:
                deadline = time.monotonic() + ROUND_LIMIT_S
                while True:
                    listed = reader.registers()
                    if all(r.state == "READY" for r in listed):
                        break
                    if time.monotonic() > deadline:
                        states = {r.state for r in listed}
                        raise SystemExit(f"round did not finish: states {states}")
                    time.sleep(0.2)
                end_ms = max(r.state_at or 0 for r in listed)
                assert daemon.process is not None
                rss = tree_peak_rss_mb(daemon.process.pid)
                started = daemon.events("pull.started", timeout_s=10)
            finally:
                daemon.kill()
            start_ms = min(e_ms(e) for e in started)
            stored = sum(
                r["receipts_count"] for r in json.loads(daemon.cli("shifts", "--json").stdout)
            )
            engine.dispose()
    seconds = (end_ms - start_ms) / 1000
    return {
        "registers": registers,
        "receipts_each": receipts,
        "receipts_stored": stored,
        "round_s": round(seconds, 2),
        "receipts_per_s": round(stored / seconds) if seconds else None,
        "daemon_peak_rss_mb": round(rss, 1),
    }


def e_ms(event: dict[str, Any]) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(event["time"].replace("Z", "+00:00")).timestamp() * 1000)


def push_rate() -> float:
    with tempfile.TemporaryDirectory() as folder:
        daemon = ServeProcess(
            Path(folder), spool={"verdict_timeout_s": 5.0}, exchange={"formats": []}
        )
        daemon.start()
        try:
            rate, _ = concurrent_rate(4, daemon, 32, 3)
        finally:
            daemon.kill()
    return rate


def main() -> None:
    big = one_round(200, 500)
    many = one_round(1000, 50)
    push = push_rate()
    print(
        json.dumps(
            {
                "benchmark": "pull",
                "round_200x500": big,
                "round_1000x50": many,
                "push_receipts_per_s": round(push),
                "pull_to_push": round(big["receipts_per_s"] / push, 2),
                "goals": {"round_200x500_s": 15, "pull_to_push": 0.5, "rss_mb": 200},
            }
        )
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
