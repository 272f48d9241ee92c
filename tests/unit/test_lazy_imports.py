"""Each process of ``serve`` imports only what it uses (the daemon's resident memory).

Every library loaded stays resident in every process that imports it, and the
memory goal counts the sum over the processes. The front (the listeners) never
migrates the database, runs no jobs and serves no HTTP; the writer runs no
listener and imports the protocols' libraries only when a pull runs. Checked in a
fresh interpreter, since this test process has imported everything already.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

FRONT = """
import cashserver.cli.main
cashserver.cli.main.build_parser()
import cashserver.daemon, cashserver.rpc.grpc_server, cashserver.rpc.thrift_server
"""
WRITER = """
import cashserver.writer.child, cashserver.writer.side, cashserver.pull.schedule
import cashserver.http.app, cashserver.http.server, cashserver.http.pull_now
"""


def modules_after(code: str) -> set[str]:
    """The modules (and their top-level packages) loaded after running ``code``."""
    script = code + "\nimport sys\nprint('\\n'.join(sys.modules))\n"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    names = set(result.stdout.split())
    return names | {name.split(".")[0] for name in names}


@pytest.mark.parametrize(
    ("code", "absent"),
    [
        (
            FRONT,
            {
                "alembic",
                "mako",
                "pygments",
                "apscheduler",
                "starlette",
                "uvicorn",
                "jinja2",
                "click",
                "cashserver.writer",
                "cashserver.exchange.exporter",
                "cashserver.jobs",
            },
        ),
        (WRITER, {"grpc", "thriftpy2", "google", "uvicorn", "alembic"}),
    ],
    ids=["front", "writer"],
)
def test_a_side_does_not_import_what_it_does_not_use(code: str, absent: set[str]) -> None:
    assert modules_after(code) & absent == set()
