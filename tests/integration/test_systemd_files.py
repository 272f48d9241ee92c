"""The shipped systemd unit, sysusers and tmpfiles files agree with the shipped
configuration, and systemd's own tools accept them (where they are installed)."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from cashserver.config import load_config

SYSTEMD = Path(__file__).resolve().parents[2] / "systemd"


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment, method-assign]
    parser.read(SYSTEMD / "cashserver.service")
    return parser


def writable_paths() -> list[str]:
    return unit()["Service"]["ReadWritePaths"].split()


def tmpfiles_dirs() -> dict[str, str]:
    """Path -> owner of each ``d`` line."""
    found = {}
    for line in (SYSTEMD / "cashserver.tmpfiles").read_text().splitlines():
        fields = line.split()
        if fields and fields[0] == "d":
            found[fields[1]] = fields[3]
    return found


def folders_the_config_writes() -> dict[str, Path]:
    config = load_config(SYSTEMD / "cashserver.toml", {})
    folders = {
        "data_dir": config.data_dir,
        "backup_dir": config.backup_dir,
        "outbox_dir": config.outbox_dir,
        "dicts_allowed_root": Path(config.jobs.dicts_allowed_root),
    }
    database = make_url(config.database_url).database
    if database:
        folders["the SQLite database"] = Path(database).parent
    return folders


def test_every_configured_folder_is_writable_under_protect_system_strict() -> None:
    assert unit()["Service"]["ProtectSystem"] == "strict"
    writable = writable_paths()
    for name, folder in folders_the_config_writes().items():
        assert any(folder.is_relative_to(p) for p in writable), (name, folder, writable)


def test_tmpfiles_makes_every_writable_folder_for_the_units_user() -> None:
    service = unit()["Service"]
    made = tmpfiles_dirs()
    for path in writable_paths():
        assert made.get(path) == service["User"], path
    sysusers = (SYSTEMD / "cashserver.sysusers").read_text().split("\n")
    users = [line.split()[1] for line in sysusers if line.startswith("u ")]
    assert users == [service["User"]]


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed here")
    return path


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    analyze = tool("systemd-analyze")
    # The unit names the installed entry point; point it at this interpreter's instead.
    executable = Path(sys.executable).with_name("cashserver")
    if not executable.exists():
        executable = Path(sys.executable)
    text = (SYSTEMD / "cashserver.service").read_text()
    text = text.replace("/opt/cashserver/venv/bin/cashserver", str(executable))
    copy = tmp_path / "cashserver.service"
    copy.write_text(text)
    result = subprocess.run(
        [analyze, "verify", str(copy)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    complaints = [line for line in result.stderr.splitlines() if str(copy) in line]
    assert complaints == [], result.stderr


def test_sysusers_and_tmpfiles_apply_to_a_scratch_root(tmp_path: Path) -> None:
    sysusers, tmpfiles = tool("systemd-sysusers"), tool("systemd-tmpfiles")
    if os.getuid() != 0:
        pytest.skip("systemd-tmpfiles --root chowns to the daemon's user: needs root")
    (tmp_path / "etc").mkdir()
    subprocess.run(
        [sysusers, f"--root={tmp_path}", str(SYSTEMD / "cashserver.sysusers")],
        check=True,
        capture_output=True,
    )
    passwd = (tmp_path / "etc" / "passwd").read_text()
    entry = next(line for line in passwd.splitlines() if line.startswith("cashserver:"))
    uid = int(entry.split(":")[2])
    result = subprocess.run(
        [tmpfiles, f"--root={tmp_path}", "--create", str(SYSTEMD / "cashserver.tmpfiles")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    for path, owner in tmpfiles_dirs().items():
        made = tmp_path / path.lstrip("/")
        assert made.is_dir(), path
        if owner == "cashserver":
            assert made.stat().st_uid == uid, path
