"""The console's first page, Overview (SPEC 12), and ``GET /api/overview``.

It answers "is anything wrong, and how are sales going": the problems first, each
counted and linking to the page that lists exactly what was counted, then each
store's daily revenue over 30 days and today's receipts per hour, drawn as SVG on
the server (:mod:`cashserver.http.charts` says why). The numbers come from
:mod:`cashserver.http.overview_data`, whose docstring documents the API's keys.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import orjson
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from cashserver.http.charts import NARROW_WIDTH, Chart, Series, render, top_series
from cashserver.http.context import HttpContext
from cashserver.http.format import count, money
from cashserver.http.overview_data import overview
from cashserver.http.templates import Pages

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def day_label(iso: str) -> str:
    day = date.fromisoformat(iso)
    return f"{day.day} {MONTHS[day.month - 1]}"


def roubles_tick(kopecks: int) -> str:
    """A money tick: whole roubles when it is whole, else roubles and kopecks."""
    if kopecks % 100 == 0:
        return count(kopecks // 100) if kopecks >= 0 else "−" + count(-kopecks // 100)
    return money(kopecks)


def _series(stores: list[dict[str, Any]], key: str) -> tuple[Series, ...]:
    return top_series([Series(s["name"], tuple(s[key])) for s in stores], "Other stores")


def revenue_chart(document: dict[str, Any]) -> Chart:
    days = document["revenue_days"]
    return Chart(
        title="Revenue by day, last 30 days",
        categories=tuple(day_label(d) for d in days["dates"]),
        series=_series(days["stores"], "revenue"),
        x_title="Day (each store's local date)",
        y_title="Revenue, ₽",
        value_text=lambda kopecks: f"{money(kopecks)} ₽",
        tick_text=roubles_tick,
        empty_text="No sales in the last 30 days.",
        label="revenue",
    )


def receipts_chart(document: dict[str, Any]) -> Chart:
    today = document["receipts_today"]
    return Chart(
        title="Receipts per hour today",
        categories=tuple(f"{h:02d}" for h in today["hours"]),
        series=_series(today["stores"], "receipts"),
        x_title="Hour (each store's local time)",
        y_title="Receipts",
        value_text=lambda n: f"{count(n)} receipts",
        tick_text=count,
        empty_text="No receipts today yet.",
        label="receipts",
    )


def both_widths(chart: Chart, kind: str) -> Markup:
    """The chart drawn for a wide screen and for a phone; the stylesheet shows one."""
    wide = render(chart, kind)
    narrow = render(chart, kind, NARROW_WIDTH, "-narrow")
    return Markup(f'<div class="wide">{wide}</div><div class="narrow">{narrow}</div>')


def routes(ctx: HttpContext, pages: Pages) -> list[BaseRoute]:
    async def home(request: Request) -> Response:
        document = await run_in_threadpool(overview, ctx)
        charts = [
            both_widths(revenue_chart(document), "line"),
            both_widths(receipts_chart(document), "stacked"),
        ]
        trouble = [p for p in document["problems"] if p["count"]]
        return pages.render(request, "home.html", doc=document, charts=charts, trouble=trouble)

    async def api_overview(_request: Request) -> Response:
        document = await run_in_threadpool(overview, ctx)
        return Response(orjson.dumps(document), media_type="application/json")

    return [
        Route("/", home, methods=["GET"]),
        Route("/api/overview", api_overview, methods=["GET"]),
    ]
