"""The spool archive: processed (and old error/broken) sales files into daily tgz files.

Every day at ``[jobs] archive_time`` (03:33 by default, the daemon's local time) the
spool folders are archived into
``<backup_dir>/{processed,error,broken}_archive/file-YY-MM-DD.tgz`` (a second
archive the same day is ``file-YY-MM-DD-1.tgz``, then ``-2``...): every file of
``processed/``, and the files of ``error/`` and ``broken/`` older than
:data:`OPERATOR_DAYS` days (an operator has that long to act on them in place).
``cashserver archive`` archives every file now, today's included.

Crash safety: an archive is written under a temp name, fsynced and renamed, and
only then are its files removed from the spool. Its first member is a manifest
(:data:`MANIFEST_NAME`) naming every file with its size and modification time, so
a run after a crash between the rename and the removal finds the files already
archived, removes them, and archives nothing twice. Archives older than
``archive_keep_days`` are deleted. Runs are serialised by a lock file in the
backup folder, so the daemon's job and ``cashserver archive`` never interleave.
"""

from __future__ import annotations

import fcntl
import io
import os
import tarfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import orjson

from cashserver.durable import TEMP_PREFIX, fsync_dir
from cashserver.log import get_logger
from cashserver.spool import REASON_SUFFIX, Spool

log = get_logger(__name__)

ARCHIVED_FOLDERS = ("processed", "error", "broken")
OPERATOR_DAYS = 7
DAY_S = 86_400
MANIFEST_NAME = ".cashserver-manifest.json"
LOCK_NAME = ".archive.lock"

Fingerprint = tuple[int, int]
"""(size, modification time in ns): spool files are never changed once written."""


@dataclass(frozen=True, slots=True)
class ArchiveResult:
    folder: str
    archive: Path | None
    """The archive written, None when none was."""
    files: int
    """Sales files packed into it (reason files beside them not counted)."""
    names: tuple[str, ...] = ()
    """Every file packed, reason files included."""
    already_archived: tuple[str, ...] = field(default=())
    """Files found in an earlier archive (a crash before their removal): removed only."""


def _fingerprint(path: Path) -> Fingerprint:
    info = path.stat()
    return info.st_size, info.st_mtime_ns


def _archive_path(target: Path, day: date) -> Path:
    base = f"file-{day:%y-%m-%d}"
    path = target / f"{base}.tgz"
    n = 1
    while path.exists():
        path = target / f"{base}-{n}.tgz"
        n += 1
    return path


def read_manifest(archive: Path) -> dict[str, Fingerprint]:
    """The files an archive holds, from its manifest; {} for one without (or unreadable)."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            first = tar.next()  # the manifest is the first member: only it is decompressed
            if first is None or first.name != MANIFEST_NAME:
                return {}
            handle = tar.extractfile(first)
            document: Any = orjson.loads(handle.read()) if handle else {}
    except (OSError, tarfile.TarError, orjson.JSONDecodeError):
        return {}
    files = document.get("files", {}) if isinstance(document, dict) else {}
    return {name: (int(v["size"]), int(v["mtime_ns"])) for name, v in files.items()}


def archived_files(target: Path) -> dict[str, Fingerprint]:
    """Every file recorded in the manifests of the archives in ``target``."""
    found: dict[str, Fingerprint] = {}
    if target.is_dir():
        for archive in sorted(target.glob("file-*.tgz")):
            found.update(read_manifest(archive))
    return found


def _manifest(folder: str, files: dict[str, Fingerprint]) -> bytes:
    return orjson.dumps(
        {
            "format": "cashserver.archive-manifest",
            "version": 1,
            "folder": folder,
            "created_at_ms": time.time_ns() // 1_000_000,
            "files": {name: {"size": s, "mtime_ns": m} for name, (s, m) in files.items()},
        },
        option=orjson.OPT_INDENT_2,
    )


def _write_archive(archive: Path, folder: str, files: list[Path]) -> None:
    """Write ``archive`` durably (temp name, fsync, rename, fsync of the folder)."""
    prints = {path.name: _fingerprint(path) for path in files}
    manifest = _manifest(folder, prints)
    temp = archive.with_name(f"{TEMP_PREFIX}{archive.name}")
    try:
        with tarfile.open(temp, "w:gz") as tar:
            info = tarfile.TarInfo(MANIFEST_NAME)
            info.size = len(manifest)
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(manifest))
            for path in files:
                tar.add(path, arcname=path.name)
        with open(temp, "rb") as handle:
            os.fsync(handle.fileno())
        os.rename(temp, archive)
        fsync_dir(archive.parent)
    finally:
        temp.unlink(missing_ok=True)


def remove_archived(source: Path, files: list[Path]) -> None:
    """Remove files that are now durable in an archive, then fsync their folder."""
    for path in files:
        path.unlink(missing_ok=True)
    fsync_dir(source)


def archive_folder(
    spool: Spool,
    folder: str,
    backup_dir: Path,
    day: date,
    min_age_s: float = 0.0,
) -> ArchiveResult:
    """Pack a spool folder's files (older than ``min_age_s``) into one tgz, then remove them."""
    source = spool.folder(folder)
    now = time.time()
    candidates = sorted(
        p
        for p in (source.iterdir() if source.is_dir() else ())
        if p.is_file() and not p.name.startswith(".") and now - p.stat().st_mtime >= min_age_s
    )
    if not candidates:
        return ArchiveResult(folder, None, 0)
    target = backup_dir / f"{folder}_archive"
    known = archived_files(target)
    already = [p for p in candidates if known.get(p.name) == _fingerprint(p)]
    fresh = [p for p in candidates if known.get(p.name) != _fingerprint(p)]
    archive = _archive_path(target, day) if fresh else None
    result = ArchiveResult(
        folder,
        archive,
        sum(1 for p in fresh if not p.name.endswith(REASON_SUFFIX)),
        tuple(p.name for p in fresh),
        tuple(p.name for p in already),
    )
    if archive is not None:
        target.mkdir(parents=True, exist_ok=True)
        _write_archive(archive, folder, fresh)
    remove_archived(source, fresh + already)
    return result


def prune_archives(backup_dir: Path, keep_days: int) -> list[Path]:
    """Delete archives older than ``keep_days``; returns them."""
    cutoff = time.time() - keep_days * DAY_S
    old = [
        archive
        for folder in ARCHIVED_FOLDERS
        for archive in sorted((backup_dir / f"{folder}_archive").glob("file-*.tgz"))
        if archive.stat().st_mtime < cutoff
    ]
    for archive in old:
        archive.unlink(missing_ok=True)
    return old


@contextmanager
def archive_lock(backup_dir: Path) -> Iterator[None]:
    """One archive run at a time on this backup folder, across processes."""
    backup_dir.mkdir(parents=True, exist_ok=True)
    with open(backup_dir / LOCK_NAME, "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@dataclass(frozen=True, slots=True)
class SpoolArchive:
    results: tuple[ArchiveResult, ...]
    pruned: tuple[Path, ...]


def archive_spool(
    spool: Spool,
    backup_dir: Path,
    keep_days: int,
    day: date | None = None,
    everything: bool = False,
) -> SpoolArchive:
    """The archive job: every folder, then the pruning of old archives.

    ``everything`` (``cashserver archive``) takes the files of ``error/`` and
    ``broken/`` of any age too.
    """
    day = day or date.today()
    results = []
    with archive_lock(backup_dir):
        for folder in ARCHIVED_FOLDERS:
            min_age = 0.0 if everything or folder == "processed" else OPERATOR_DAYS * DAY_S
            result = archive_folder(spool, folder, backup_dir, day, min_age)
            results.append(result)
            if result.archive is not None:
                log.info(
                    "spool.archived",
                    folder=folder,
                    files=result.files,
                    archive=str(result.archive),
                )
            if result.already_archived:
                log.warning(
                    "spool.archive_resumed",
                    folder=folder,
                    files=len(result.already_archived),
                )
        pruned = prune_archives(backup_dir, keep_days)
    if pruned:
        log.info("spool.archives_pruned", archives=len(pruned), keep_days=keep_days)
    return SpoolArchive(tuple(results), tuple(pruned))
