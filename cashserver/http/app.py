"""The admin HTTP app (SPEC section 12): Starlette, served by uvicorn inside ``serve``.

``create_app`` puts together the routes of every room of the console and the API
(each module has a ``routes(...)`` function), behind the session cookie and the
login/CSRF guard of :mod:`cashserver.http.security`. A new page or API module adds
its ``routes`` here and, for a page, a :data:`~cashserver.http.templates.NAV` item.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from cashserver.http import (
    api_console,
    api_settings,
    console,
    health,
    overview,
    pages,
    spool_page,
)
from cashserver.http.context import HttpContext
from cashserver.http.security import AccessGuard
from cashserver.http.templates import STATIC_DIR, Pages

SESSION_COOKIE = "cashserver_session"


def create_app(ctx: HttpContext) -> Starlette:
    templates = Pages(ctx)
    routes: list[BaseRoute] = [
        *health.routes(ctx),
        *pages.routes(ctx, templates),
        *overview.routes(ctx, templates),
        *spool_page.routes(ctx, templates),
        *api_settings.routes(ctx),
        *console.routes(ctx, templates),
        *api_console.routes(ctx),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    return Starlette(
        routes=routes,
        middleware=[
            Middleware(
                SessionMiddleware,
                secret_key=ctx.session_secret,
                session_cookie=SESSION_COOKIE,
                max_age=int(ctx.config.http.session_hours * 3600),
                same_site="lax",
            ),
            Middleware(AccessGuard, ctx=ctx),
        ],
    )
