"""Forwarding with the database trimmer, and in a chain of three servers (SPEC 15)."""

from __future__ import annotations

import json
from pathlib import Path

from cashserver.domain import UploadStatus
from cashserver.emulator.push import GrpcPusher
from tests.e2e.daemon import ServeProcess
from tests.e2e.forwarding import all_in, by_key, central_server, plan, rows, status, store_server
from tests.waiting import wait_for


def push_all(node: ServeProcess, count: int) -> None:
    pusher = GrpcPusher(node.grpc_target)
    try:
        for upload in plan(registers=2, total=count, receipts=8):
            assert pusher.upload(upload).status is UploadStatus.LOADED
    finally:
        pusher.close()


def trim(node: ServeProcess) -> list[int]:
    done = json.loads(node.cli("trim", "--json").stdout)
    return sorted(int(shift["workshift_id"]) for shift in done["shifts"])


def test_the_trimmer_keeps_unforwarded_shifts_until_they_are_acknowledged(tmp_path: Path) -> None:
    central = central_server(tmp_path / "central")  # not running yet: the link is down
    store = store_server(tmp_path / "store", central.grpc_target, jobs={"keep_shifts_days": 1})
    store.start()
    try:
        push_all(store, 3)  # shifts of January 2026: long past the one day kept
        wait_for(lambda: all(r["exported"] for r in rows(store)), 30.0, "exported")
        wait_for(lambda: status(store)["state"] == "retrying", 30.0, "the link down")
        assert trim(store) == []
        assert len(rows(store)) == 3

        central.start()
        wait_for(lambda: all_in(store, central), 60.0, "forwarded")
        assert trim(store) == [1, 2, 3]
        assert rows(store) == []
        assert len(rows(central)) == 3
    finally:
        store.kill()
        central.kill()


def test_a_shift_pushed_at_a_store_reaches_the_head_office_through_a_region(
    tmp_path: Path,
) -> None:
    head = central_server(tmp_path / "head")
    region = store_server(tmp_path / "region", head.grpc_target)
    store = store_server(tmp_path / "store", region.grpc_target)
    nodes = (head, region, store)
    for node in nodes:
        node.start(wait=False)
    try:
        for node in nodes:
            node.wait_serving(60.0)
        push_all(store, 2)
        wait_for(lambda: all_in(store, region) and all_in(region, head), 60.0, "forwarded twice")
        assert by_key(rows(head)) == by_key(rows(store)) == by_key(rows(region))
        assert len(rows(head)) == 2
    finally:
        for node in nodes:
            node.kill()
