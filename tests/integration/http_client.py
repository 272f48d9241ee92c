"""The console behind a password, reached through Starlette's test client."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import Engine
from starlette.testclient import TestClient

from cashserver.config import Config, parse_config
from cashserver.http.app import create_app
from cashserver.http.context import HttpContext, session_secret
from cashserver.http.passwords import hash_password

PASSWORD = "correct horse battery staple"


HASH = hash_password(PASSWORD)


def make_config(tmp_path: Path, password_hash: str = HASH, listen: str = "") -> Config:
    return parse_config(
        {
            "server": {"data_dir": str(tmp_path / "data")},
            "grpc": {"listen": ""},
            "thrift": {"listen": ""},
            "http": {"listen": listen or "127.0.0.1:0", "password_hash": password_hash},
        }
    )


def client_for(config: Config, engine: Engine) -> TestClient:
    secret = session_secret(config.data_dir)
    assert secret is not None
    app = create_app(HttpContext(config, engine, secret))
    return TestClient(app, base_url="http://127.0.0.1", follow_redirects=False)


def form_token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


def log_in(client: TestClient) -> str:
    token = form_token(client.get("/login").text)
    reply = client.post("/login", data={"password": PASSWORD, "csrf_token": token, "next": "/"})
    assert reply.status_code == 303, reply.text
    return reply.headers["x-csrf-token"]
