"""The forwarder tries again when its wait after a failure is up (SPEC 15:
min(2^k, retry_max_s) +-10 %), not at the backlog's next rescan five seconds on."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from sqlalchemy import Engine

from cashserver.config import parse_config
from cashserver.domain import Receipt, Shift
from cashserver.emulator.generate import ShiftPlan, generate_upload
from cashserver.forward.forwarder import RESCAN_S, Forwarder
from cashserver.forward.link import Answer, Result
from cashserver.store.leases import Leases
from cashserver.store.repository import Repository
from tests.waiting import wait_for


class FlakyLink:
    """A central server that is away for the first ``failures`` tries."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.tries: list[float] = []

    def upload(
        self,
        shift: Shift,
        receipt_ids: Sequence[int],
        read: Callable[[Sequence[int]], list[Receipt]],
    ) -> Answer:
        self.tries.append(time.monotonic())
        if len(self.tries) <= self.failures:
            return Answer(Result.FAILED, message="UNAVAILABLE: central server away")
        return Answer(Result.ACKNOWLEDGED, "LOADED", 1, len(receipt_ids))

    def close(self) -> None:
        pass


def test_a_failed_try_is_retried_when_its_wait_is_up(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    config = parse_config(
        {
            "server": {"data_dir": str(tmp_path / "data"), "database_url": db_url},
            "upstream": {"target": "127.0.0.1:9", "retry_max_s": 1},
        }
    )
    Repository(engine).load(generate_upload(ShiftPlan("S1", "R1", 1, 5, seed=1)))
    leases = Leases(engine, "store")
    forwarder = Forwarder(engine, config, leases)
    link = FlakyLink(failures=3)
    forwarder.link = link  # type: ignore[assignment]
    forwarder.start()
    try:
        wait_for(lambda: len(link.tries) > 3, timeout_s=30, what="the fourth try")
    finally:
        forwarder.stop(1.0)
    waits = [later - earlier for earlier, later in zip(link.tries, link.tries[1:], strict=False)]
    # Each wait is min(2^k, 1) s +-10 %: never sooner, and well before a rescan.
    assert all(0.85 <= wait < RESCAN_S / 2 for wait in waits), waits
