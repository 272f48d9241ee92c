"""Pull leases across three daemons (SPEC section 14): a register is never asked by two
daemons at once, and the registers a killed daemon pulled move to the others."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from sqlalchemy import Engine, text

from cashserver.rpc._generated.cashserver.v1 import cashserver_pb2 as pb
from cashserver.store.engine import open_engine
from cashserver.store.registers import Registers
from tests.conftest import new_pg_database
from tests.e2e.cluster import daemons
from tests.pg import Cluster
from tests.waiting import wait_for

REGISTERS = 30
ANSWER_S = 0.3
"""Each ask is answered after this long, so two asks at once would overlap."""


@dataclass
class Asks:
    """What one emulated register saw: asks in flight now, at most, and in all."""

    now: int = 0
    most: int = 0
    total: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class CountingRegister:
    def __init__(self, asks: Asks) -> None:
        self.asks = asks

    async def GetSales(self, _request: Any, _context: Any) -> AsyncIterator[Any]:
        with self.asks.lock:
            self.asks.now += 1
            self.asks.total += 1
            self.asks.most = max(self.asks.most, self.asks.now)
        try:
            await asyncio.sleep(ANSWER_S)
        finally:
            with self.asks.lock:
                self.asks.now -= 1
        for _ in ():  # an empty answer: nothing sold
            yield pb.UploadChunk()


@pytest.fixture
def peers() -> Iterator[tuple[list[int], list[Asks]]]:
    """30 registers on one event loop, each on a port of its own."""
    asks = [Asks() for _ in range(REGISTERS)]
    ports: list[int] = []
    started = threading.Event()
    stop = threading.Event()

    async def main() -> None:
        servers = []
        method = pb.DESCRIPTOR.services_by_name["RegisterSales"].full_name
        for count in asks:
            server = grpc.aio.server()
            handler = grpc.unary_stream_rpc_method_handler(
                CountingRegister(count).GetSales,
                request_deserializer=pb.SalesRequest.FromString,
                response_serializer=pb.UploadChunk.SerializeToString,
            )
            server.add_generic_rpc_handlers(
                (grpc.method_handlers_generic_handler(method, {"GetSales": handler}),)
            )
            ports.append(server.add_insecure_port("127.0.0.1:0"))
            await server.start()
            servers.append(server)
        started.set()
        while not stop.is_set():
            await asyncio.sleep(0.1)
        await asyncio.gather(*(s.stop(0.5) for s in servers))

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert started.wait(30)
    yield ports, asks
    stop.set()
    thread.join(10)


def pullers_by_register(engine: Engine, since_ms: int = 0) -> dict[str, set[str]]:
    """Which nodes logged ``pull.started`` for each register (since a time)."""
    query = text("SELECT fields FROM events WHERE event = 'pull.started' AND time >= :since")
    found: dict[str, set[str]] = {}
    with engine.connect() as conn:
        for fields in conn.execute(query, {"since": since_ms}).scalars():
            event = json.loads(fields)
            found.setdefault(event["register_code"], set()).add(event["node"])
    return found


def test_no_register_is_pulled_by_two_daemons_at_once_and_a_dead_ones_move(
    tmp_path: Path, pg_cluster: Cluster, peers: tuple[list[int], list[Asks]]
) -> None:
    ports, asks = peers
    url = new_pg_database(pg_cluster)
    engine = open_engine(url)
    try:
        with daemons(tmp_path, url, 3, pull={"interval_s": 1}) as nodes:
            directory = Registers(engine)  # what ``registers add --address`` does, 30 times
            for i, port in enumerate(ports):
                assert directory.add_entry("S1", f"P{i}", {"address": f"127.0.0.1:{port}"})
            # Every register is asked again and again, by whichever node has its turn.
            wait_for(lambda: min(a.total for a in asks) >= 4, 60, "every register pulled 4 times")
            assert max(a.most for a in asks) == 1
            before = pullers_by_register(engine)
            assert len({node for names in before.values() for node in names}) >= 2
            victim = nodes[0]
            theirs = {code for code, names in before.items() if "node-0" in names}
            assert theirs, "node-0 pulled no register"
            assert victim.process is not None
            victim.kill()  # SIGKILL, maybe in the middle of pulls
            killed_at = int(time.time() * 1000)

            def taken_over() -> bool:
                after = pullers_by_register(engine, killed_at)
                return all(after.get(code, set()) - {"node-0"} for code in theirs)

            wait_for(taken_over, 60, "the dead node's registers pulled by the others")
            assert time.time() * 1000 - killed_at < 60_000
            assert max(a.most for a in asks) == 1
    finally:
        engine.dispose()
