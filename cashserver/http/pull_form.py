"""The Registers page's pull form: a date range, and a confirmation on the page for a
range of ``[pull] confirm_days`` or more (SPEC 10). Declining pulls nothing and says so.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from cashserver.http import console_data as data
from cashserver.http.context import HttpContext
from cashserver.http.templates import Pages
from cashserver.log import get_logger
from cashserver.store.reading import Reader

log = get_logger(__name__)


def summary_of(rows: list[dict[str, Any]]) -> dict[str, int]:
    """The ``pull --json`` summary of its register rows."""
    return {
        "registers": len(rows),
        "shifts": sum(int(r.get("shifts") or 0) for r in rows),
        "receipts_stored": sum(int(r.get("receipts_stored") or 0) for r in rows),
        "receipts_duplicate": sum(int(r.get("receipts_duplicate") or 0) for r in rows),
        "errors": sum(r.get("state") == "ERROR" for r in rows),
    }


def pull_routes(ctx: HttpContext, pages: Pages) -> list[BaseRoute]:
    async def pull(request: Request) -> Response:
        form = await request.form()
        names = [str(v) for v in form.getlist("register") if isinstance(v, str)]
        answer = str(form.get("confirm") or "")
        outcome: dict[str, Any] = {
            "names": names,
            "from": form.get("from") or "",
            "to": form.get("to") or "",
        }
        try:
            date_from = data.date_param({"from": str(outcome["from"])}, "from")
            date_to = data.date_param({"to": str(outcome["to"])}, "to")
            if date_from is None or date_to is None:
                raise data.BadQuery("give both dates of the range")
            if date_to <= date_from:
                raise data.BadQuery("the range must end after it starts")
        except data.BadQuery as exc:
            outcome.update(state="error", message=str(exc))
            return await _page(request, outcome)
        known = {
            f"{r.store_code}/{r.register_code}": r
            for r in Reader(ctx.engine, ctx.config).registers()
        }
        chosen = [known[n] for n in dict.fromkeys(names) if n in known]
        if not chosen:
            outcome.update(state="error", message="choose at least one register")
            return await _page(request, outcome)
        days = (date_to - date_from).days
        outcome["days"] = days
        if days >= ctx.config.pull.confirm_days and answer != "yes":
            if answer == "no":
                log.info("console.pull_declined", registers=len(chosen), days=days)
                outcome.update(state="declined")
            else:
                outcome.update(state="confirm")
            return await _page(request, outcome)
        if ctx.pull is None:
            outcome.update(state="error", message="this process runs no loader: pull from `serve`")
            return await _page(request, outcome)
        rows = [dict(r) for r in await run_in_threadpool(ctx.pull, chosen, date_from, date_to)]
        summary = summary_of(rows)
        log.info("console.pulled", days=days, **summary)
        outcome.update(state="done", results=rows, summary=summary)
        return await _page(request, outcome)

    async def _page(request: Request, outcome: dict[str, Any]) -> Response:
        rows = await run_in_threadpool(data.register_rows, ctx)
        status = 400 if outcome.get("state") == "error" else 200
        return pages.render(request, "registers.html", status_code=status, rows=rows, pull=outcome)

    return [Route("/registers/pull", pull, methods=["POST"])]
