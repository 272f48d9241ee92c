"""The durable spool of sales files: the commit point of every upload.

An upload is durable once :meth:`Spool.put` returns: its sales file was written
to a hidden temp file in ``incoming/``, fsynced, renamed to its final name, and
the folder fsynced. Files are named so that name order is arrival order. The
loader then moves each file to ``processed/``, ``error/`` or ``broken/``; the
last two get a ``<name>.reason`` JSON file beside them.

The sales file's format is :mod:`cashserver.sales_file`.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from cashserver.clock import now_ms
from cashserver.domain import Upload
from cashserver.durable import TEMP_PREFIX, fsync_dir, write_atomically
from cashserver.sales_file import encode_sales_file

FOLDERS = ("incoming", "processed", "error", "broken")
REASON_SUFFIX = ".reason"


class SpoolUnavailable(OSError):
    """The spool could not make an upload durable (disk full, read-only, gone)."""


@dataclass(frozen=True, slots=True)
class HeldFile:
    """A file the loader set aside in ``error/`` or ``broken/``, with its reason."""

    folder: str
    name: str
    size: int
    modified_at: int
    """When it was moved there (ms)."""
    reason: dict[str, Any] | None
    """The ``.reason`` file beside it (``reason``, ``error``, ``time``), None when missing
    or unreadable (a file put there by hand)."""


@dataclass(frozen=True, slots=True)
class FolderStatus:
    folder: str
    files: int
    oldest_age_s: float | None


class Spool:
    """The four spool folders under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._seq = itertools.count()
        self._lock = threading.Lock()

    def folder(self, name: str) -> Path:
        return self.root / name

    def prepare(self) -> int:
        """Create the folders and remove temp files left by a crash; returns how many."""
        removed = 0
        for name in FOLDERS:
            folder = self.folder(name)
            folder.mkdir(parents=True, exist_ok=True)
            for temp in folder.glob(f"{TEMP_PREFIX}*"):
                temp.unlink(missing_ok=True)
                removed += 1
        return removed

    def _name(self, upload: Upload, now_ns: int) -> str:
        with self._lock:
            seq = next(self._seq) % 1_000_000
        shift = upload.shift
        return (
            f"{now_ns:020d}-{os.getpid() % 100000:05d}{seq:06d}-"
            f"{shift.store_code}-{shift.register_code}-{shift.shift_number}.json"
        )

    def new_path(self, upload: Upload) -> Path:
        """The name a new sales file for ``upload`` will have in ``incoming/``."""
        return self.folder("incoming") / self._name(upload, time.time_ns())

    def put(
        self, upload: Upload, source: str, path: Path | None = None, forwarded_by: str = ""
    ) -> Path:
        """Make ``upload`` durable in ``incoming/``; raises :class:`SpoolUnavailable`."""
        path = path or self.new_path(upload)
        try:
            write_atomically(path, encode_sales_file(upload, source, now_ms(), forwarded_by))
        except OSError as exc:
            raise SpoolUnavailable(exc.errno, f"spool cannot be written: {exc.strerror}") from exc
        return path

    def incoming(self) -> list[Path]:
        """Sales files waiting in ``incoming/``, in arrival (name) order."""
        folder = self.folder("incoming")
        names = sorted(
            entry.name
            for entry in os.scandir(folder)
            if entry.is_file() and not entry.name.startswith(".")
        )
        return [folder / name for name in names]

    def move(
        self, paths: Iterable[Path], folder: str, reason: dict[str, Any] | None = None
    ) -> None:
        """Move files into ``folder`` (with a reason file each when given), then fsync."""
        target = self.folder(folder)
        sources = set()
        for path in paths:
            if reason is not None:
                write_atomically(target / f"{path.name}{REASON_SUFFIX}", orjson.dumps(reason))
            os.replace(path, target / path.name)
            sources.add(path.parent)
        for directory in (*sources, target):
            fsync_dir(directory)

    def retry(self, names: Iterable[str] = ()) -> list[str]:
        """Move files from ``error/`` back to ``incoming/`` (all when no names given)."""
        error = self.folder("error")
        wanted = list(names) or [
            p.name
            for p in sorted(error.iterdir())
            if not p.name.endswith(REASON_SUFFIX) and not p.name.startswith(".")
        ]
        moved = []
        for name in wanted:
            path = error / Path(name).name
            if not path.is_file():
                raise FileNotFoundError(f"no such file in error/: {name}")
            self.move([path], "incoming")
            (error / f"{path.name}{REASON_SUFFIX}").unlink(missing_ok=True)
            moved.append(path.name)
        return moved

    def held(self, folder: str, limit: int = 1000) -> list[HeldFile]:
        """The first ``limit`` files of ``error/`` or ``broken/`` in name (arrival) order,
        each with its reason; the files :meth:`status` counts."""
        directory = self.folder(folder)
        if not directory.is_dir():
            return []
        entries = sorted(
            (
                entry
                for entry in os.scandir(directory)
                if entry.is_file()
                and not entry.name.startswith(".")
                and not entry.name.endswith(REASON_SUFFIX)
            ),
            key=lambda entry: entry.name,
        )[:limit]
        found = []
        for entry in entries:
            try:
                stat = entry.stat()
            except FileNotFoundError:  # retried or archived meanwhile
                continue
            found.append(
                HeldFile(
                    folder,
                    entry.name,
                    stat.st_size,
                    stat.st_mtime_ns // 1_000_000,
                    _read_reason(directory / f"{entry.name}{REASON_SUFFIX}"),
                )
            )
        return found

    def status(self) -> list[FolderStatus]:
        now = time.time()
        result = []
        for name in FOLDERS:
            folder = self.folder(name)
            ages = [
                now - entry.stat().st_mtime
                for entry in (os.scandir(folder) if folder.is_dir() else ())
                if entry.is_file()
                and not entry.name.startswith(".")
                and not entry.name.endswith(REASON_SUFFIX)
            ]
            result.append(FolderStatus(name, len(ages), max(ages) if ages else None))
        return result


def _read_reason(path: Path) -> dict[str, Any] | None:
    try:
        document = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return document if isinstance(document, dict) else None
