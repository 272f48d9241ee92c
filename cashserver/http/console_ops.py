"""The console's Log, Export and Settings pages (SPEC 12)."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from cashserver.forward.status import upstream_status
from cashserver.http import console_data as data
from cashserver.http.actions import export_backlog
from cashserver.http.context import HttpContext
from cashserver.http.overview_data import backlog_row
from cashserver.http.templates import Pages
from cashserver.log import get_logger
from cashserver.store.overview import not_exported
from cashserver.store.settings import BadSettingKey, Settings

log = get_logger(__name__)


class LogPage:
    def __init__(self, ctx: HttpContext, pages: Pages) -> None:
        self.ctx = ctx
        self.pages = pages

    def routes(self) -> list[BaseRoute]:
        return [Route("/log", self.show, methods=["GET"])]

    def show(self, request: Request) -> Response:
        params = request.query_params
        error, total, page = "", 0, 1
        rows: list[dict[str, Any]] = []
        try:
            page = data.int_param(params, "page", 1, 1, 10**9)
            flt = data.event_filter(params)
            offset = (page - 1) * data.LOG_PAGE_SIZE
            rows, total = data.log_rows(self.ctx, flt, data.LOG_PAGE_SIZE, offset)
        except data.BadQuery as exc:
            error = str(exc)
        pages_count = max(1, -(-total // data.LOG_PAGE_SIZE))
        return self.pages.render(
            request,
            "log.html",
            rows=rows,
            total=total,
            page=page,
            pages_count=pages_count,
            event=params.get("event", ""),
            since=params.get("since", ""),
            until=params.get("until", ""),
            error=error,
        )


class ExportPage:
    def __init__(self, ctx: HttpContext, pages: Pages) -> None:
        self.ctx = ctx
        self.pages = pages

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/export", self.show, methods=["GET"]),
            Route("/export", self.export_now, methods=["POST"]),
        ]

    def show(self, request: Request) -> Response:
        backlog = [backlog_row(s) for s in not_exported(self.ctx.engine)]
        return self.pages.render(request, "export.html", backlog=backlog, result=None)

    async def export_now(self, request: Request) -> Response:
        result = await run_in_threadpool(export_backlog, self.ctx)
        shifts = await run_in_threadpool(not_exported, self.ctx.engine)
        backlog = [backlog_row(s) for s in shifts]
        return self.pages.render(request, "export.html", backlog=backlog, result=result)


class UpstreamPage:
    """The forwarding status of SPEC 15 (the same object as ``GET /api/upstream``)."""

    def __init__(self, ctx: HttpContext, pages: Pages) -> None:
        self.ctx = ctx
        self.pages = pages

    def routes(self) -> list[BaseRoute]:
        return [Route("/upstream", self.show, methods=["GET"])]

    def show(self, request: Request) -> Response:
        status = upstream_status(self.ctx.engine, self.ctx.config)
        return self.pages.render(request, "upstream.html", status=status)


class SettingsPage:
    def __init__(self, ctx: HttpContext, pages: Pages) -> None:
        self.ctx = ctx
        self.pages = pages
        self.settings = Settings(ctx.engine)

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/settings", self.show, methods=["GET"]),
            Route("/settings", self.change, methods=["POST"]),
        ]

    def render(self, request: Request, notice: str = "", error: str = "") -> Response:
        return self.pages.render(
            request,
            "settings.html",
            settings=self.settings.all(),
            notice=notice,
            error=error,
            config=self.ctx.config,
        )

    def show(self, request: Request) -> Response:
        return self.render(request)

    async def change(self, request: Request) -> Response:
        form = await request.form()
        key = str(form.get("key") or "").strip()
        value = form.get("value")
        try:
            if form.get("action") == "unset":
                removed = await run_in_threadpool(self.settings.unset, key)
                if removed:
                    log.info("settings.removed", key=key, via="console")
                notice = f"{key} removed." if removed else f"There is no setting {key}."
            else:
                await run_in_threadpool(self.settings.set, key, str(value or ""))
                log.info("settings.changed", key=key, via="console")
                notice = f"{key} saved."
        except BadSettingKey as exc:
            return self.render(request, error=str(exc))
        return self.render(request, notice=notice)
