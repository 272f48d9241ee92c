"""The console's Shifts page (the reconciliation view), its re-export, and a shift's
departments (SPEC 12)."""

from __future__ import annotations

import dataclasses
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from cashserver.http import console_data as data
from cashserver.http.actions import reexport
from cashserver.http.context import HttpContext
from cashserver.http.templates import Pages
from cashserver.store.reading import Reader, ShiftFilter

SHIFTS_SHOWN = 1000


def _ids(form: FormData) -> list[int]:
    return [int(v) for v in form.getlist("workshift_id") if isinstance(v, str) and v.isdigit()]


class ShiftPages:
    def __init__(self, ctx: HttpContext, pages: Pages) -> None:
        self.ctx = ctx
        self.pages = pages

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/shifts", self.shifts, methods=["GET"]),
            Route("/shifts/reexport", self.reexport_selected, methods=["POST"]),
            Route("/shifts/{workshift_id:int}/departments", self.departments, methods=["GET"]),
        ]

    def shifts_context(self, params: dict[str, str]) -> dict[str, Any]:
        ctx = self.ctx
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
            flt = dataclasses.replace(flt, date_from=first, date_to=following)
        rows = data.shift_rows(ctx, flt) if not error else []
        rows.reverse()  # newest first
        return {
            "flt": flt,
            "rows": rows[:SHIFTS_SHOWN],
            "more": max(0, len(rows) - SHIFTS_SHOWN),
            "error": error,
            "result": None,
        }

    def shifts(self, request: Request) -> Response:
        context = self.shifts_context(dict(request.query_params))
        return self.pages.render(request, "shifts.html", **context)

    async def reexport_selected(self, request: Request) -> Response:
        form = await request.form()
        ids = _ids(form)
        back = {
            k: str(form.get(k) or "") for k in ("store", "register", "from", "to", "sales_date")
        }
        for flag in ("not_exported", "not_forwarded"):
            if form.get(flag):
                back[flag] = "1"
        result = await run_in_threadpool(reexport, self.ctx, ids) if ids else None
        context = await run_in_threadpool(self.shifts_context, back)
        context["result"] = result
        context["nothing_selected"] = not ids
        return self.pages.render(request, "shifts.html", **context)

    def departments(self, request: Request) -> Response:
        workshift_id = request.path_params["workshift_id"]
        report = data.department_report(self.ctx, workshift_id)
        if report is None:
            return self.pages.render(
                request,
                "departments.html",
                status_code=404,
                report=None,
                shift=None,
                workshift_id=workshift_id,
            )
        found = Reader(self.ctx.engine, self.ctx.config).report(workshift_id)
        shift = found[0].shift if found else None
        return self.pages.render(
            request, "departments.html", report=report, shift=shift, workshift_id=workshift_id
        )
