"""A forwarder whose register lease another daemon took over records nothing: not the
central server's acknowledgement, not its refusal (the new holder forwards the shift
and records what its own answer says)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from cashserver.config import parse_config
from cashserver.emulator.generate import ShiftPlan, generate_upload
from cashserver.forward.forwarder import Forwarder
from cashserver.forward.link import Answer, Result
from cashserver.store.forwards import Forwards
from cashserver.store.leases import Leases
from cashserver.store.repository import Repository
from tests.links import ScriptedLink
from tests.waiting import wait_for


@pytest.mark.parametrize(
    "answer",
    [
        Answer(Result.ACKNOWLEDGED, "LOADED", 7, 5),
        Answer(Result.REJECTED, "REJECTED", message="the central server refused it"),
    ],
    ids=["acknowledged", "rejected"],
)
def test_an_answer_after_the_lease_was_taken_over_is_not_recorded(
    engine: Engine, db_url: str, tmp_path: Path, answer: Answer
) -> None:
    config = parse_config(
        {
            "server": {"data_dir": str(tmp_path / "data"), "database_url": db_url},
            "upstream": {"target": "127.0.0.1:9"},
        }
    )
    loaded = Repository(engine).load(generate_upload(ShiftPlan("S1", "R1", 1, 5, seed=1)))
    mine = Leases(engine, "store-a", ttl_s=0.2)
    lease = mine.try_acquire("forward", "register-1")
    assert lease is not None
    # The lease runs out (its holder stalled) and another daemon takes it.
    theirs = Leases(engine, "store-b", ttl_s=30)
    taken = wait_for(
        lambda: theirs.try_acquire("forward", "register-1"), timeout_s=10, what="the takeover"
    )
    forwarder = Forwarder(engine, config, mine)
    link = ScriptedLink(lambda _n: answer)
    forwarder.link = link  # type: ignore[assignment]

    sent = forwarder.forward_shift(loaded.workshift_id, lease)

    assert len(link.tries) == 1
    assert sent.answer.result is Result.FAILED
    assert sent.answer.message == "forward lease lost"
    snapshot = Forwards(engine).snapshot(loaded.workshift_id)
    assert snapshot is not None
    assert (snapshot.acked_revision, snapshot.rejected_revision) == (0, None)
    theirs.release(taken)
