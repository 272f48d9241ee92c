from __future__ import annotations

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
