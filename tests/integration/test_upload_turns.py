"""Upload turns over real sockets: uploads wait for one, Handshakes never do, either protocol."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from cashserver.config import parse_config
from cashserver.domain import UploadResult, UploadStatus
from cashserver.emulator.generate import ShiftPlan, generate_upload
from cashserver.emulator.push import GrpcPusher, Pusher
from cashserver.emulator.thrift_push import ThriftPusher
from cashserver.front.admission import Admission
from cashserver.front.ingest import UPLOADS_AT_ONCE, Ingest
from cashserver.front.turns import UploadTurns
from cashserver.rpc.grpc_server import GrpcListener
from cashserver.rpc.thrift_server import ThriftListener
from cashserver.spool import Spool
from cashserver.store.engine import open_engine, upgrade
from cashserver.store.registers import Registers
from cashserver.store.repository import Repository
from cashserver.writer.loader import Loader
from tests.pg import free_port


def test_a_turn_is_held_until_given_back_once() -> None:
    turns = UploadTurns(2)
    first, second = turns.take(), turns.take()
    taken: list[object] = []
    waiter = threading.Thread(target=lambda: taken.append(turns.take()))
    waiter.start()
    waiter.join(0.2)
    assert taken == [] and waiter.is_alive()
    first.give_back()
    first.give_back()  # a second give-back frees nothing more
    waiter.join(5)
    assert len(taken) == 1 and not first.held and second.held
    with second:
        pass
    assert not second.held


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Ingest, dict[int, str]]]:
    """A real ingest service on SQLite behind both listeners; yields it and the targets."""
    config = parse_config(
        {
            "server": {"data_dir": str(tmp_path)},
            "grpc": {"listen": f"127.0.0.1:{free_port()}"},
            "thrift": {"listen": f"127.0.0.1:{free_port()}"},
        }
    )
    engine: Engine = open_engine(config.database_url)
    upgrade(engine)
    loader = Loader(Spool(config.spool_dir), Repository(engine))
    admission = Admission(Registers(engine), auto_register=True)
    admission.load()
    loader.start()
    ingest = Ingest(config, loader, admission)
    grpc_listener, thrift_listener = GrpcListener(config, ingest), ThriftListener(config, ingest)
    grpc_listener.start()
    thrift_listener.start()
    try:
        yield (
            ingest,
            {
                4: f"127.0.0.1:{grpc_listener.port}",
                3: f"127.0.0.1:{thrift_listener.port}",
            },
        )
    finally:
        grpc_listener.stop(1.0)
        thrift_listener.stop(1.0)
        loader.stop(5.0)
        engine.dispose()


@pytest.mark.parametrize("protocol", [4, 3])
def test_handshakes_need_no_turn_and_uploads_wait_for_one(
    served: tuple[Ingest, dict[int, str]], protocol: int
) -> None:
    ingest, targets = served
    pusher: Pusher = (
        GrpcPusher(targets[4], timeout_s=10)
        if protocol == 4
        else ThriftPusher(targets[3], timeout_s=10)
    )
    uploader: Pusher = (
        GrpcPusher(targets[4], timeout_s=30)
        if protocol == 4
        else ThriftPusher(targets[3], timeout_s=30)
    )
    held = [ingest.turns.take() for _ in range(UPLOADS_AT_ONCE)]
    results: list[UploadResult] = []
    upload = generate_upload(ShiftPlan("S1", f"R{protocol}", 1, 5, seed=2))
    sending = threading.Thread(target=lambda: results.append(uploader.upload(upload)))
    try:
        assert pusher.handshake("S1", f"R{protocol}").protocol_version == 4
        sending.start()
        sending.join(0.5)
        assert results == [], "an upload went through without a turn"
        held.pop().give_back()
        sending.join(30)
        assert [r.status for r in results] == [UploadStatus.LOADED]
    finally:
        for turn in held:
            turn.give_back()
        sending.join(30)
        pusher.close()
        uploader.close()
