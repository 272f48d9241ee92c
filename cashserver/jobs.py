"""Scheduled housekeeping: spool archives and trimming old events.

Every day at ``[jobs] archive_time`` (03:33 by default, server local time) the
spool folders are archived into
``<backup_dir>/{processed,error,broken}_archive/file-YY-MM-DD.tgz``: every file
of ``processed/``, and the files of ``error/`` and ``broken/`` older than
:data:`OPERATOR_DAYS` days (an operator has that long to act on them in place).
Archived files are removed from the spool only after their archive is durable.
Archives older than ``archive_keep_days`` are deleted, and so are events older
than ``events_keep_days``.
"""

from __future__ import annotations

import os
import tarfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from cashserver.clock import now_ms
from cashserver.durable import TEMP_PREFIX, fsync_dir
from cashserver.log import get_logger
from cashserver.spool import REASON_SUFFIX, Spool
from cashserver.store.events import Events

log = get_logger(__name__)

ARCHIVED_FOLDERS = ("processed", "error", "broken")
OPERATOR_DAYS = 7
DAY_S = 86_400


@dataclass(frozen=True, slots=True)
class ArchiveResult:
    folder: str
    archive: Path | None
    files: int


def _archive_path(target: Path, day: date) -> Path:
    base = f"file-{day:%y-%m-%d}"
    path = target / f"{base}.tgz"
    n = 1
    while path.exists():
        path = target / f"{base}-{n}.tgz"
        n += 1
    return path


def archive_folder(
    spool: Spool, folder: str, backup_dir: Path, day: date, min_age_s: float = 0.0
) -> ArchiveResult:
    """Pack a spool folder's files (older than ``min_age_s``) into one tgz, then remove them."""
    source = spool.folder(folder)
    now = time.time()
    files = sorted(
        p
        for p in source.iterdir()
        if p.is_file() and not p.name.startswith(".") and now - p.stat().st_mtime >= min_age_s
    )
    if not files:
        return ArchiveResult(folder, None, 0)
    target = backup_dir / f"{folder}_archive"
    target.mkdir(parents=True, exist_ok=True)
    archive = _archive_path(target, day)
    temp = archive.with_name(f"{TEMP_PREFIX}{archive.name}")
    try:
        with tarfile.open(temp, "w:gz") as tar:
            for path in files:
                tar.add(path, arcname=path.name)
        with open(temp, "rb") as handle:
            os.fsync(handle.fileno())
        os.rename(temp, archive)
        fsync_dir(target)
    finally:
        temp.unlink(missing_ok=True)
    for path in files:
        path.unlink(missing_ok=True)
    fsync_dir(source)
    archived = sum(1 for p in files if not p.name.endswith(REASON_SUFFIX))
    return ArchiveResult(folder, archive, archived)


def prune_archives(backup_dir: Path, keep_days: int) -> int:
    """Delete archives older than ``keep_days``; returns how many."""
    cutoff = time.time() - keep_days * DAY_S
    removed = 0
    for folder in ARCHIVED_FOLDERS:
        for archive in (backup_dir / f"{folder}_archive").glob("file-*.tgz"):
            if archive.stat().st_mtime < cutoff:
                archive.unlink(missing_ok=True)
                removed += 1
    return removed


def archive_spool(spool: Spool, backup_dir: Path, keep_days: int, day: date | None = None) -> None:
    """The daily archive job."""
    day = day or date.today()
    for folder in ARCHIVED_FOLDERS:
        min_age = 0.0 if folder == "processed" else OPERATOR_DAYS * DAY_S
        result = archive_folder(spool, folder, backup_dir, day, min_age)
        if result.archive is not None:
            log.info(
                "spool.archived", folder=folder, files=result.files, archive=str(result.archive)
            )
    removed = prune_archives(backup_dir, keep_days)
    if removed:
        log.info("spool.archives_pruned", archives=removed, keep_days=keep_days)


def trim_events(events: Events, keep_days: int) -> None:
    """The daily trim of the events table."""
    removed = events.trim(now_ms() - keep_days * DAY_S * 1000)
    if removed:
        log.info("events.trimmed", events=removed, keep_days=keep_days)
