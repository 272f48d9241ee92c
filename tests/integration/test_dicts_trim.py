"""The dictionary trim (SPEC 13) against a real HTTP settings server on a free port."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from cashserver.config import Config, parse_config
from cashserver.jobs.dicts import REFUSED, SETTING, SKIPPED, TRIMMED, trim_dicts
from tests.fsutil import read_only
from tests.pg import free_port
from tests.settings_server import SettingsServer, fill


def config_for(tmp_path: Path, url: str, **jobs: Any) -> Config:
    return parse_config(
        {
            "server": {"data_dir": str(tmp_path / "data"), "backup_dir": str(tmp_path / "bak")},
            "grpc": {"listen": ""},
            "thrift": {"listen": ""},
            "jobs": {"settings_url": url, **jobs},
        }
    )


def everything_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_a_real_settings_server_names_the_folder_and_it_is_emptied(
    tmp_path: Path, settings_server: SettingsServer
) -> None:
    dicts = tmp_path / "dicts"
    dicts.mkdir()
    fill(dicts)
    settings_server.document = {SETTING: str(dicts), "OTHER": "x"}
    with capture_logs() as logs:
        trim = trim_dicts(config_for(tmp_path, settings_server.url), internal_token=None)
    assert (trim.outcome, trim.files, trim.folders, trim.symlinks) == (TRIMMED, 4, 3, 0)
    assert dicts.is_dir() and list(dicts.iterdir()) == []
    [event] = [e for e in logs if e["event"] == "dicts.trimmed"]
    assert (event["files"], event["folders"], event["symlinks"]) == (4, 3, 0)
    # A settings_url of another server never gets this daemon's internal token.
    assert "Authorization" not in settings_server.seen_headers[0]


def test_a_dry_run_deletes_nothing_and_logs_nothing(
    tmp_path: Path, settings_server: SettingsServer
) -> None:
    dicts = tmp_path / "dicts"
    dicts.mkdir()
    fill(dicts)
    before = everything_under(dicts)
    settings_server.document = {SETTING: str(dicts)}
    with capture_logs() as logs:
        trim = trim_dicts(config_for(tmp_path, settings_server.url), None, dry_run=True)
    assert trim.outcome == TRIMMED and trim.files == 4
    assert sorted(trim.deleted) == before
    assert everything_under(dicts) == before
    assert not [e for e in logs if str(e["event"]).startswith("dicts.")]


def test_a_dead_port_deletes_nothing_and_logs_why(tmp_path: Path) -> None:
    dicts = tmp_path / "dicts"
    dicts.mkdir()
    fill(dicts)
    before = everything_under(dicts)
    url = f"http://127.0.0.1:{free_port()}/api/settings"
    with capture_logs() as logs:
        trim = trim_dicts(config_for(tmp_path, url), None)
    assert trim.outcome == SKIPPED and "did not answer" in trim.reason
    assert everything_under(dicts) == before
    [event] = [e for e in logs if e["event"] == "dicts.trim_skipped"]
    assert event["reason"] == trim.reason


@pytest.mark.parametrize(
    ("status", "document", "reason"),
    [
        (500, {}, "answered HTTP 500"),
        (200, ["not", "an", "object"], "no JSON object"),
        (200, {"OTHER": "x"}, "missing or empty"),
        (200, {SETTING: ""}, "missing or empty"),
        (200, {SETTING: "   "}, "missing or empty"),
    ],
)
def test_an_error_or_an_empty_key_deletes_nothing(
    tmp_path: Path, settings_server: SettingsServer, status: int, document: Any, reason: str
) -> None:
    dicts = tmp_path / "dicts"
    dicts.mkdir()
    fill(dicts)
    before = everything_under(dicts)
    settings_server.status, settings_server.document = status, document
    trim = trim_dicts(config_for(tmp_path, settings_server.url), None)
    assert trim.outcome == SKIPPED and reason in trim.reason
    assert everything_under(dicts) == before


def refused_cases(tmp_path: Path) -> dict[str, tuple[str, dict[str, str]]]:
    """name -> (the setting's value, extra [jobs] keys)."""
    inside_data = tmp_path / "data" / "dicts"
    link_into_data = tmp_path / "link-to-data"
    link_into_data.symlink_to(tmp_path / "data")
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(exist_ok=True)
    return {
        "relative": ("dicts", {}),
        "root": ("/", {}),
        "the data_dir": (str(tmp_path / "data"), {}),
        "inside the data_dir": (str(inside_data), {}),
        "holding the data_dir": (str(tmp_path), {}),
        "inside the backup_dir": (str(tmp_path / "bak" / "x"), {}),
        "a symlink to the data_dir": (str(link_into_data), {}),
        "dotdot into the data_dir": (str(tmp_path / "elsewhere" / ".." / "data"), {}),
        "outside the allowed root": (str(elsewhere), {"dicts_allowed_root": str(allowed)}),
    }


@pytest.mark.parametrize(
    "case",
    [
        "relative",
        "root",
        "the data_dir",
        "inside the data_dir",
        "holding the data_dir",
        "inside the backup_dir",
        "a symlink to the data_dir",
        "dotdot into the data_dir",
        "outside the allowed root",
    ],
)
def test_each_refused_path_deletes_nothing(
    tmp_path: Path, settings_server: SettingsServer, case: str
) -> None:
    for folder in ("data/dicts", "bak/x", "elsewhere"):
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
        (tmp_path / folder / "precious.txt").write_text("keep me")
    value, extra = refused_cases(tmp_path)[case]
    before = everything_under(tmp_path)
    settings_server.document = {SETTING: value}
    with capture_logs() as logs:
        trim = trim_dicts(config_for(tmp_path, settings_server.url, **extra), None)
    assert trim.outcome == REFUSED, trim.reason
    assert everything_under(tmp_path) == before
    [event] = [e for e in logs if e["event"] == "dicts.trim_skipped"]
    assert event["outcome"] == REFUSED


def test_a_symlink_inside_is_removed_and_what_it_points_to_stays(
    tmp_path: Path, settings_server: SettingsServer
) -> None:
    outside = tmp_path / "outside"
    (outside / "nested").mkdir(parents=True)
    (outside / "nested" / "precious.txt").write_text("keep me")
    dicts = tmp_path / "dicts"
    (dicts / "sub").mkdir(parents=True)
    (dicts / "to-folder").symlink_to(outside)
    (dicts / "sub" / "to-file").symlink_to(outside / "nested" / "precious.txt")
    (dicts / "dangling").symlink_to(tmp_path / "nowhere")
    settings_server.document = {SETTING: str(dicts)}
    trim = trim_dicts(config_for(tmp_path, settings_server.url), None)
    assert (trim.outcome, trim.symlinks, trim.folders, trim.files) == (TRIMMED, 3, 1, 0)
    assert list(dicts.iterdir()) == []
    assert (outside / "nested" / "precious.txt").read_text() == "keep me"


def test_the_named_folder_may_be_a_symlink_within_the_allowed_root(
    tmp_path: Path, settings_server: SettingsServer
) -> None:
    real = tmp_path / "allowed" / "dicts"
    real.mkdir(parents=True)
    fill(real)
    link = tmp_path / "dicts-link"
    link.symlink_to(real)
    settings_server.document = {SETTING: str(link)}
    config = config_for(tmp_path, settings_server.url, dicts_allowed_root=str(tmp_path / "allowed"))
    trim = trim_dicts(config, None)
    assert trim.outcome == TRIMMED
    assert link.is_symlink() and real.is_dir() and list(real.iterdir()) == []


def test_a_missing_folder_is_skipped(tmp_path: Path, settings_server: SettingsServer) -> None:
    settings_server.document = {SETTING: str(tmp_path / "not-there")}
    trim = trim_dicts(config_for(tmp_path, settings_server.url), None)
    assert trim.outcome == SKIPPED
    assert not (tmp_path / "not-there").exists()


def test_without_http_and_settings_url_the_trim_is_skipped(tmp_path: Path) -> None:
    config = parse_config({"server": {"data_dir": str(tmp_path)}, "http": {"listen": ""}})
    trim = trim_dicts(config, None)
    assert trim.outcome == SKIPPED and "http.listen is empty" in trim.reason


def test_an_entry_that_will_not_go_is_reported_and_the_rest_goes(
    tmp_path: Path, settings_server: SettingsServer
) -> None:
    dicts = tmp_path / "dicts"
    (dicts / "locked").mkdir(parents=True)
    (dicts / "locked" / "f").write_text("x")
    (dicts / "free.txt").write_text("x")
    settings_server.document = {SETTING: str(dicts)}
    with read_only(dicts / "locked"):
        trim = trim_dicts(config_for(tmp_path, settings_server.url), None)
    assert trim.outcome == TRIMMED
    assert trim.errors and all(e.startswith("locked") for e in trim.errors)
    assert not (dicts / "free.txt").exists()
    assert (dicts / "locked" / "f").exists()
