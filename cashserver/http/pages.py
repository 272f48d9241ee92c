"""The console's own pages: logging in and out."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from cashserver.http.context import HttpContext
from cashserver.http.passwords import verify_password
from cashserver.http.security import log_in, log_out
from cashserver.http.templates import Pages
from cashserver.log import get_logger

log = get_logger(__name__)


def _local_target(target: str) -> str:
    """Only a path on this site is a place to go after login (no open redirect)."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def routes(ctx: HttpContext, pages: Pages) -> list[BaseRoute]:
    def login_form(request: Request) -> Response:
        target = _local_target(request.query_params.get("next", "/"))
        return pages.render(request, "login.html", next=target, error="")

    async def login(request: Request) -> Response:
        form = await request.form()
        password = form.get("password")
        target = _local_target(str(form.get("next") or "/"))
        stored = ctx.config.http.password_hash
        if not stored:
            return RedirectResponse(target, 303)
        ok = isinstance(password, str) and verify_password(password, stored)
        if not ok:
            log.warning("http.login_failed", client=request.client.host if request.client else "")
            return pages.render(
                request, "login.html", status_code=401, next=target, error="Wrong password."
            )
        log_in(ctx, request.session)
        log.info("http.login", client=request.client.host if request.client else "")
        return RedirectResponse(target, 303)

    def logout(request: Request) -> Response:
        log_out(request.session)
        return RedirectResponse("/login", 303)

    return [
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
    ]
