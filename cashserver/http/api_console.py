"""The JSON API that mirrors the console's pages (SPEC 12).

Each document has the keys of the matching CLI ``--json`` output, and the CLI's
filters are query parameters: ``/api/shifts?store=S&register=R&from=D&to=D&not_exported=1``
(and ``sales_date=D``: the shifts with a receipt on that local date),
``/api/report/stores?store=S&from=D&to=D``, ``/api/log?event=E&since=T&until=T``
(``limit`` and ``offset`` page the log, newest first), ``/api/upstream`` (SPEC 15).
Writes are POSTs with the CSRF token (header ``X-CSRF-Token``): ``/api/reexport`` and
``/api/export``. ``/api/export/backlog`` lists the closed shifts not exported
(``?failed=1``: those whose latest export failed), as the Export page does;
``/api/registers?state=ERROR`` keeps the registers in one loading state, and
``/api/registers?skewed=1`` those whose clock is skewed beyond the limit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from cashserver.http import console_data as data
from cashserver.http.actions import export_backlog, reexport
from cashserver.http.context import HttpContext
from cashserver.http.overview_data import backlog_row
from cashserver.store.overview import not_exported


def _guarded(handler: Callable[[Request], Any]) -> Callable[[Request], Any]:
    """A bad query parameter is a 400 naming it, never a 500."""

    async def endpoint(request: Request) -> Response:
        try:
            document = await run_in_threadpool(handler, request)
        except data.BadQuery as exc:
            return JSONResponse({"error": str(exc)}, 400)
        if isinstance(document, Response):
            return document
        return Response(orjson.dumps(document), media_type="application/json")

    return endpoint


def routes(ctx: HttpContext) -> list[BaseRoute]:
    def registers(request: Request) -> Any:
        params = request.query_params
        return data.register_rows(
            ctx,
            data.text_param(params, "store"),
            data.text_param(params, "state"),
            data.flag_param(params, "skewed"),
        )

    def shifts(request: Request) -> Any:
        return data.shift_rows(ctx, data.shift_filter(request.query_params))

    def store_days(request: Request) -> Any:
        params = request.query_params
        return data.store_day_rows(
            ctx,
            data.text_param(params, "store"),
            data.date_param(params, "from"),
            data.date_param(params, "to"),
        )

    def departments(request: Request) -> Any:
        report = data.department_report(ctx, request.path_params["workshift_id"])
        if report is None:
            return JSONResponse({"error": f"no shift {request.path_params['workshift_id']}"}, 404)
        return report

    def log(request: Request) -> Any:
        params = request.query_params
        limit = data.int_param(params, "limit", 100, 1, data.LOG_MAX_LIMIT)
        offset = data.int_param(params, "offset", 0, 0, 10**12)
        rows, _total = data.log_rows(ctx, data.event_filter(params), limit, offset)
        return rows

    async def reexport_shifts(request: Request) -> Response:
        try:
            body: Any = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            body = None
        ids = body.get("workshift_ids") if isinstance(body, dict) else None
        if not isinstance(ids, list) or not ids or not all(type(i) is int for i in ids):
            return JSONResponse({"error": 'expected {"workshift_ids": [N, ...]}'}, 400)
        summary = await run_in_threadpool(reexport, ctx, ids)
        return Response(orjson.dumps(summary.document()), media_type="application/json")

    def backlog(request: Request) -> Any:
        rows = [backlog_row(s) for s in not_exported(ctx.engine)]
        if data.flag_param(request.query_params, "failed"):
            rows = [r for r in rows if r["failed_at"] is not None]
        return rows

    def upstream(_request: Request) -> Any:
        from cashserver.forward.status import upstream_status

        return upstream_status(ctx.engine, ctx.config)

    async def export(_request: Request) -> Response:
        summary = await run_in_threadpool(export_backlog, ctx)
        return Response(orjson.dumps(summary.document()), media_type="application/json")

    return [
        Route("/api/registers", _guarded(registers), methods=["GET"]),
        Route("/api/shifts", _guarded(shifts), methods=["GET"]),
        Route("/api/report/stores", _guarded(store_days), methods=["GET"]),
        Route("/api/report/departments/{workshift_id:int}", _guarded(departments), methods=["GET"]),
        Route("/api/log", _guarded(log), methods=["GET"]),
        Route("/api/upstream", _guarded(upstream), methods=["GET"]),
        Route("/api/reexport", reexport_shifts, methods=["POST"]),
        Route("/api/export", export, methods=["POST"]),
        Route("/api/export/backlog", _guarded(backlog), methods=["GET"]),
    ]
