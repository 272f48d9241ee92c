"""Rendering pages: the Jinja2 templates under ``templates/`` and what every page gets.

Every template extends ``base.html`` and is given, besides its own values, the
session's ``csrf_token`` (every form posts it as a hidden ``csrf_token`` field),
``logged_in``, ``password_required`` and the navigation ``nav``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from cashserver.http.context import HttpContext
from cashserver.http.security import csrf_token, logged_in

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"


@dataclass(frozen=True)
class NavItem:
    title: str
    href: str


NAV: tuple[NavItem, ...] = (
    NavItem("Overview", "/"),
    NavItem("Registers", "/registers"),
    NavItem("Shifts", "/shifts"),
    NavItem("Stores", "/stores"),
    NavItem("Spool", "/spool"),
    NavItem("Log", "/log"),
    NavItem("Export", "/export"),
    NavItem("Upstream", "/upstream"),
    NavItem("Settings", "/settings"),
)
"""The console's pages, in menu order; a new page adds itself here."""


class Pages:
    """The template environment of one app."""

    def __init__(self, ctx: HttpContext) -> None:
        self.ctx = ctx
        self.templates = Jinja2Templates(
            directory=str(TEMPLATES_DIR), context_processors=[self._common]
        )

    def _common(self, request: Request) -> dict[str, Any]:
        return {
            "csrf_token": csrf_token(request.session),
            "logged_in": logged_in(self.ctx, request.session),
            "password_required": bool(self.ctx.config.http.password_hash),
            "nav": NAV,
        }

    def render(
        self, request: Request, name: str, status_code: int = 200, **context: Any
    ) -> Response:
        return self.templates.TemplateResponse(request, name, context, status_code=status_code)
