"""Settings (SPEC 13): the table on both backends, the CLI, and /api/settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine

from cashserver.config import parse_config
from cashserver.store.settings import BadSettingKey, Settings
from tests.e2e.daemon import run_cli
from tests.integration.http_client import client_for, log_in, make_config

KEY = "SEND_DICTS_ON_CASHES_BY_URL_LOCAL_DIRECTORY"


def test_settings_set_get_replace_unset(engine: Engine) -> None:
    settings = Settings(engine)
    assert settings.all() == {}
    settings.set(KEY, "/srv/dicts")
    settings.set("b.other", "x")
    settings.set(KEY, "/srv/dicts2")
    assert settings.all() == {KEY: "/srv/dicts2", "b.other": "x"}
    assert settings.get(KEY) == "/srv/dicts2"
    assert settings.unset(KEY) is True
    assert settings.unset(KEY) is False
    assert settings.get(KEY) is None
    with pytest.raises(BadSettingKey):
        settings.set("with space", "x")


def test_the_settings_commands(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(f'[server]\ndata_dir = "{tmp_path / "data"}"\n')
    assert run_cli("settings", "list", config=config).stdout.strip() == "(no settings)"
    assert run_cli("settings", "set", KEY, "/tmp/d", config=config).returncode == 0
    assert run_cli("settings", "get", KEY, config=config).stdout == "/tmp/d\n"
    listed = json.loads(run_cli("settings", "list", "--json", config=config).stdout)
    assert listed == {KEY: "/tmp/d"}
    assert run_cli("settings", "unset", KEY, config=config).returncode == 0
    assert run_cli("settings", "get", KEY, config=config, check=False).returncode == 1
    assert run_cli("settings", "unset", KEY, config=config, check=False).returncode == 1
    assert run_cli("settings", "get", "bad key", config=config, check=False).returncode == 2
    events = [e["event"] for e in json.loads(run_cli("log", "--json", config=config).stdout)]
    assert events == ["settings.changed", "settings.removed"]


def test_the_settings_api(tmp_path: Path, sqlite_engine: Engine) -> None:
    client = client_for(make_config(tmp_path), sqlite_engine)
    assert client.get("/api/settings").status_code == 401
    token = log_in(client)
    headers = {"X-CSRF-Token": token}
    reply = client.put(f"/api/settings/{KEY}", json={"value": "/srv/d"}, headers=headers)
    assert reply.status_code == 200 and reply.json() == {"key": KEY, "value": "/srv/d"}
    assert client.put("/api/settings/x", json={"value": "1"}).status_code == 403  # no token
    assert client.put("/api/settings/x", json={"value": 1}, headers=headers).status_code == 400
    form = client.put("/api/settings/y", data={"value": "2", "csrf_token": token})
    assert form.status_code == 200
    assert client.get("/api/settings").json() == {KEY: "/srv/d", "y": "2"}
    assert client.delete("/api/settings/y", headers=headers).status_code == 200
    assert client.delete("/api/settings/y", headers=headers).status_code == 404
    assert Settings(sqlite_engine).all() == {KEY: "/srv/d"}


def test_the_daemon_reads_its_settings_with_the_internal_token(
    tmp_path: Path, sqlite_engine: Engine
) -> None:
    client = client_for(make_config(tmp_path), sqlite_engine)
    Settings(sqlite_engine).set(KEY, "/srv/d")
    secret = (tmp_path / "data" / "http-session.key").read_text().strip()
    from cashserver.http.context import internal_token

    bearer = {"Authorization": f"Bearer {internal_token(secret)}"}
    assert client.get("/api/settings", headers=bearer).json() == {KEY: "/srv/d"}
    assert client.get("/api/settings", headers={"Authorization": "Bearer x"}).status_code == 401
    assert client.get("/", headers=bearer).status_code == 303  # only the settings read
    put = client.put(f"/api/settings/{KEY}", json={"value": "/"}, headers=bearer)
    assert put.status_code == 401
    assert parse_config({}).http.listen == "127.0.0.1:10003"
