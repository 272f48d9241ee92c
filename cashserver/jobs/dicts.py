"""The dictionary trim (SPEC 13): empty the folder the registers' dictionaries go to.

The folder is the setting ``SEND_DICTS_ON_CASHES_BY_URL_LOCAL_DIRECTORY``, read
over REST from ``[jobs] settings_url`` (by default this daemon's own
``/api/settings``, read with the daemon's internal token). Everything inside the
folder goes, the folder itself stays. Nothing is deleted, and the trim is
*skipped*, when the URL does not answer, answers an error or no JSON object, or
the key is missing or empty; it is *refused* for a path that is relative, is
``/``, holds or lies inside the data_dir, the backup_dir or the outbox, or lies
outside ``dicts_allowed_root``. The named folder may itself be a symlink: the
rules compare resolved paths.

Deleting never follows a symlink: the walk goes through directory file
descriptors opened with ``O_NOFOLLOW`` and removes entries relative to them
(``unlinkat``), so a symlink inside is removed as a link, and a folder swapped for
a symlink while the trim runs is not entered.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from cashserver.config import Config
from cashserver.log import get_logger

log = get_logger(__name__)

SETTING = "SEND_DICTS_ON_CASHES_BY_URL_LOCAL_DIRECTORY"
FETCH_TIMEOUT_S = 10.0

TRIMMED, SKIPPED, REFUSED = "trimmed", "skipped", "refused"


@dataclass
class DictsTrim:
    """What a trim did (or, with ``dry_run``, would do)."""

    outcome: str
    """``trimmed``, ``skipped`` or ``refused``."""
    reason: str = ""
    directory: str = ""
    files: int = 0
    folders: int = 0
    symlinks: int = 0
    errors: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    """Paths inside the folder, relative to it, in the order they went."""
    dry_run: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "reason": self.reason or None,
            "directory": self.directory or None,
            "files": self.files,
            "folders": self.folders,
            "symlinks": self.symlinks,
            "errors": self.errors,
            "deleted": self.deleted,
            "dry_run": self.dry_run,
        }


class NotTrimmed(Exception):
    """The trim stops here; ``outcome`` is ``skipped`` or ``refused``."""

    def __init__(self, outcome: str, reason: str) -> None:
        super().__init__(reason)
        self.outcome = outcome
        self.reason = reason


# -- where the setting comes from -------------------------------------------------


def settings_source(config: Config, internal_token: str | None) -> tuple[str, dict[str, str]]:
    """The URL to read and its headers; the internal token goes to this daemon only."""
    from cashserver.http.server import local_url

    if config.jobs.settings_url:
        return config.jobs.settings_url, {}
    if not config.http.listen:
        raise NotTrimmed(SKIPPED, "no jobs.settings_url and http.listen is empty")
    headers = {"Authorization": f"Bearer {internal_token}"} if internal_token else {}
    return local_url(config.http.listen) + "/api/settings", headers


def fetch_directory(url: str, headers: dict[str, str], timeout_s: float = FETCH_TIMEOUT_S) -> str:
    """The setting's value from ``url``; raises :class:`NotTrimmed` (skipped)."""
    request = urllib.request.Request(url, headers={"Accept": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as reply:
            body = reply.read(1024 * 1024)
    except urllib.error.HTTPError as exc:
        raise NotTrimmed(SKIPPED, f"{url} answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise NotTrimmed(SKIPPED, f"{url} did not answer: {reason}") from None
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise NotTrimmed(SKIPPED, f"{url} answered no JSON") from None
    if not isinstance(document, dict):
        raise NotTrimmed(SKIPPED, f"{url} answered no JSON object")
    value = document.get(SETTING)
    if not isinstance(value, str) or not value.strip():
        raise NotTrimmed(SKIPPED, f"{SETTING} is missing or empty")
    return value.strip()


# -- which folders are never trimmed ----------------------------------------------


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def check_directory(directory: str, config: Config) -> str:
    """The resolved folder to empty; raises :class:`NotTrimmed` (refused or skipped)."""
    if not os.path.isabs(directory):
        raise NotTrimmed(REFUSED, f"{directory!r} is a relative path")
    resolved = os.path.realpath(directory)
    if resolved == "/":
        raise NotTrimmed(REFUSED, f"{directory!r} is /")
    protected = {
        "data_dir": config.data_dir,
        "backup_dir": config.backup_dir,
        "outbox": config.outbox_dir,
    }
    for name, folder in protected.items():
        kept = os.path.realpath(folder)
        if _inside(kept, resolved):
            raise NotTrimmed(REFUSED, f"{directory!r} holds the {name} {kept}")
        if _inside(resolved, kept):
            raise NotTrimmed(REFUSED, f"{directory!r} lies inside the {name} {kept}")
    root = config.jobs.dicts_allowed_root
    if root and not _inside(resolved, os.path.realpath(root)):
        raise NotTrimmed(REFUSED, f"{directory!r} lies outside dicts_allowed_root {root}")
    if not os.path.isdir(resolved):
        raise NotTrimmed(SKIPPED, f"{directory!r} is not a folder")
    return resolved


# -- emptying it ------------------------------------------------------------------

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _empty(dir_fd: int, prefix: str, trim: DictsTrim) -> None:
    with os.scandir(dir_fd) as scan:
        entries = sorted(scan, key=lambda e: e.name)
    for entry in entries:
        relative = prefix + entry.name
        try:
            if entry.is_dir(follow_symlinks=False):
                fd = os.open(entry.name, _DIR_FLAGS, dir_fd=dir_fd)
                try:
                    _empty(fd, relative + "/", trim)
                finally:
                    os.close(fd)
                if not trim.dry_run:
                    os.rmdir(entry.name, dir_fd=dir_fd)
                trim.folders += 1
            else:
                if not trim.dry_run:
                    os.unlink(entry.name, dir_fd=dir_fd)
                if entry.is_symlink():
                    trim.symlinks += 1
                else:
                    trim.files += 1
            trim.deleted.append(relative)
        except OSError as exc:  # one entry that will not go does not stop the others
            trim.errors.append(f"{relative}: {exc.strerror}")


def empty_directory(resolved: str, trim: DictsTrim) -> None:
    fd = os.open(resolved, _DIR_FLAGS)
    try:
        _empty(fd, "", trim)
    finally:
        os.close(fd)


# -- the job ----------------------------------------------------------------------


def trim_dicts(config: Config, internal_token: str | None, dry_run: bool = False) -> DictsTrim:
    """Read the setting, check the folder, empty it; logs ``dicts.trimmed`` or
    ``dicts.trim_skipped`` (nothing with ``dry_run``, which deletes nothing)."""
    trim = DictsTrim(TRIMMED, dry_run=dry_run)
    try:
        url, headers = settings_source(config, internal_token)
        trim.directory = fetch_directory(url, headers)
        resolved = check_directory(trim.directory, config)
    except NotTrimmed as exc:
        trim.outcome, trim.reason = exc.outcome, exc.reason
        if not dry_run:
            log.warning(
                "dicts.trim_skipped",
                outcome=trim.outcome,
                reason=trim.reason,
                directory=trim.directory or None,
            )
        return trim
    empty_directory(resolved, trim)
    if not dry_run:
        log.info(
            "dicts.trimmed",
            directory=trim.directory,
            files=trim.files,
            folders=trim.folders,
            symlinks=trim.symlinks,
            errors=len(trim.errors),
        )
    return trim


def daemon_token(data_dir: Path) -> str | None:
    """The internal token for this data folder's daemon, if it has made its secret."""
    from cashserver.http.context import internal_token, session_secret

    secret = session_secret(data_dir, create=False)
    return internal_token(secret) if secret else None
