"""A central server on PostgreSQL with three store servers forwarding to it at once."""

from __future__ import annotations

import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import text

from cashserver.domain import UploadStatus
from cashserver.emulator.generate import ShiftPlan, generate_upload
from cashserver.emulator.push import GrpcPusher
from cashserver.store.engine import open_engine
from tests.conftest import new_pg_database
from tests.e2e.cluster import Crowd
from tests.e2e.forwarding import all_in, by_key, central_server, plan, rows, store_server
from tests.pg import Cluster
from tests.waiting import wait_for

STORES = 3
REGISTERS = 4
SHIFTS = 3


def test_three_store_servers_forward_to_a_central_server_on_postgresql(
    tmp_path: Path, pg_cluster: Cluster
) -> None:
    central = central_server(tmp_path / "central", new_pg_database(pg_cluster))
    stores = [store_server(tmp_path / f"store-{i}", central.grpc_target) for i in range(STORES)]
    nodes = [central, *stores]
    for node in nodes:
        node.start(wait=False)
    try:
        for node in nodes:
            node.wait_serving(60.0)

        def push(index: int) -> None:
            pusher = GrpcPusher(stores[index].grpc_target)
            try:
                for register in range(REGISTERS):
                    for number in range(1, SHIFTS + 1):
                        plan = ShiftPlan(f"S{index}", f"R{register}", number, 10, 2, seed=8)
                        result = pusher.upload(generate_upload(plan))
                        assert result.status is UploadStatus.LOADED, result
            finally:
                pusher.close()

        with ThreadPoolExecutor(STORES) as pool:
            list(pool.map(push, range(STORES)))
        wait_for(
            lambda: all(all_in(s, central) for s in stores), 90.0, "every store server caught up"
        )

        at_central = by_key(rows(central))
        assert len(at_central) == STORES * REGISTERS * SHIFTS
        expected: dict[tuple[object, ...], dict[str, object]] = {}
        for store in stores:
            expected.update(by_key(rows(store)))
        assert at_central == expected
    finally:
        for node in nodes:
            node.kill()


def test_store_servers_sharing_one_postgresql_forward_each_revision_once(
    tmp_path: Path, pg_cluster: Cluster
) -> None:
    central = central_server(tmp_path / "central")
    database = new_pg_database(pg_cluster)
    nodes = [
        store_server(
            tmp_path / f"node-{i}", central.grpc_target, database, cluster={"lease_ttl_s": 3.0}
        )
        for i in range(2)
    ]
    for node in (central, *nodes):
        node.start(wait=False)
    try:
        for node in (central, *nodes):
            node.wait_serving(60.0)
        crowd = Crowd(nodes, workers=8)
        try:
            crowd.push_all(plan(registers=6, total=24, receipts=8), copies=2)
        finally:
            crowd.close()
        wait_for(lambda: all_in(nodes[0], central) and all_in(nodes[1]), 90.0, "caught up")
        assert by_key(rows(central)) == by_key(rows(nodes[0]))
        assert len(rows(central)) == 24

        engine = open_engine(database)
        try:
            with engine.connect() as conn:
                sent = [
                    json.loads(fields)
                    for fields in conn.execute(
                        text("SELECT fields FROM events WHERE event = 'forward.sent'")
                    ).scalars()
                ]
        finally:
            engine.dispose()
        revisions = Counter((e["workshift_id"], e["revision"]) for e in sent)
        assert revisions and max(revisions.values()) == 1, revisions.most_common(3)
    finally:
        for node in (central, *nodes):
            node.kill()
