from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.daemon import ServeProcess


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[ServeProcess]:
    """A running daemon on SQLite with gRPC and Thrift on free loopback ports."""
    daemon = ServeProcess(tmp_path)
    daemon.start()
    yield daemon
    daemon.kill()


@pytest.fixture
def tiny_spool(tmp_path: Path) -> Iterator[Path]:
    """A data folder on a 256 KiB tmpfs (disk full); skipped where mounting is not allowed."""
    data = tmp_path / "tiny"
    data.mkdir()
    if os.getuid() != 0:
        pytest.skip("mounting a tmpfs needs root; the read-only case is covered in test_spool")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(data)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    yield data
    subprocess.run(["umount", "-l", str(data)], check=False)
