"""The operator's pages (SPEC 12): Registers, Shifts, Stores, Departments, Log, Export,
Settings. Server-rendered; every form posts its CSRF token (checked by the guard in
:mod:`cashserver.http.security`), and every action renders its result and logs its event.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from cashserver.http import console_data as data
from cashserver.http.actions import export_backlog, reexport
from cashserver.http.context import HttpContext
from cashserver.http.format import install_filters
from cashserver.http.overview_data import backlog_row
from cashserver.http.pull_form import pull_routes
from cashserver.http.templates import Pages
from cashserver.log import get_logger
from cashserver.reports import Reports
from cashserver.store.overview import not_exported
from cashserver.store.reading import Reader, ShiftFilter
from cashserver.store.settings import BadSettingKey, Settings

log = get_logger(__name__)
SHIFTS_SHOWN = 1000


def _ids(form: FormData) -> list[int]:
    return [int(v) for v in form.getlist("workshift_id") if isinstance(v, str) and v.isdigit()]


def routes(ctx: HttpContext, pages: Pages) -> list[BaseRoute]:
    install_filters(pages.templates.env, ctx.config)

    def store_name(code: str) -> str:
        store = ctx.config.stores.get(code)
        return store.name if store and store.name else ""

    pages.templates.env.globals["store_name"] = store_name
    pages.templates.env.globals["max_clock_skew_s"] = ctx.config.registers.max_clock_skew_s

    def registers(request: Request) -> Response:
        state = data.text_param(request.query_params, "state")
        skewed = data.flag_param(request.query_params, "skewed")
        rows = data.register_rows(ctx, state=state, skewed=skewed)
        return pages.render(
            request, "registers.html", rows=rows, pull=None, state=state, skewed=skewed
        )

    def shifts_context(request: Request, params: dict[str, str]) -> dict[str, Any]:
        error = ""
        try:
            flt = data.shift_filter(params)
        except data.BadQuery as exc:
            error, flt = str(exc), ShiftFilter()
        chosen = [
            r
            for r in Reader(ctx.engine, ctx.config).registers(flt.store_code)
            if r.register_code == flt.register_code
        ]
        undated = flt.date_from is None and flt.date_to is None and flt.sales_date is None
        if chosen and undated and "from" not in params:
            # A register's page opens on the month of its latest sale: one month to read.
            first, following = data.month_of(chosen[0].last_sale_at, ctx, chosen[0].store_code)
            flt = ShiftFilter(
                flt.store_code,
                flt.register_code,
                first,
                following,
                flt.not_exported,
                flt.not_forwarded,
            )
        rows = data.shift_rows(ctx, flt) if not error else []
        rows.reverse()  # newest first
        return {
            "flt": flt,
            "rows": rows[:SHIFTS_SHOWN],
            "more": max(0, len(rows) - SHIFTS_SHOWN),
            "error": error,
            "result": None,
        }

    def shifts(request: Request) -> Response:
        context = shifts_context(request, dict(request.query_params))
        return pages.render(request, "shifts.html", **context)

    async def reexport_selected(request: Request) -> Response:
        form = await request.form()
        ids = _ids(form)
        keys = ("store", "register", "from", "to", "sales_date")
        back = {k: str(form.get(k) or "") for k in keys}
        if form.get("not_exported"):
            back["not_exported"] = "1"
        result = await run_in_threadpool(reexport, ctx, ids) if ids else None
        context = await run_in_threadpool(shifts_context, request, back)
        context["result"] = result
        context["nothing_selected"] = not ids
        return pages.render(request, "shifts.html", **context)

    def stores(request: Request) -> Response:
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
        return pages.render(
            request,
            "stores.html",
            rows=rows,
            store=store or "",
            date_from=date_from,
            date_to=date_to,
            stores=Reports(ctx.engine, ctx.config).store_codes(),
            error=error,
        )

    def departments(request: Request) -> Response:
        workshift_id = request.path_params["workshift_id"]
        report = data.department_report(ctx, workshift_id)
        if report is None:
            return pages.render(
                request,
                "departments.html",
                status_code=404,
                report=None,
                shift=None,
                workshift_id=workshift_id,
            )
        found = Reader(ctx.engine, ctx.config).report(workshift_id)
        shift = found[0].shift if found else None
        return pages.render(
            request, "departments.html", report=report, shift=shift, workshift_id=workshift_id
        )

    def log_page(request: Request) -> Response:
        params = request.query_params
        error, total, page = "", 0, 1
        rows: list[dict[str, Any]] = []
        try:
            page = data.int_param(params, "page", 1, 1, 10**9)
            flt = data.event_filter(params)
            offset = (page - 1) * data.LOG_PAGE_SIZE
            rows, total = data.log_rows(ctx, flt, data.LOG_PAGE_SIZE, offset)
        except data.BadQuery as exc:
            error = str(exc)
        pages_count = max(1, -(-total // data.LOG_PAGE_SIZE))
        return pages.render(
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

    def export_page(request: Request) -> Response:
        backlog = [backlog_row(s) for s in not_exported(ctx.engine)]
        return pages.render(request, "export.html", backlog=backlog, result=None)

    async def export_now(request: Request) -> Response:
        result = await run_in_threadpool(export_backlog, ctx)
        shifts = await run_in_threadpool(not_exported, ctx.engine)
        backlog = [backlog_row(s) for s in shifts]
        return pages.render(request, "export.html", backlog=backlog, result=result)

    def upstream_page(request: Request) -> Response:
        from cashserver.forward.status import upstream_status

        return pages.render(
            request, "upstream.html", status=upstream_status(ctx.engine, ctx.config)
        )

    settings_store = Settings(ctx.engine)

    def settings_page(request: Request, notice: str = "", error: str = "") -> Response:
        return pages.render(
            request,
            "settings.html",
            settings=settings_store.all(),
            notice=notice,
            error=error,
            config=ctx.config,
        )

    def settings_get(request: Request) -> Response:
        return settings_page(request)

    async def settings_post(request: Request) -> Response:
        form = await request.form()
        key = str(form.get("key") or "").strip()
        value = form.get("value")
        try:
            if form.get("action") == "unset":
                removed = await run_in_threadpool(settings_store.unset, key)
                if removed:
                    log.info("settings.removed", key=key, via="console")
                notice = f"{key} removed." if removed else f"There is no setting {key}."
            else:
                await run_in_threadpool(settings_store.set, key, str(value or ""))
                log.info("settings.changed", key=key, via="console")
                notice = f"{key} saved."
        except BadSettingKey as exc:
            return settings_page(request, error=str(exc))
        return settings_page(request, notice=notice)

    return [
        Route("/registers", registers, methods=["GET"]),
        *pull_routes(ctx, pages),
        Route("/shifts", shifts, methods=["GET"]),
        Route("/shifts/reexport", reexport_selected, methods=["POST"]),
        Route("/shifts/{workshift_id:int}/departments", departments, methods=["GET"]),
        Route("/stores", stores, methods=["GET"]),
        Route("/log", log_page, methods=["GET"]),
        Route("/export", export_page, methods=["GET"]),
        Route("/export", export_now, methods=["POST"]),
        Route("/upstream", upstream_page, methods=["GET"]),
        Route("/settings", settings_get, methods=["GET"]),
        Route("/settings", settings_post, methods=["POST"]),
    ]
