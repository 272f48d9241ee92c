"""Login and CSRF for the admin HTTP app, as one ASGI middleware.

- With ``[http] password_hash`` set, every path except :data:`PUBLIC_PATHS` needs a
  logged-in session: pages redirect to ``/login``, ``/api/`` answers 401 JSON.
  ``GET /api/settings`` also takes the daemon's internal bearer token, so the
  dictionary trim can read it without a login.
- Every request that is not GET, HEAD or OPTIONS must carry the session's CSRF
  token, logged in or not (the login form too): a ``csrf_token`` form field or an
  ``X-CSRF-Token`` header. The token is made on a session's first request and
  sent back in every response's ``X-CSRF-Token`` header, for API clients.
- The session is a signed cookie (Starlette's SessionMiddleware, itsdangerous);
  it holds the CSRF token, a fingerprint of the password hash (changing the
  password ends every session) and the login time (sessions last
  ``session_hours``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import MutableMapping
from typing import Any

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cashserver.http.context import HttpContext

PROBE_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
"""Public, and sessionless: monitoring gets no cookie and no CSRF token."""
PUBLIC_PATHS = PROBE_PATHS | {"/login"}
PUBLIC_PREFIXES = ("/static/",)
INTERNAL_PATHS = frozenset({"/api/settings"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_FORM_BYTES = 1024 * 1024
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


def password_fingerprint(ctx: HttpContext) -> str:
    digest = hmac.new(
        ctx.session_secret.encode(), ctx.config.http.password_hash.encode(), hashlib.sha256
    )
    return digest.hexdigest()[:32]


def csrf_token(session: MutableMapping[str, Any]) -> str:
    """The session's CSRF token, made on first use."""
    token = session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def logged_in(ctx: HttpContext, session: MutableMapping[str, Any]) -> bool:
    """True when no password is set, or the session logged in with the current one."""
    if not ctx.config.http.password_hash:
        return True
    at = session.get("login_at")
    return (
        session.get("auth") == password_fingerprint(ctx)
        and isinstance(at, int | float)
        and time.time() - at < ctx.config.http.session_hours * 3600
    )


def log_in(ctx: HttpContext, session: MutableMapping[str, Any]) -> None:
    session["auth"] = password_fingerprint(ctx)
    session["login_at"] = int(time.time())
    session["csrf"] = secrets.token_urlsafe(32)  # a new token at each login


def log_out(session: MutableMapping[str, Any]) -> None:
    session.clear()


class AccessGuard:
    """Sits inside the session middleware, in front of every route."""

    def __init__(self, app: ASGIApp, ctx: HttpContext) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        method: str = scope["method"]
        if (path in PROBE_PATHS or path.startswith(PUBLIC_PREFIXES)) and method in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        session = scope["session"]
        token = csrf_token(session)
        headers = Headers(scope=scope)
        if not self._allowed(path, method, session, headers):
            await self._refuse_login(path, scope)(scope, receive, send)
            return
        if method not in SAFE_METHODS:
            sent, receive = await self._sent_token(scope, receive, headers)
            if sent is None or not hmac.compare_digest(sent, token):
                response = JSONResponse({"error": "missing or wrong CSRF token"}, 403)
                await response(scope, receive, send)
                return

        async def send_with_token(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"].append((b"x-csrf-token", csrf_token(session).encode()))
            await send(message)

        await self.app(scope, receive, send_with_token)

    def _allowed(
        self, path: str, method: str, session: MutableMapping[str, Any], headers: Headers
    ) -> bool:
        if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
            return True
        if logged_in(self.ctx, session):
            return True
        if path in INTERNAL_PATHS and method in SAFE_METHODS:
            bearer = headers.get("authorization", "")
            expected = f"Bearer {self.ctx.internal_token}"
            return hmac.compare_digest(bearer.encode(), expected.encode())
        return False

    @staticmethod
    def _refuse_login(path: str, scope: Scope) -> Response:
        if path.startswith("/api/") or scope["method"] not in SAFE_METHODS:
            return JSONResponse({"error": "login required"}, 401)
        return RedirectResponse(f"/login?next={path}", 303)

    @staticmethod
    async def _sent_token(
        scope: Scope, receive: Receive, headers: Headers
    ) -> tuple[str | None, Receive]:
        """The CSRF token the request carries, and a ``receive`` that replays its body."""
        if CSRF_HEADER in headers:
            return headers[CSRF_HEADER], receive
        kind = headers.get("content-type", "")
        if not kind.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            return None, receive
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return None, receive
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_FORM_BYTES:
                return None, receive
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)

        def replay() -> Receive:
            sent = False

            async def again() -> Message:
                nonlocal sent
                if sent:
                    return await receive()
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}

            return again

        form = await Request(scope, replay()).form()
        value = form.get(CSRF_FIELD)
        return (value if isinstance(value, str) else None), replay()
