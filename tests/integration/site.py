"""A data folder with a database, and the command line run against it."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import structlog
from msgspec import structs

from cashserver import cli
from cashserver.config import Config, load_config
from cashserver.domain import Upload
from cashserver.emulator.generate import ShiftPlan, generate_upload

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclasses.dataclass
class Site:
    """A data folder with its configuration file, and a way to run the CLI on it."""

    root: Path
    config_path: Path

    @property
    def config(self) -> Config:
        return load_config(self.config_path, environ={})

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CASHSERVER_")}
        env["PYTHONPATH"] = str(REPO_ROOT)
        return subprocess.run(
            [sys.executable, "-m", "cashserver.cli", *args, "--config", str(self.config_path)],
            capture_output=True,
            text=True,
            env=env,
            cwd=self.root,
            timeout=60,
            check=False,
        )

    def call(self, *args: str) -> tuple[int, str, str]:
        """Run ``cashserver.cli.main`` in this process: (exit code, stdout, stderr)."""
        saved = structlog.get_config()
        out, err = io.StringIO(), io.StringIO()
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = cli.main([*args, "--config", str(self.config_path)])
        except SystemExit as exc:  # argparse's way of refusing arguments
            code = int(exc.code or 0)
        finally:
            structlog.configure(**saved)
        return code, out.getvalue(), err.getvalue()

    def json(self, *args: str) -> Any:
        code, out, err = self.call(*args, "--json")
        assert code == 0, err
        return json.loads(out)


def plans() -> list[Upload]:
    closed = generate_upload(ShiftPlan("S1", "R1", 1, receipts=20, seed=1))
    still_open = generate_upload(ShiftPlan("S1", "R2", 1, receipts=10, seed=2, closed=False))
    gap = generate_upload(ShiftPlan("S2", "R1", 2, receipts=12, seed=3))
    gap = Upload(gap.shift, tuple(r for r in gap.receipts if r.number != 5))
    wrong = generate_upload(ShiftPlan("S2", "R1", 3, receipts=8, seed=4))
    assert wrong.shift.counters is not None
    counters = structs.replace(wrong.shift.counters, sales_noncash=1)
    wrong = Upload(structs.replace(wrong.shift, counters=counters), wrong.receipts)
    return [closed, still_open, gap, wrong]
