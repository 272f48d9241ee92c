"""One register's pull in-process: the loader, the loading state, the lock, the console's
entry point (SPEC 10)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from structlog.testing import capture_logs

from cashserver.config import Config, parse_config
from cashserver.domain import ShiftRange, Upload
from cashserver.emulator.generate import ShiftPlan, generate_upload
from cashserver.http.pull_now import pull_now
from cashserver.pull.locks import PullLocks
from cashserver.pull.runner import Busy, Puller, State, Verdict, pull_registers, target_of
from cashserver.pull.states import StateBuffer
from cashserver.spool import Spool
from cashserver.store.engine import write_transaction
from cashserver.store.leases import Lease, Leases
from cashserver.store.reading import Reader
from cashserver.store.registers import Registers
from cashserver.store.repository import Repository
from cashserver.writer.loader import Loader
from tests.e2e.pull_peers import GrpcPeer
from tests.waiting import wait_for


@pytest.fixture
def peer() -> Iterator[GrpcPeer]:
    uploads = [generate_upload(ShiftPlan("S1", "P1", n, 30, seed=3)) for n in (1, 2, 3)]
    server = GrpcPeer(uploads)
    yield server
    server.stop()


@pytest.fixture
def setup(tmp_path: Path, engine: Engine, peer: GrpcPeer) -> Iterator[tuple[Config, Loader]]:
    config = parse_config({"server": {"data_dir": str(tmp_path / "data")}})
    Registers(engine).add_entry("S1", "P1", {"address": peer.address, "timezone": "UTC"})
    loader = Loader(Spool(config.spool_dir), Repository(engine))
    loader.start()
    yield config, loader
    loader.stop(10)


def test_the_console_entry_point_pulls_local_dates_and_records_the_state(
    engine: Engine, setup: tuple[Config, Loader]
) -> None:
    config, loader = setup
    states = StateBuffer(Registers(engine))
    puller = Puller(config, loader, states)
    infos = Reader(engine, config).registers()
    rows = pull_now(config, puller, infos, date(2026, 1, 1), date(2026, 1, 3))
    states.close()
    assert rows == [
        {
            "store_code": "S1",
            "register_code": "P1",
            "state": "READY",
            "state_message": "2 shifts, 60 receipts stored",
            "shifts": 2,
            "receipts_stored": 60,
            "receipts_duplicate": 0,
        }
    ]
    info = Reader(engine, config).registers()[0]
    assert info.state == "READY" and info.last_sale_at is not None
    assert len(Reader(engine, config).shift_rows()) == 2


def test_a_register_being_pulled_is_not_pulled_again_at_once(
    engine: Engine, setup: tuple[Config, Loader]
) -> None:
    config, loader = setup
    puller = Puller(config, loader, Registers(engine))
    target = target_of(Reader(engine, config).registers()[0], config)
    assert target is not None
    with PullLocks(config.data_dir).hold("S1", "P1", 0) as held:
        assert held
        with pytest.raises(Busy):
            puller.pull(target, ShiftRange(1, 3), "schedule")
        (result,) = pull_registers(puller, [(target, ShiftRange(1, 3))], 4, wait_s=0.3)
        assert result.state is State.ERROR and "being pulled already" in result.state_message
    assert Reader(engine, config).shift_rows() == []
    assert puller.pull(target, ShiftRange(1, 3)).receipts_stored == 90


def test_a_closed_puller_cuts_and_refuses_pulls(
    engine: Engine, setup: tuple[Config, Loader], peer: GrpcPeer
) -> None:
    config, loader = setup
    puller = Puller(config, loader, Registers(engine))
    target = target_of(Reader(engine, config).registers()[0], config)
    assert target is not None
    puller.close()
    result = puller.pull(target, ShiftRange(1, 3))
    assert result.state is State.ERROR and "stopping" in result.state_message
    assert peer.calls == 0


def test_protocol_4_pulls_over_tls_when_the_register_names_a_ca(
    tmp_path: Path, engine: Engine
) -> None:
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    upload = generate_upload(ShiftPlan("S1", "T1", 1, 10, seed=3))
    key_chain = (cert.private_key_pem.bytes(), cert.cert_chain_pems[0].bytes())
    peer = GrpcPeer([upload], tls=key_chain)
    config = parse_config({"server": {"data_dir": str(tmp_path / "data")}})
    loader = Loader(Spool(config.spool_dir), Repository(engine))
    loader.start()
    try:
        registers = Registers(engine)
        registers.add_entry("S1", "T1", {"address": peer.address})
        puller = Puller(config, loader, registers)
        plain = target_of(Reader(engine, config).registers()[0], config)
        assert plain is not None
        refused = puller.pull(plain, ShiftRange(1, 1))
        assert refused.state is State.ERROR and refused.receipts_stored == 0
        registers.update_entry("S1", "T1", {"tls_ca": str(tmp_path / "ca.pem")})
        secure = target_of(Reader(engine, config).registers()[0], config)
        assert secure is not None and secure.tls.ca
        assert puller.pull(secure, ShiftRange(1, 1)).receipts_stored == 10
    finally:
        loader.stop(10)
        peer.stop()


def test_a_broken_start_and_a_rejected_shift_end_ready_with_error(
    engine: Engine, setup: tuple[Config, Loader], peer: GrpcPeer
) -> None:
    from msgspec.structs import replace

    from cashserver.rpc.convert_proto import upload_to_chunks

    config, loader = setup
    puller = Puller(config, loader, Registers(engine))
    target = target_of(Reader(engine, config).registers()[0], config)
    assert target is not None
    # Receipts before any Shift chunk: not loaded; the shifts after them are.
    peer.leading = upload_to_chunks(generate_upload(ShiftPlan("S1", "P1", 9, 5, seed=3)), 5)[1:]
    result = puller.pull(target, ShiftRange(1, 9))
    assert result.state is State.READY_WITH_ERROR
    assert "does not start with a Shift" in result.state_message
    assert result.shifts == 3 and result.receipts_stored == 90
    assert {r["shift_number"] for r in Reader(engine, config).shift_rows()} == {1, 2, 3}
    # A shift without an open time, stored so, sent again: rule 2 rejects it.
    peer.leading = []
    undated = generate_upload(ShiftPlan("S1", "P1", 7, 4, seed=3))
    peer.uploads = [replace(undated, shift=replace(undated.shift, opened_at=None))]
    assert puller.pull(target, ShiftRange(7, 7)).state is State.READY
    again = puller.pull(target, ShiftRange(7, 7))
    assert again.state is State.READY_WITH_ERROR and "shift 7 rejected" in again.state_message
    assert Reader(engine, config).registers()[0].state == "READY_WITH_ERROR"


class _SpyLeases(Leases):
    """Leases that remember each one taken, so the test can see it lost."""

    def __init__(self, engine: Engine, owner: str, ttl_s: float) -> None:
        super().__init__(engine, owner, ttl_s)
        self.taken: list[Lease] = []

    def try_acquire(self, job: str, key: str = "") -> Lease | None:
        lease = super().try_acquire(job, key)
        if lease is not None:
            self.taken.append(lease)
        return lease


class _TakenOverAfterTheFirstShift:
    """The loader as the pull's sink; once the first shift is handed over, another
    daemon takes the pull lease over (as after this one stalled past its expiry),
    and the sink returns only when this daemon's keeper has noticed."""

    def __init__(self, loader: Loader, engine: Engine, leases: _SpyLeases) -> None:
        self.loader = loader
        self.engine = engine
        self.leases = leases
        self.handed = 0

    def submit(self, upload: Upload, source: str) -> Verdict:
        verdict = self.loader.submit(upload, source)
        self.handed += 1
        if self.handed == 1:
            with write_transaction(self.engine) as conn:
                conn.execute(
                    text(
                        "UPDATE leases SET owner = 'other-node', fence = fence + 1"
                        " WHERE job = 'pull' AND key = 'S1/P1'"
                    )
                )
            wait_for(lambda: self.leases.taken[0].lost.is_set(), 10, "the lease seen lost")
        return verdict


def test_a_pull_whose_lease_is_lost_midway_stops_loading_and_says_so(
    engine: Engine, setup: tuple[Config, Loader]
) -> None:
    config, loader = setup
    leases = _SpyLeases(engine, "this-node", ttl_s=0.6)
    leases.start()
    sink = _TakenOverAfterTheFirstShift(loader, engine, leases)
    puller = Puller(config, sink, Registers(engine), leases=leases)
    target = target_of(Reader(engine, config).registers()[0], config)
    assert target is not None
    try:
        with capture_logs() as logs:
            result = puller.pull(target, ShiftRange(1, 3))
    finally:
        leases.stop()
    assert result.state is State.ERROR
    assert "the pull lease was lost (taken over)" in result.state_message
    assert "loading stopped" in result.state_message
    assert (result.shifts, result.receipts_stored, sink.handed) == (1, 30, 1)
    assert [r["shift_number"] for r in Reader(engine, config).shift_rows()] == [1]
    info = Reader(engine, config).registers()[0]
    assert info.state == "ERROR" and info.state_message == result.state_message
    (event,) = [e for e in logs if e["event"] == "pull.lease_lost"]
    assert (event["store_code"], event["register_code"]) == ("S1", "P1")
    assert event["reason"] == "taken over" and event["log_level"] == "warning"
    holder = leases.holder("pull", "S1/P1")  # the new holder's lease is left alone
    assert holder is not None and holder.owner == "other-node" and holder.expires_in_ms > 0
