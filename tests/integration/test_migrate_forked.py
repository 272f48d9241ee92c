"""The daemon's migration in a forked child (cashserver.store.migrate): the database is
migrated, a failure comes back with its text, and alembic never loads in the caller.

Each case runs in a fresh interpreter: the fork is taken only while the process has
one thread, and this test process has imported alembic already.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import sys, threading
from sqlalchemy import inspect
from cashserver.store.engine import open_engine
from cashserver.store.migrate import MigrationFailed, upgrade_forked

engine = open_engine(sys.argv[1])
if sys.argv[2] == "thread":  # another thread running: no fork, migrated here
    threading.Thread(target=threading.Event().wait, daemon=True).start()
try:
    upgrade_forked(engine)
except MigrationFailed as exc:
    print("failed:", exc)
    sys.exit(0)
print("tables:", " ".join(sorted(inspect(engine).get_table_names())))
print("alembic loaded:", "alembic" in sys.modules)
"""


def run(url: str, mode: str = "") -> str:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, url, mode or "-"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_forked_migration_migrates_and_alembic_stays_out_of_the_caller(
    tmp_path: Path,
) -> None:
    out = run(f"sqlite:///{tmp_path / 'db.sqlite'}")
    assert "alembic_version" in out.split("tables:")[1].split()
    assert "receipts" in out.split("tables:")[1].split()
    assert "alembic loaded: False" in out
    again = run(f"sqlite:///{tmp_path / 'db.sqlite'}")  # idempotent, like upgrade
    assert "alembic loaded: False" in again


def test_a_failed_migration_comes_back_with_the_childs_error_text(tmp_path: Path) -> None:
    (tmp_path / "db.sqlite").mkdir()  # a folder where the database file should be
    out = run(f"sqlite:///{tmp_path / 'db.sqlite'}")
    assert out.startswith("failed: (sqlite3.OperationalError) unable to open database file")


def test_with_another_thread_running_the_migration_runs_in_the_process(tmp_path: Path) -> None:
    out = run(f"sqlite:///{tmp_path / 'db.sqlite'}", "thread")
    assert "alembic_version" in out and "alembic loaded: True" in out
