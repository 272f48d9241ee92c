"""The operator's pages (SPEC 12): Registers, Shifts, Stores, Departments, Log, Export,
Settings. Server-rendered; every form posts its CSRF token (checked by the guard in
:mod:`cashserver.http.security`), and every action renders its result and logs its event.

One class a page (or a page and its actions), each listing its own routes:
Registers and Stores here, Shifts and Departments in :mod:`.console_shifts`, Log,
Export and Settings in :mod:`.console_ops`, the pull form in :mod:`.pull_form`.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from cashserver.http import console_data as data
from cashserver.http.console_ops import ExportPage, LogPage, SettingsPage, UpstreamPage
from cashserver.http.console_shifts import ShiftPages
from cashserver.http.context import HttpContext
from cashserver.http.format import install_filters
from cashserver.http.pull_form import pull_routes
from cashserver.http.templates import Pages
from cashserver.store.reading import Reader
from cashserver.store.reports import Reports


def routes(ctx: HttpContext, pages: Pages) -> list[BaseRoute]:
    """Every page's routes, with the templates' filters and globals installed."""
    install_filters(pages.templates.env, ctx.config)

    def store_name(code: str) -> str:
        store = ctx.config.stores.get(code)
        return store.name if store and store.name else ""

    pages.templates.env.globals["store_name"] = store_name
    pages.templates.env.globals["max_clock_skew_s"] = ctx.config.registers.max_clock_skew_s
    return [
        *RegistersPage(ctx, pages).routes(),
        *pull_routes(ctx, pages),
        *ShiftPages(ctx, pages).routes(),
        *StoresPage(ctx, pages).routes(),
        *LogPage(ctx, pages).routes(),
        *ExportPage(ctx, pages).routes(),
        *UpstreamPage(ctx, pages).routes(),
        *SettingsPage(ctx, pages).routes(),
    ]


class RegistersPage:
    def __init__(self, ctx: HttpContext, pages: Pages) -> None:
        self.ctx = ctx
        self.pages = pages

    def routes(self) -> list[BaseRoute]:
        return [Route("/registers", self.show, methods=["GET"])]

    def show(self, request: Request) -> Response:
        state = data.text_param(request.query_params, "state")
        skewed = data.flag_param(request.query_params, "skewed")
        rows = data.register_rows(self.ctx, state=state, skewed=skewed)
        return self.pages.render(
            request, "registers.html", rows=rows, pull=None, state=state, skewed=skewed
        )


class StoresPage:
    def __init__(self, ctx: HttpContext, pages: Pages) -> None:
        self.ctx = ctx
        self.pages = pages

    def routes(self) -> list[BaseRoute]:
        return [Route("/stores", self.show, methods=["GET"])]

    def show(self, request: Request) -> Response:
        ctx = self.ctx
        params = request.query_params
        error, rows = "", []
        try:
            store = data.text_param(params, "store")
            date_from, date_to = data.date_param(params, "from"), data.date_param(params, "to")
            if date_from is None and date_to is None and "from" not in params:
                latest = max(
                    (
                        r.last_sale_at
                        for r in Reader(ctx.engine, ctx.config).registers(store)
                        if r.last_sale_at is not None
                    ),
                    default=None,
                )
                date_from, date_to = data.month_of(latest, ctx, store or "")
            rows = data.store_day_rows(ctx, store, date_from, date_to)
        except data.BadQuery as exc:
            error, store, date_from, date_to = str(exc), None, None, None
        return self.pages.render(
            request,
            "stores.html",
            rows=rows,
            store=store or "",
            date_from=date_from,
            date_to=date_to,
            stores=Reports(ctx.engine, ctx.config).store_codes(),
            error=error,
        )
