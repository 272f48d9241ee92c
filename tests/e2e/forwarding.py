"""Helpers for the forwarding tests: a store server forwarding to a central server."""

from __future__ import annotations

import contextlib
import json
import os
import signal
from pathlib import Path
from typing import Any

from cashserver.domain import Upload
from cashserver.emulator.generate import ShiftPlan, generate_upload
from tests.e2e.daemon import ServeProcess
from tests.pg import free_port

RETRY_MAX_S = 1.0
"""Short waits between tries, so a restarted central server is reached at once."""
VOLATILE = ("workshift_id", "exported", "forwarded")
"""Row keys that differ between two servers holding the same shifts."""


def central_server(root: Path, database_url: str = "", **sections: dict[str, Any]) -> ServeProcess:
    return ServeProcess(root, database_url, cluster={"node_name": root.name}, **sections)


def store_server(
    root: Path, target: str, database_url: str = "", **sections: dict[str, Any]
) -> ServeProcess:
    """A server forwarding to ``target`` (HOST:PORT), retrying quickly."""
    upstream = {"target": target, "retry_max_s": RETRY_MAX_S, **sections.pop("upstream", {})}
    cluster = {"node_name": root.name, **sections.pop("cluster", {})}
    return ServeProcess(root, database_url, upstream=upstream, cluster=cluster, **sections)


def unused_target() -> str:
    return f"127.0.0.1:{free_port()}"


def api(node: ServeProcess, path: str) -> Any:
    status, body = node.http(path)
    assert status == 200, (path, status, body[:500])
    return json.loads(body)


def rows(node: ServeProcess) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = api(node, "/api/shifts")
    return found


def by_key(found: list[dict[str, Any]]) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Rows keyed on (store, register, shift number, open time), less the keys that are
    each server's own."""
    keyed: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in found:
        key = (row["store_code"], row["register_code"], row["shift_number"], row["opened_at"])
        assert key not in keyed, f"shift stored twice: {key}"
        keyed[key] = {k: v for k, v in row.items() if k not in VOLATILE}
    return keyed


def caught_up(store: ServeProcess) -> bool:
    """Everything the store server took is loaded and acknowledged by its central server."""
    if store.spool_files("incoming"):
        return False
    waiting: list[Any] = api(store, "/api/shifts?not_forwarded=1")
    return not waiting


def all_in(store: ServeProcess, *upstream: ServeProcess) -> bool:
    """The store server caught up and its central servers loaded what they took (a QUEUED
    answer acknowledges an upload still in the central server's spool)."""
    return caught_up(store) and not any(node.spool_files("incoming") for node in upstream)


def status(node: ServeProcess) -> dict[str, Any]:
    found: dict[str, Any] = api(node, "/api/upstream")
    return found


def store_days(node: ServeProcess) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = api(node, "/api/report/stores")
    return found


def events(node: ServeProcess, name: str) -> list[dict[str, Any]]:
    """Every ``name`` event the node logged (from its events table)."""
    logged = json.loads(node.cli("log", "--json").stdout)
    return [e for e in logged if e["event"] == name]


def kill_tree(node: ServeProcess) -> None:
    """SIGKILL the daemon and its writer child at once (no chance to finish anything)."""
    if node.process is None:
        return
    for pid in [*node.children(), node.process.pid]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    node.process.wait()
    node.process = None


def plan(registers: int, total: int, receipts: int, seed: int = 14) -> list[Upload]:
    """``total`` closed shifts over ``registers`` registers of two stores, each one a
    register could send (a seed whose drawer would go negative is skipped)."""
    uploads = []
    for i in range(total):
        register = i % registers
        store = "S1" if register % 2 else "S2"
        for attempt in range(seed, seed + 100):
            upload = generate_upload(
                ShiftPlan(store, f"R{register}", i // registers + 1, receipts, 2, seed=attempt)
            )
            counters = upload.shift.counters
            if counters is not None and counters.drawer >= 0:
                break
        uploads.append(upload)
    return uploads
