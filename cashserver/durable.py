"""Durable files: written whole or not at all, and still there after a power cut."""

from __future__ import annotations

import os
from pathlib import Path

TEMP_PREFIX = ".tmp-"
"""Files being written; a folder's owner removes leftovers of a crash at start."""


def fsync_dir(path: Path) -> None:
    """Make the entries of folder ``path`` (a rename, a new file) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader sees all of it or nothing.

    Temp file in the same folder, fsync, rename, fsync of the folder. On failure the
    temp file is removed and the error raised.
    """
    temp = path.with_name(f"{TEMP_PREFIX}{path.name}")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(temp, path)
        fsync_dir(path.parent)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
