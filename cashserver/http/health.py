"""``/healthz``, ``/readyz`` and ``/metrics``: the three paths that need no login."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from cashserver.http.certificates import expiry_times
from cashserver.http.context import HttpContext
from cashserver.metrics import ScalarCollector, SpoolReading, StateCollector, exposition
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


def spool_reading(spool: Spool) -> SpoolReading:
    """Files per spool folder and the oldest incoming file's age, in one pass."""
    status = spool.status()
    files = {s.folder: s.files for s in status}
    oldest = next((s.oldest_age_s for s in status if s.folder == "incoming"), None)
    return files, max(0.0, oldest or 0.0)


LISTENER_CHECKS = ("grpc", "thrift")
FRONT_WIDE = ("front", "daemon")
"""Problems that leave every listener check failing: the front is not reporting, or
the daemon is stopping."""
READY_REFRESH_S = 5.0
"""How often :class:`ReadyChecks` runs the checks (a scrape reads the latest result)."""


class ReadyChecks:
    """The readiness checks' latest results for ``cashserver_ready{check}`` (SPEC 16).

    ``problems`` is the function behind ``/readyz`` (what is not ready, by name);
    :meth:`refresh` runs it, on a timer, so that a scrape never waits for a probe
    (a locked database takes the probe's whole timeout). The checks are the
    listeners the configuration turns on, ``spool`` and ``database``.
    """

    def __init__(self, problems: Callable[[], dict[str, str]], listeners: Sequence[str]) -> None:
        self.problems = problems
        self.checks = (*(c for c in LISTENER_CHECKS if c in listeners), "spool", "database")
        self._latest: dict[str, bool] = {}

    def refresh(self) -> None:
        problems = self.problems()
        front_down = any(name in problems for name in FRONT_WIDE)
        self._latest = {
            check: check not in problems and not (front_down and check in LISTENER_CHECKS)
            for check in self.checks
        }

    def latest(self) -> dict[str, bool]:
        """The last results; empty until the first :meth:`refresh`."""
        return dict(self._latest)


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
    """The scrape-time gauges of this daemon (its spool, its database, its readiness and
    its certificates, whose expiry is read here, once)."""
    spool = Spool(ctx.config.spool_dir)
    registry = CollectorRegistry(auto_describe=True)
    registry.register(
        StateCollector(
            spool=lambda: spool_reading(spool),
            registers=lambda: registers_by_state(ctx),
            ready=ctx.ready_checks,
            certificates=expiry_times(ctx.config),
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
