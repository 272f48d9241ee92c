"""The spool archive after a SIGKILL between its rename and the removal of its files."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tarfile
from pathlib import Path

from cashserver.config import load_config
from cashserver.jobs.archive import MANIFEST_NAME, read_manifest
from cashserver.jobs.schedule import local_today
from tests.e2e.daemon import cli_env, run_cli

# Runs the archive job with the removal step replaced by a SIGKILL of the process:
# the archive has been renamed into place and fsynced, its files are still in the spool.
CRASHING_ARCHIVE = """
import os, signal, sys
from cashserver.config import load_config
from cashserver.jobs import archive
from cashserver.jobs.schedule import Housekeeping

archive.remove_archived = lambda *_: os.kill(os.getpid(), signal.SIGKILL)
config = load_config(sys.argv[1], {})
Housekeeping(config, None, lambda: None).archive(everything=True)
"""


def members(archive: Path) -> list[str]:
    with tarfile.open(archive) as tar:
        return [name for name in tar.getnames() if name != MANIFEST_NAME]


def test_a_crash_after_the_rename_archives_nothing_twice(tmp_path: Path) -> None:
    config_path = tmp_path / "cashserver.toml"
    config_path.write_text(f'[server]\ndata_dir = "{tmp_path / "data"}"\n')
    config = load_config(config_path, {})
    processed = config.spool_dir / "processed"
    processed.mkdir(parents=True)
    names = [f"{n:020d}-upload.json" for n in range(12)]
    for name in names:
        (processed / name).write_text(json.dumps({"n": name}))

    crashed = subprocess.run(
        [sys.executable, "-c", CRASHING_ARCHIVE, str(config_path)],
        env=cli_env(),
        capture_output=True,
        timeout=60,
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    target = config.backup_dir / "processed_archive"
    first = target / f"file-{local_today(config):%y-%m-%d}.tgz"
    assert [p.name for p in target.glob("*.tgz")] == [first.name]
    assert members(first) == names
    assert set(read_manifest(first)) == set(names)
    assert sorted(p.name for p in processed.iterdir()) == names  # not removed yet

    (processed / "99999999999999999999-new.json").write_text("{}")  # arrived meanwhile
    rerun = run_cli("archive", "--json", config=config_path)
    document = json.loads(rerun.stdout)
    [folder] = [f for f in document["folders"] if f["folder"] == "processed"]
    assert folder["already_archived"] == names
    assert folder["names"] == ["99999999999999999999-new.json"]
    second = target / f"file-{local_today(config):%y-%m-%d}-1.tgz"
    assert folder["archive"] == str(second)
    assert members(second) == ["99999999999999999999-new.json"]
    assert list(processed.iterdir()) == []
    every = [m for archive in sorted(target.glob("*.tgz")) for m in members(archive)]
    assert sorted(every) == sorted([*names, "99999999999999999999-new.json"])

    again = json.loads(run_cli("archive", "--json", config=config_path).stdout)
    assert all(f["archive"] is None for f in again["folders"])
    assert len(list(target.glob("*.tgz"))) == 2
