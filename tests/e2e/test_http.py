"""The admin HTTP listener of a running ``serve``: health, readiness, the start-up rule."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.daemon import ServeProcess, run_cli
from tests.pg import Cluster, PostgresUnavailable, free_port


def wait_for(condition: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def readiness(daemon: ServeProcess) -> tuple[int, dict[str, Any]]:
    status, body = daemon.http("/readyz")
    document: dict[str, Any] = json.loads(body)
    return status, document


def test_healthz_and_readyz_answer_while_serving(serve: ServeProcess) -> None:
    assert serve.http("/healthz") == (200, b'{"status":"ok"}')
    assert readiness(serve) == (200, {"status": "ready"})


def test_readyz_is_503_while_the_sqlite_database_is_locked(serve: ServeProcess) -> None:
    locker = sqlite3.connect(serve.data_dir / "cashserver.db", isolation_level=None)
    try:
        locker.execute("BEGIN IMMEDIATE")  # another program holds the write lock
        status, document = readiness(serve)
        assert status == 503
        problems = document["problems"]
        assert isinstance(problems, dict) and set(problems) == {"database"}
        assert serve.http("/healthz")[0] == 200
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert readiness(serve)[0] == 200


def restart(cluster: Cluster, timeout_s: float = 30.0) -> None:
    """Start a stopped cluster again; a killed postmaster's children may still hold
    its lock file for a moment, and then postgres refuses to start."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            cluster.start()
            return
        except PostgresUnavailable:
            cluster.process = None
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_readyz_is_503_while_postgresql_is_down(tmp_path: Path) -> None:
    try:
        cluster = Cluster()
        cluster.start()
    except PostgresUnavailable as exc:
        pytest.skip(str(exc))
    try:
        daemon = ServeProcess(tmp_path, database_url=cluster.url)
        daemon.start()
        try:
            assert readiness(daemon)[0] == 200
            cluster.stop()
            status, document = readiness(daemon)
            assert status == 503
            assert set(document["problems"]) == {"database"}
            restart(cluster)
            wait_for(lambda: readiness(daemon)[0] == 200)
        finally:
            daemon.kill()
    finally:
        cluster.destroy()


@contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """``folder`` cannot be written for a while: a read-only bind mount as root (whom
    a folder's mode does not stop), its mode otherwise."""
    if os.getuid() != 0:
        folder.chmod(0o500)
        try:
            yield
        finally:
            folder.chmod(0o700)
        return
    mounted = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {mounted.stderr.decode().strip()}")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], check=True)
        yield
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_readyz_names_a_spool_that_cannot_be_written(serve: ServeProcess) -> None:
    with read_only(serve.data_dir / "spool" / "incoming"):
        status, document = readiness(serve)
        assert status == 503
        assert set(document["problems"]) == {"spool"}
    assert readiness(serve)[0] == 200


def test_serve_refuses_an_open_listen_without_a_password(tmp_path: Path) -> None:
    daemon = ServeProcess(tmp_path, http={"listen": f"0.0.0.0:{free_port()}"})
    result = run_cli("serve", config=daemon.config, check=False)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "http.listen" in lines[0] and "password_hash" in lines[0]
