"""The console's Spool page and ``GET /api/spool``: what waits for an operator.

The loader sets a sales file aside in ``error/`` (it cannot load: a shift rejected
by the identity rules, a database error retrying cannot cure) or ``broken/`` (it
cannot be parsed), with a ``.reason`` file beside it (:mod:`cashserver.spool`).
These are the files the Overview counts; this page lists them with their reasons.
``cashserver spool retry`` moves the ``error/`` ones back to ``incoming/``.

``/api/spool`` returns ``{"folders": {incoming, processed, error, broken: files},
"error": [file], "broken": [file], "shown_at_most": N}``, a file being ``{name,
size, modified_at, reason, error, reason_time}`` (``reason`` and ``error`` as the
loader wrote them, null for a file without a readable reason).
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from cashserver.clock import iso_utc
from cashserver.http.context import HttpContext
from cashserver.http.overview_data import spool_counts
from cashserver.http.templates import Pages
from cashserver.spool import HeldFile, Spool

HELD_FOLDERS = ("error", "broken")
SHOWN = 1000


def _file(held: HeldFile) -> dict[str, Any]:
    reason = held.reason or {}
    return {
        "name": held.name,
        "size": held.size,
        "modified_at": iso_utc(held.modified_at),
        "reason": reason.get("reason"),
        "error": reason.get("error"),
        "reason_time": reason.get("time"),
    }


def spool_document(ctx: HttpContext) -> dict[str, Any]:
    spool = Spool(ctx.config.spool_dir)
    document: dict[str, Any] = {"folders": spool_counts(ctx)}
    for folder in HELD_FOLDERS:
        document[folder] = [_file(f) for f in spool.held(folder, SHOWN)]
    document["shown_at_most"] = SHOWN
    return document


def routes(ctx: HttpContext, pages: Pages) -> list[BaseRoute]:
    async def page(request: Request) -> Response:
        document = await run_in_threadpool(spool_document, ctx)
        return pages.render(request, "spool.html", doc=document, folders=HELD_FOLDERS)

    async def api(_request: Request) -> Response:
        document = await run_in_threadpool(spool_document, ctx)
        return Response(orjson.dumps(document), media_type="application/json")

    return [
        Route("/spool", page, methods=["GET"]),
        Route("/api/spool", api, methods=["GET"]),
    ]
