"""Scheduled housekeeping on real files: spool archives, their pruning, the schedule."""

from __future__ import annotations

import os
import tarfile
import time
from datetime import date
from pathlib import Path

from cashserver.config import load_config, parse_config
from cashserver.jobs import OPERATOR_DAYS, archive_spool, prune_archives
from cashserver.jobs.archive import MANIFEST_NAME
from cashserver.log import Journal
from cashserver.spool import Spool
from cashserver.writer.side import Writer

DAY = 86_400


def make_file(folder: Path, name: str, age_days: float = 0) -> Path:
    path = folder / name
    path.write_text(name)
    then = time.time() - age_days * DAY
    os.utime(path, (then, then))
    return path


def test_archive_packs_processed_and_old_operator_files(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    spool.prepare()
    make_file(spool.folder("processed"), "a.json")
    make_file(spool.folder("processed"), "b.json")
    make_file(spool.folder("error"), "old.json", OPERATOR_DAYS + 1)
    make_file(spool.folder("error"), "old.json.reason", OPERATOR_DAYS + 1)
    make_file(spool.folder("error"), "fresh.json", 1)
    backup = tmp_path / "backup"
    archive_spool(spool, backup, keep_days=30, day=date(2026, 11, 23))
    processed = backup / "processed_archive" / "file-26-11-23.tgz"
    with tarfile.open(processed) as tar:
        assert tar.getnames() == [MANIFEST_NAME, "a.json", "b.json"]
    with tarfile.open(backup / "error_archive" / "file-26-11-23.tgz") as tar:
        assert tar.getnames() == [MANIFEST_NAME, "old.json", "old.json.reason"]
    assert list(spool.folder("processed").iterdir()) == []
    assert [p.name for p in spool.folder("error").iterdir()] == ["fresh.json"]
    assert not (backup / "broken_archive" / "file-26-11-23.tgz").exists()


def test_a_second_run_the_same_day_does_not_overwrite(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    spool.prepare()
    backup = tmp_path / "backup"
    for name in ("one.json", "two.json"):
        make_file(spool.folder("processed"), name)
        archive_spool(spool, backup, keep_days=30, day=date(2026, 1, 2))
    names = sorted(p.name for p in (backup / "processed_archive").iterdir())
    assert names == ["file-26-01-02-1.tgz", "file-26-01-02.tgz"]


def test_archives_older_than_the_keep_period_are_deleted(tmp_path: Path) -> None:
    folder = tmp_path / "backup" / "processed_archive"
    folder.mkdir(parents=True)
    old = make_file(folder, "file-26-01-01.tgz", 31)
    recent = make_file(folder, "file-26-01-25.tgz", 29)
    assert prune_archives(tmp_path / "backup", keep_days=30) == [old]
    assert not old.exists() and recent.exists()


def test_the_daemon_schedules_the_archive_at_03_33(tmp_path: Path) -> None:
    config = parse_config(
        {
            "server": {"data_dir": str(tmp_path / "data")},
            "grpc": {"listen": ""},
            "thrift": {"listen": ""},
        }
    )
    writer = Writer(config, Journal())
    writer.build()
    writer.schedule_jobs()
    for job_id in ("nightly", "trim_dicts"):
        job = writer.scheduler.get_job(job_id)
        assert "hour='3'" in str(job.trigger) and "minute='33'" in str(job.trigger)
        assert job.max_instances == 1 and job.coalesce
    writer.engine.dispose()


def test_the_shipped_production_config_is_valid() -> None:
    config = load_config(Path(__file__).resolve().parents[2] / "systemd" / "cashserver.toml", {})
    assert config.exchange.formats == ("json", "enterprisedata", "frontol")
