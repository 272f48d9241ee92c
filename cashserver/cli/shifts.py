"""``cashserver shifts``, ``export`` and ``reexport``: the reconciliation view and the
exchange files of shifts (SPEC 6)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from cashserver.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    STORE_TIME,
    in_store_time,
    open_store,
    print_json,
    print_table,
)
from cashserver.config import Config
from cashserver.money import format_money

if TYPE_CHECKING:
    from cashserver.exchange.exporter import Summary


SHIFT_COLUMNS = (
    ("workshift_id", "id"),
    ("store_code", "store"),
    ("register_code", "register"),
    ("shift_number", "shift"),
    ("opened_at", f"opened {STORE_TIME}"),
    ("closed_at", f"closed {STORE_TIME}"),
    ("receipts_count", "receipts"),
    ("revenue_cash", "revenue cash"),
    ("revenue_noncash", "revenue noncash"),
    ("drawer", "drawer"),
    ("exported", "exported"),
    ("status", "status"),
)


def cmd_shifts(config: Config, args: argparse.Namespace) -> int:
    from cashserver.store.reading import Reader, ShiftFilter

    flt = ShiftFilter(
        store_code=args.store,
        register_code=args.register,
        date_from=args.date_from,
        date_to=args.date_to,
        not_exported=args.not_exported,
        sales_date=args.sales_date,
        not_forwarded=args.not_forwarded,
    )
    rows = Reader(open_store(config), config).shift_rows(flt)
    if args.json:
        print_json(rows)
        return EXIT_OK
    shown = [
        {
            **in_store_time(config, r, ("opened_at", "closed_at")),
            **{k: format_money(r[k]) for k in ("revenue_cash", "revenue_noncash", "drawer")},
            "exported": "yes" if r["exported"] else "no",
            **({} if r["closed_at"] else {"closed_at": "open"}),
            **({"forwarded": "yes" if r["forwarded"] else "no"} if "forwarded" in r else {}),
        }
        for r in rows
    ]
    columns: tuple[tuple[str, str], ...] = SHIFT_COLUMNS
    if config.upstream.target:  # SPEC 7: the column only while a target is set
        columns = (*SHIFT_COLUMNS[:-1], ("forwarded", "forwarded"), SHIFT_COLUMNS[-1])
    print_table(shown, columns)
    return EXIT_OK


def _print_export_summary(summary: Summary, args: argparse.Namespace, every_shift: bool) -> int:
    """Print what an export did (every shift, or only the failed ones) and its exit code."""
    from cashserver.exchange.exporter import ExportStatus

    if args.json:
        print_json(summary.document())
    else:
        for o in summary.outcomes:
            if o.status is ExportStatus.FAILED:
                print(f"shift {o.workshift_id}: failed: {o.error}")
            elif every_shift:
                written = f" ({', '.join(o.written)})" if o.written else ""
                print(f"shift {o.workshift_id}: {o.status}{written}")
        print(
            f"{len(summary.outcomes)} shift(s): {summary.written} written,"
            f" {summary.unchanged} unchanged, {summary.failed} failed"
            + (f", {summary.skipped} skipped (another daemon's)" if summary.skipped else "")
        )
    return EXIT_FAILED if summary.failed else EXIT_OK


def _export_each(config: Config, args: argparse.Namespace, ids: list[int] | None) -> Summary:
    """Export the shifts ``ids`` (None: the backlog, skipping what is up to date), with a
    progress bar on a terminal when there is more than one."""
    from cashserver.cli.progress import Progress
    from cashserver.exchange.exporter import Exporter, Summary

    exporter = Exporter(open_store(config), config)
    only_stale = ids is None
    chosen = exporter.backlog() if ids is None else ids
    progress = Progress(len(chosen), sys.stdout, sys.stdout.isatty() and len(chosen) > 1, args.json)
    outcomes = []
    progress.start()
    try:
        for workshift_id in chosen:
            outcomes.append(exporter.export_shift(workshift_id, only_stale))
            progress.step()
    finally:
        progress.close()
    return Summary(tuple(outcomes))


def cmd_export(config: Config, args: argparse.Namespace) -> int:
    summary = _export_each(config, args, None)
    if not summary.outcomes and not args.json:
        print("nothing to export: the files of every closed shift are up to date")
        return EXIT_OK
    return _print_export_summary(summary, args, every_shift=False)


def cmd_reexport(config: Config, args: argparse.Namespace) -> int:
    summary = _export_each(config, args, list(dict.fromkeys(args.workshift_ids)))
    return _print_export_summary(summary, args, every_shift=True)
