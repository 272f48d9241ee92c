"""`[cluster] node_name` in events and `[registers] advertise_*` in Handshake (SPEC section 14)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cashserver.emulator.thrift_push import ThriftPusher
from tests.e2e.daemon import ServeProcess


@pytest.fixture
def behind_a_balancer(tmp_path: Path) -> Iterator[ServeProcess]:
    daemon = ServeProcess(
        tmp_path,
        cluster={"node_name": "node-7"},
        registers={"advertise_grpc": "lb.example:10001", "advertise_thrift": "lb.example:10002"},
    )
    daemon.start()
    yield daemon
    daemon.kill()


def test_handshake_advertises_the_balancer_and_events_name_the_node(
    behind_a_balancer: ServeProcess,
) -> None:
    pusher = ThriftPusher(behind_a_balancer.thrift_target, timeout_s=30)
    try:
        settings = pusher.handshake("S1", "R1")
    finally:
        pusher.close()
    assert (settings.grpc_endpoint, settings.thrift_endpoint) == (
        "lb.example:10001",
        "lb.example:10002",
    )
    handshakes = behind_a_balancer.events("register.handshake")
    assert [e["node"] for e in handshakes] == ["node-7"]
    assert {e["node"] for e in behind_a_balancer.events("daemon.started")} == {"node-7"}
