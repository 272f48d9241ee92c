"""Leases on SQLite and PostgreSQL: one holder at a time, renewal, expiry, fencing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from cashserver.store.engine import open_engine, write_transaction
from cashserver.store.leases import Leases
from tests.waiting import holds_for, wait_for


@pytest.fixture
def node_a(engine: Engine) -> Iterator[Leases]:
    leases = Leases(engine, "node-a", ttl_s=1.0)
    yield leases
    leases.stop()


@pytest.fixture
def node_b(engine: Engine) -> Iterator[Leases]:
    leases = Leases(engine, "node-b", ttl_s=1.0)
    yield leases
    leases.stop()


def wait_for_lease(leases: Leases, job: str, key: str, timeout_s: float) -> float:
    """Try to take the lease until it is ours; returns how long that took."""
    start = time.monotonic()
    wait_for(lambda: leases.try_acquire(job, key), timeout_s, what=f"{job}/{key} free")
    return time.monotonic() - start


def test_one_holder_then_the_next_after_release(node_a: Leases, node_b: Leases) -> None:
    lease = node_a.try_acquire("pull", "S1/R1")
    assert lease is not None
    assert node_b.try_acquire("pull", "S1/R1") is None
    assert node_a.try_acquire("pull", "S1/R1") is None  # not re-entrant
    assert node_b.try_acquire("pull", "S1/R2") is not None  # another key is another lease
    holder = node_b.holder("pull", "S1/R1")
    assert holder is not None and holder.owner == "node-a" and holder.expires_in_ms > 0
    node_a.release(lease)
    second = node_b.try_acquire("pull", "S1/R1")
    assert second is not None and second.fence == lease.fence + 1
    taken = node_a.holder("pull", "S1/R1")
    assert taken is not None and (taken.owner, taken.fence) == ("node-b", second.fence)


def test_many_at_once_exactly_one_wins(engine: Engine, db_url: str) -> None:
    nodes = [Leases(open_engine(db_url), f"node-{i}") for i in range(8)]
    barrier = threading.Barrier(len(nodes))
    won: list[str] = []

    def contend(leases: Leases) -> None:
        barrier.wait()
        for day in range(20):
            if leases.try_acquire("dicts_trim", f"2026-12-{day:02d}") is not None:
                won.append(f"{day}:{leases.owner}")

    threads = [threading.Thread(target=contend, args=(n,)) for n in nodes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for leases in nodes:
        leases.engine.dispose()
    assert sorted(int(w.split(":")[0]) for w in won) == list(range(20))


def test_an_unrenewed_lease_expires(node_a: Leases, node_b: Leases) -> None:
    assert node_a.try_acquire("export", "7") is not None
    waited = wait_for_lease(node_b, "export", "7", timeout_s=5.0)
    assert 0.5 < waited < 5.0


def test_the_keeper_renews_and_a_taken_over_lease_is_lost(
    node_a: Leases, node_b: Leases, engine: Engine
) -> None:
    node_a.start()
    lease = node_a.try_acquire("export", "8")
    assert lease is not None
    # two and a half times the time to live
    holds_for(lambda: node_b.try_acquire("export", "8") is None, 2.5, what="lease held")
    assert not lease.lost.is_set()
    node_a.stop()
    wait_for_lease(node_b, "export", "8", timeout_s=5.0)
    with write_transaction(engine) as conn:
        assert not node_a.confirm(conn, lease)
    assert lease.lost.is_set()
    assert not node_a.renew(lease)


def test_confirm_holds_the_row_for_the_transaction(node_a: Leases, engine: Engine) -> None:
    lease = node_a.try_acquire("export", "9")
    assert lease is not None
    with write_transaction(engine) as conn:
        assert node_a.confirm(conn, lease)
    assert not lease.lost.is_set()


def test_completed_work_is_never_taken_again(node_a: Leases, node_b: Leases) -> None:
    lease = node_a.try_acquire("db_trim", "2026-12-02")
    assert lease is not None
    node_a.complete(lease)
    holder = node_b.holder("db_trim", "2026-12-02")
    assert holder is not None and holder.done
    assert node_b.try_acquire("db_trim", "2026-12-02") is None
    assert node_b.prune(older_than_s=3600) == 0  # done work is kept for a while
    assert node_b.prune(older_than_s=0) == 1
    assert node_b.holder("db_trim", "2026-12-02") is None


def test_prune_removes_long_expired_rows(node_a: Leases) -> None:
    lease = node_a.try_acquire("pull", "S1/R9")
    assert lease is not None
    node_a.release(lease)
    assert node_a.prune(older_than_s=3600) == 0
    # released means expired as of now, to the millisecond: prunable once the clock moves on
    wait_for(lambda: node_a.prune(older_than_s=0) == 1, 5, "the released lease pruned")
    assert node_a.holder("pull", "S1/R9") is None


HOLDER = """
import sys, time
from cashserver.store.engine import open_engine
from cashserver.store.leases import Leases
leases = Leases(open_engine(sys.argv[1]), "doomed", ttl_s=float(sys.argv[2]))
leases.start()
assert leases.try_acquire("pull", "S1/R1") is not None
print("held", flush=True)
time.sleep(600)
"""


def test_a_killed_holder_loses_its_lease_within_the_ttl(db_url: str, node_b: Leases) -> None:
    ttl_s = 2.0
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, db_url, str(ttl_s)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        # The keeper renews it: after more than a time to live it is still held.
        holds_for(lambda: node_b.try_acquire("pull", "S1/R1") is None, ttl_s * 1.5, "held")
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        waited = wait_for_lease(node_b, "pull", "S1/R1", timeout_s=ttl_s + 3.0)
        assert waited <= ttl_s + 1.0
    finally:
        holder.kill()
        holder.wait()


def test_a_renewal_planned_before_a_release_does_not_take_the_lease_again(
    engine: Engine, node_b: Leases
) -> None:
    """The keeper lists the held leases, then renews each; a holder that gives its lease
    back in between must find it given back, not renewed for a whole time to live (a
    forwarded shift once waited 30 s for its register's lease that way)."""
    node_a = Leases(engine, "node-a", ttl_s=30.0)
    lease = node_a.try_acquire("job", "k")
    assert lease is not None
    node_a.release(lease)  # after the keeper's list, before its renewal
    assert node_a.renew_held(lease) is None
    assert node_b.try_acquire("job", "k") is not None


def test_the_keepers_renewal_and_the_release_take_turns(engine: Engine) -> None:
    node_a = Leases(engine, "node-a", ttl_s=30.0)
    lease = node_a.try_acquire("job", "k")
    assert lease is not None
    assert node_a.renew_held(lease) is True  # held: renewed
    with lease._guard:  # a renewal under way: the release waits for it
        releasing = threading.Thread(target=node_a.release, args=(lease,))
        releasing.start()
        holds_for(releasing.is_alive, 0.3, "the release waiting for the renewal")
    releasing.join(10)
    assert not releasing.is_alive()
    assert node_a.renew_held(lease) is None
