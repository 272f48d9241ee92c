"""What the console's buttons do, each logging its event.

Exports go through the same :class:`~cashserver.exchange.exporter.Exporter` as
``cashserver export`` and ``reexport`` (with its per-shift lease, so several
daemons never write one shift's files at once).
"""

from __future__ import annotations

from collections.abc import Sequence

from cashserver.exchange.exporter import Exporter, Summary
from cashserver.http.context import HttpContext
from cashserver.log import get_logger

log = get_logger(__name__)


def _exporter(ctx: HttpContext) -> Exporter:
    return Exporter(ctx.engine, ctx.config)


def reexport(ctx: HttpContext, workshift_ids: Sequence[int]) -> Summary:
    ids = list(dict.fromkeys(workshift_ids))
    summary = _exporter(ctx).export_shifts(ids)
    log.info(
        "console.reexported",
        workshift_ids=ids,
        written=summary.written,
        unchanged=summary.unchanged,
        failed=summary.failed,
        skipped=summary.skipped,
    )
    return summary


def export_backlog(ctx: HttpContext) -> Summary:
    summary = _exporter(ctx).export_backlog()
    log.info(
        "console.exported",
        shifts=len(summary.outcomes),
        written=summary.written,
        unchanged=summary.unchanged,
        failed=summary.failed,
        skipped=summary.skipped,
    )
    return summary
