"""Forwarding survives SIGKILLs (SPEC 15): 30 kills, alternating the store server and the
central server (each with its writer child), while 120 shifts are pushed and forwarded.
At the end the central server has every shift once, with every receipt once."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import func, select

from cashserver.store.engine import open_engine
from cashserver.store.forwards import NOT_ACKED, with_forwards
from cashserver.store.schema import shifts
from tests.e2e.cluster import Crowd
from tests.e2e.forwarding import (
    all_in,
    by_key,
    central_server,
    kill_tree,
    plan,
    rows,
    store_server,
)
from tests.waiting import wait_for

KILLS = 30
SHIFTS = 120
RECEIPTS = 10


def test_sigkills_of_either_server_lose_nothing_and_store_nothing_twice(tmp_path: Path) -> None:
    central = central_server(tmp_path / "central")
    store = store_server(tmp_path / "store", central.grpc_target)
    central.start(wait=False)
    store.start()
    central.wait_serving()
    engine = open_engine(f"sqlite:///{store.data_dir / 'cashserver.db'}")
    acked = with_forwards(select(func.count()).select_from(shifts)).where(~NOT_ACKED)

    def forwarded() -> int:
        with engine.connect() as conn:
            return int(conn.execute(acked).scalar_one())

    uploads = plan(registers=12, total=SHIFTS, receipts=RECEIPTS)
    crowd = Crowd([store], workers=4, retry_for_s=120.0)
    pushing = threading.Thread(target=crowd.push_all, args=(uploads, 2))
    pushing.start()
    try:
        for kill in range(KILLS):
            victim = store if kill % 2 == 0 else central
            before = forwarded()
            kill_tree(victim)
            victim.start()
            if kill % 2 == 1:  # let some forwarding happen between the kills (if any is left)
                wait_for(
                    lambda b=before: (
                        forwarded() > b or forwarded() == SHIFTS or pushing.is_alive() is False
                    ),  # type: ignore[misc]
                    30.0,
                    "forwarding goes on",
                )
        pushing.join(180.0)
        assert not pushing.is_alive()
        wait_for(lambda: all_in(store, central), 120.0, "the store server caught up")
        at_central = by_key(rows(central))  # asserts no shift is there twice
        assert at_central == by_key(rows(store))
        assert len(at_central) == SHIFTS
        assert sum(row["receipts_count"] for row in at_central.values()) == SHIFTS * RECEIPTS
    finally:
        crowd.stopped.set()
        crowd.close()
        engine.dispose()
        store.kill()
        central.kill()
