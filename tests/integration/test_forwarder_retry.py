"""The forwarder tries again when its wait after a failure is up (SPEC 15:
min(2^k, retry_max_s) +-10 %), not at the backlog's next rescan five seconds on."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from cashserver.config import parse_config
from cashserver.emulator.generate import ShiftPlan, generate_upload
from cashserver.forward.forwarder import RESCAN_S, Forwarder
from cashserver.forward.link import Answer, Result
from cashserver.store.leases import Leases
from cashserver.store.repository import Repository
from tests.links import ScriptedLink
from tests.waiting import wait_for


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
    link = ScriptedLink(
        lambda n: (
            Answer(Result.FAILED, message="UNAVAILABLE: central server away")
            if n <= 3
            else Answer(Result.ACKNOWLEDGED, "LOADED", 1, 5)
        )
    )
    forwarder.link = link  # type: ignore[assignment]
    forwarder.start()
    try:
        wait_for(lambda: len(link.tries) > 3, timeout_s=30, what="the fourth try")
    finally:
        forwarder.stop(1.0)
    waits = [later - earlier for earlier, later in zip(link.tries, link.tries[1:], strict=False)]
    # Each wait is min(2^k, 1) s +-10 %: never sooner, and well before a rescan.
    assert all(0.85 <= wait < RESCAN_S / 2 for wait in waits), waits
