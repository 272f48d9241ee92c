"""The admin HTTP app's login and CSRF rules, through Starlette's test client."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import Engine
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from cashserver.http.context import internal_token, session_secret
from cashserver.http.passwords import hash_password, verify_password
from cashserver.http.security import PROBE_PATHS
from cashserver.http.server import open_listen_refusal
from tests.integration.http_client import (
    HASH,
    PASSWORD,
    client_for,
    form_token,
    log_in,
    make_config,
)


def every_protected_route(client: TestClient) -> list[tuple[str, str]]:
    """(method, path) of every route the app has, less the public ones."""
    found = []
    for route in client.app.routes:  # type: ignore[attr-defined]
        if isinstance(route, Mount):
            continue
        assert isinstance(route, Route)
        path = re.sub(r"\{[^}]+\}", "1", route.path)
        if path in PROBE_PATHS or path == "/login":
            continue
        for method in sorted(route.methods or ()):
            if method != "HEAD":
                found.append((method, path))
    return found


def test_passwords_hash_with_a_salt_and_verify() -> None:
    assert HASH.startswith("scrypt$")
    assert hash_password(PASSWORD) != HASH
    assert verify_password(PASSWORD, HASH)
    assert not verify_password("wrong", HASH)
    assert not verify_password(PASSWORD, "scrypt$garbage")
    pbkdf2 = "pbkdf2_sha256$1000$c2FsdA$" + (
        __import__("base64")
        .urlsafe_b64encode(__import__("hashlib").pbkdf2_hmac("sha256", b"pw", b"salt", 1000))
        .decode()
        .rstrip("=")
    )
    assert verify_password("pw", pbkdf2)


def test_every_non_health_endpoint_needs_the_session(tmp_path: Path, sqlite_engine: Engine) -> None:
    client = client_for(make_config(tmp_path), sqlite_engine)
    protected = every_protected_route(client)
    assert ("GET", "/") in protected and ("POST", "/logout") in protected
    for method, path in protected:
        reply = client.request(method, path)
        assert reply.status_code in (303, 401), (method, path, reply.status_code)
        if reply.status_code == 303:
            assert reply.headers["location"].startswith("/login")
    for path in sorted(PROBE_PATHS):
        assert client.get(path).status_code == 200, path
        assert "set-cookie" not in client.get(path).headers

    log_in(client)
    assert client.get("/").status_code == 200
    for method, path in protected:
        if method == "GET":
            assert client.get(path).status_code not in (303, 401), path


def test_a_post_without_the_csrf_token_is_refused(tmp_path: Path, sqlite_engine: Engine) -> None:
    client = client_for(make_config(tmp_path), sqlite_engine)
    client.get("/login")
    refused = client.post("/login", data={"password": PASSWORD})
    assert refused.status_code == 403
    assert client.get("/").status_code == 303  # not logged in
    token = log_in(client)
    for method, path in every_protected_route(client):
        if method == "GET":
            continue
        reply = client.request(method, path)
        assert reply.status_code == 403, (method, path)
        reply = client.request(method, path, headers={"X-CSRF-Token": "not-" + token})
        assert reply.status_code == 403, (method, path)
    # The logout form with its token works; the session is over afterwards.
    assert client.post("/logout", data={"csrf_token": token}).status_code == 303
    assert client.get("/").status_code == 303


def test_a_wrong_password_is_refused_and_a_new_hash_ends_sessions(
    tmp_path: Path, sqlite_engine: Engine
) -> None:
    client = client_for(make_config(tmp_path), sqlite_engine)
    token = form_token(client.get("/login").text)
    wrong = client.post("/login", data={"password": "nope", "csrf_token": token})
    assert wrong.status_code == 401
    log_in(client)
    cookies = dict(client.cookies)
    other = client_for(make_config(tmp_path, hash_password("another")), sqlite_engine)
    other.cookies.update(cookies)
    assert other.get("/").status_code == 303


def test_login_redirects_only_within_the_site(tmp_path: Path, sqlite_engine: Engine) -> None:
    client = client_for(make_config(tmp_path), sqlite_engine)
    token = form_token(client.get("/login").text)
    reply = client.post(
        "/login", data={"password": PASSWORD, "csrf_token": token, "next": "//evil.example/"}
    )
    assert reply.headers["location"] == "/"


def test_without_a_hash_everything_is_open_but_posts_still_need_the_token(
    tmp_path: Path, sqlite_engine: Engine
) -> None:
    client = client_for(make_config(tmp_path, password_hash=""), sqlite_engine)
    assert client.get("/").status_code == 200
    assert client.post("/logout").status_code == 403


def test_the_internal_token_is_the_one_derived_from_the_data_folders_secret(
    tmp_path: Path,
) -> None:
    config = make_config(tmp_path)
    secret = session_secret(config.data_dir)
    assert secret is not None
    assert session_secret(config.data_dir, create=False) == secret
    assert (config.data_dir / "http-session.key").stat().st_mode & 0o077 == 0
    assert internal_token(secret) != internal_token(secret + "x")
    assert session_secret(tmp_path / "elsewhere", create=False) is None


@pytest.mark.parametrize(
    ("listen", "password_hash", "refused"),
    [
        ("127.0.0.1:10003", "", False),
        ("[::1]:10003", "", False),
        ("localhost:10003", "", False),
        ("0.0.0.0:10003", "", True),
        ("192.0.2.10:10003", "", True),
        ("0.0.0.0:10003", HASH, False),
    ],
    ids=["v4 loopback", "v6 loopback", "localhost", "any", "remote", "any with a password"],
)
def test_only_loopback_without_a_password(
    tmp_path: Path, listen: str, password_hash: str, refused: bool
) -> None:
    config = make_config(tmp_path, password_hash, listen)
    problem = open_listen_refusal(config)
    assert (problem is not None) is refused
    if problem:
        assert "\n" not in problem and "http.listen" in problem
