"""The numbers behind the console's Overview, which ``GET /api/overview`` returns as is.

The document's keys:

- ``generated_at``: when it was computed (ISO 8601 UTC).
- ``not_ready``: the failed readiness checks by name (``database``, ``spool``, ``grpc``,
  ``thrift``) with what is wrong; empty when ready (as ``/readyz``).
- ``problems``: a list, in the order the page shows them, of ``{key, title, count,
  page, api}``, where ``page`` and ``api`` list exactly the ``count`` items:

  - ``registers_error``: registers in ERROR (``/registers?state=ERROR``);
  - ``spool_error``, ``spool_broken``: files in ``error/`` and ``broken/`` (the Spool
    page, with their reasons; ``/api/spool``);
  - ``exports_failed``: closed shifts not exported whose latest export attempt, after
    their last change, failed (``/export#failed``; ``/api/export/backlog?failed=1``);
  - ``shifts_not_exported``: closed shifts whose current revision has no exchange files
    yet (``/export#backlog``; ``/api/export/backlog``); both export problems are left
    out when ``[exchange] formats`` is empty (nothing is exported);
  - ``store_days_incomplete``: the days of ``incomplete_days`` below (listed on the
    Overview itself, each linking to its shifts);
  - ``clocks_skewed``: registers whose last measured ``clock_skew_s`` is beyond
    ``[registers] max_clock_skew_s``, ahead or behind (``/registers?skewed=1``);
  - ``shifts_not_forwarded``, only with ``[upstream] target`` set: the shifts whose
    current revision the central server has not acknowledged, waiting or set aside
    (``/shifts?not_forwarded=1``).
- ``incomplete_days``: the store-days SPEC 16's ``cashserver_store_days_incomplete``
  counts (of the last ``[reports] completeness_days`` local dates, ended 24 hours ago
  or more, not ``complete``), each ``{store_code, name, date, open_shifts,
  problem_shifts, page, api}``, ``page`` and ``api`` listing its shifts
  (``/shifts?store=S&sales_date=D``).
- ``upstream``: ``GET /api/upstream``'s document (SPEC 15) without the rejected list,
  or null when forwarding is off.
- ``spool``: files per spool folder (``incoming``, ``processed``, ``error``, ``broken``).
- ``revenue_days``: ``{dates, stores}``: the last 30 local dates (ISO) and, a store,
  ``{store_code, name, revenue, receipts}`` with one value a date (revenue in kopecks:
  sales less returns, cash and noncash, as SPEC 7 and 11). ``name`` is ``[stores.X]
  name``, else the code. Each store's days are its own time zone's.
- ``receipts_today``: ``{hours, stores}``: hours 0-23 and, a store, ``{store_code, name,
  date, receipts}``: receipts closed in each local hour of the store's own today.

Everything is read from the totals the loader keeps and from small tables, never by
scanning receipts: see :mod:`cashserver.store.overview`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import quote

from cashserver.clock import DAY_MS, iso_utc, local_midnight_ms, now_ms
from cashserver.config import Config
from cashserver.forward.status import upstream_status
from cashserver.http.context import HttpContext
from cashserver.skew import is_skewed
from cashserver.spool import FOLDERS, Spool
from cashserver.store.overview import BacklogShift, day_shifts, not_exported, sales_quarters
from cashserver.store.reading import Reader, RegisterInfo
from cashserver.store.reports import Reports
from cashserver.store.shift_states import day_quarters
from cashserver.store.totals import QUARTER_MS

DAYS = 30
HOURS = 24


@dataclass(frozen=True, slots=True)
class Problem:
    key: str
    title: str
    count: int
    page: str
    api: str

    def document(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "count": self.count,
            "page": self.page,
            "api": self.api,
        }


def store_name(config: Config, code: str) -> str:
    store = config.stores.get(code)
    return store.name if store and store.name else code


def local_today(config: Config, code: str, now: int) -> date:
    return datetime.fromtimestamp(now / 1000, config.store_timezone(code)).date()


def sales(ctx: HttpContext, codes: list[str], now: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The 30-day revenue and today's receipts per hour, a store each of ``codes``."""
    todays = {code: local_today(ctx.config, code, now) for code in codes}
    last = max(todays.values(), default=local_today(ctx.config, "", now))
    dates = [last - timedelta(days=DAYS - 1 - i) for i in range(DAYS)]
    index = {day: i for i, day in enumerate(dates)}
    days_stores, hours_stores = [], []
    for code in codes:
        zone = ctx.config.store_timezone(code)
        revenue, receipts, hours = [0] * DAYS, [0] * DAYS, [0] * HOURS
        since = local_midnight_ms(dates[0], zone) // QUARTER_MS
        for row in sales_quarters(ctx.engine, code, since):
            moment = datetime.fromtimestamp(row.quarter * QUARTER_MS / 1000, zone)
            i = index.get(moment.date())
            if i is not None:
                revenue[i] += row.revenue
                receipts[i] += row.receipts
            if moment.date() == todays[code]:
                hours[moment.hour] += row.receipts
        name = store_name(ctx.config, code)
        days_stores.append(
            {"store_code": code, "name": name, "revenue": revenue, "receipts": receipts}
        )
        hours_stores.append(
            {"store_code": code, "name": name, "date": todays[code].isoformat(), "receipts": hours}
        )
    return (
        {"dates": [d.isoformat() for d in dates], "stores": days_stores},
        {"hours": list(range(HOURS)), "stores": hours_stores},
    )


def incomplete_days(ctx: HttpContext, codes: list[str], now: int) -> list[dict[str, Any]]:
    """The store-days SPEC 16's ``cashserver_store_days_incomplete`` counts: of the last
    ``[reports] completeness_days`` local dates of each store, those that ended at least
    24 hours ago and are not complete; each with the links to its shifts."""
    window = ctx.config.reports.completeness_days
    found = []
    for code in codes:
        zone = ctx.config.store_timezone(code)
        today = local_today(ctx.config, code, now)
        ended = []
        for back in range(window, 0, -1):
            day = today - timedelta(days=back)
            if local_midnight_ms(day + timedelta(days=1), zone) <= now - DAY_MS:
                ended.append((day, *day_quarters(day, zone)))
        for day, (ids, states) in day_shifts(ctx.engine, code, ended).items():
            # As the store-day report counts: a shift whose header is gone counts as neither.
            known = [states[ws] for ws in ids if ws in states]
            open_shifts = sum(1 for state in known if state.open)
            problem_shifts = sum(1 for state in known if state.problem)
            if not open_shifts and not problem_shifts:
                continue
            query = f"store={quote(code)}&sales_date={day.isoformat()}"
            found.append(
                {
                    "store_code": code,
                    "name": store_name(ctx.config, code),
                    "date": day.isoformat(),
                    "open_shifts": open_shifts,
                    "problem_shifts": problem_shifts,
                    "page": f"/shifts?{query}",
                    "api": f"/api/shifts?{query}",
                }
            )
    return found


def problems(
    ctx: HttpContext,
    spool: dict[str, int],
    backlog: list[BacklogShift] | None,
    days: list[dict[str, Any]],
    upstream: dict[str, Any] | None,
) -> list[Problem]:
    directory: list[RegisterInfo] = Reader(ctx.engine, ctx.config).registers()
    errors = [r for r in directory if r.state == "ERROR"]
    limit = ctx.config.registers.max_clock_skew_s
    skewed = [r for r in directory if is_skewed(r.clock_skew_s, limit)]
    found = [
        Problem(
            "registers_error",
            "Registers in ERROR",
            len(errors),
            "/registers?state=ERROR",
            "/api/registers?state=ERROR",
        ),
        Problem("spool_error", "Files in error/", spool["error"], "/spool#error", "/api/spool"),
        Problem("spool_broken", "Files in broken/", spool["broken"], "/spool#broken", "/api/spool"),
    ]
    if backlog is not None:
        failed = sum(1 for shift in backlog if shift.failure is not None)
        found += [
            Problem(
                "exports_failed",
                "Failed exports",
                failed,
                "/export#failed",
                "/api/export/backlog?failed=1",
            ),
            Problem(
                "shifts_not_exported",
                "Closed shifts not exported",
                len(backlog),
                "/export#backlog",
                "/api/export/backlog",
            ),
        ]
    found += [
        Problem(
            "store_days_incomplete",
            "Incomplete store-days",
            len(days),
            "/#incomplete-days",
            "/api/overview",
        ),
        Problem(
            "clocks_skewed",
            "Register clocks skewed",
            len(skewed),
            "/registers?skewed=1",
            "/api/registers?skewed=1",
        ),
    ]
    if upstream is not None:
        found.append(
            Problem(
                "shifts_not_forwarded",
                "Shifts not forwarded upstream",
                upstream["backlog_shifts"] + upstream["rejected_shifts"],
                "/shifts?not_forwarded=1",
                "/api/shifts?not_forwarded=1",
            )
        )
    return found


def spool_counts(ctx: HttpContext) -> dict[str, int]:
    status = {s.folder: s.files for s in Spool(ctx.config.spool_dir).status()}
    return {name: status.get(name, 0) for name in FOLDERS}


def overview(ctx: HttpContext, now: int | None = None) -> dict[str, Any]:
    """The ``/api/overview`` document (see the module's docstring)."""
    now = now_ms() if now is None else now
    spool = spool_counts(ctx)
    backlog = not_exported(ctx.engine, now) if ctx.config.exchange.formats else None
    upstream = (
        upstream_status(ctx.engine, ctx.config, with_rejected=False)
        if ctx.config.upstream.target
        else None
    )
    codes = Reports(ctx.engine, ctx.config).store_codes()
    revenue_days, receipts_today = sales(ctx, codes, now)
    days = incomplete_days(ctx, codes, now)
    return {
        "generated_at": iso_utc(now),
        "not_ready": ctx.readiness(),
        "problems": [p.document() for p in problems(ctx, spool, backlog, days, upstream)],
        "incomplete_days": days,
        "upstream": upstream,
        "spool": spool,
        "revenue_days": revenue_days,
        "receipts_today": receipts_today,
    }


def backlog_row(shift: BacklogShift) -> dict[str, Any]:
    """A shift of the export backlog as ``/api/export/backlog`` lists it."""
    failure = shift.failure
    return {
        "workshift_id": shift.workshift_id,
        "store_code": shift.store_code,
        "register_code": shift.register_code,
        "shift_number": shift.shift_number,
        "closed_at": iso_utc(shift.closed_at),
        "revision": shift.revision,
        "changed_at": iso_utc(shift.updated_at),
        "failed_at": iso_utc(failure.at) if failure else None,
        "error": failure.error if failure else None,
    }
