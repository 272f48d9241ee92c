"""``/healthz``, ``/readyz`` and ``/metrics``: the three paths that need no login."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from cashserver.http.context import HttpContext
from cashserver.metrics import ScalarCollector, StateCollector, exposition
from cashserver.spool import Spool
from cashserver.store.schema import registers

NEVER_PULLED = "none"


def registers_by_state(ctx: HttpContext) -> dict[str, int]:
    """Registers in the directory by loading state; one never pulled is ``none``."""
    state = func.coalesce(registers.c.state, NEVER_PULLED)
    query = select(state, func.count()).where(registers.c.removed_at.is_(None)).group_by(state)
    with ctx.engine.connect() as conn:
        counts = {str(name).lower(): int(n) for name, n in conn.execute(query)}
    counts.setdefault(NEVER_PULLED, 0)
    return counts


def skewed_registers(ctx: HttpContext) -> int:
    """Registers in the directory whose last measured clock is beyond the limit (SPEC 16)."""
    limit = ctx.config.registers.max_clock_skew_s
    skew = registers.c.clock_skew_s
    query = (
        select(func.count())
        .select_from(registers)
        .where(registers.c.removed_at.is_(None), (skew > limit) | (skew < -limit))
    )
    with ctx.engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def state_registry(ctx: HttpContext) -> CollectorRegistry:
    """The scrape-time gauges of this daemon (its spool, its database)."""
    spool = Spool(ctx.config.spool_dir)
    registry = CollectorRegistry(auto_describe=True)
    registry.register(
        StateCollector(
            spool_files=lambda: {s.folder: s.files for s in spool.status()},
            registers=lambda: registers_by_state(ctx),
        )
    )
    registry.register(
        ScalarCollector(
            [
                (
                    "cashserver_registers_clock_skewed",
                    "Registers whose last measured clock skew is beyond max_clock_skew_s",
                    lambda: skewed_registers(ctx),
                ),
                (
                    "cashserver_store_days_incomplete",
                    "Store-days of the last completeness_days days, ended over 24 h ago, "
                    "not complete (counted on a timer)",
                    ctx.store_days_incomplete,
                ),
            ]
        )
    )
    return registry


def routes(ctx: HttpContext) -> list[BaseRoute]:
    gauges = state_registry(ctx)

    def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    def readyz(_request: Request) -> Response:
        problems = ctx.readiness()
        if problems:
            return JSONResponse({"status": "not ready", "problems": problems}, 503)
        return JSONResponse({"status": "ready"})

    def metrics(_request: Request) -> Response:
        return Response(exposition(gauges), media_type=CONTENT_TYPE_LATEST)

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
