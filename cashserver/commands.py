"""What each ``cashserver`` subcommand does; :mod:`cashserver.cli` parses and dispatches.

Every command takes the configuration and the parsed arguments and returns the
exit code, or raises :class:`UsageError` (2) or :class:`OperationFailed` (1).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from cashserver.config import Config
from cashserver.log import Journal
from cashserver.money import format_money

if TYPE_CHECKING:
    from cashserver.exchange.exporter import Summary

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad arguments the parser could not catch; exit code 2."""


class OperationFailed(Exception):
    """The command ran but did not succeed; exit code 1."""


def parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD, got {text!r}") from None


def parse_datetime_ms(text: str) -> int:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected ISO 8601, got {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def print_json(document: Any) -> None:
    sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> None:
    """A plain aligned table: ``columns`` are (key, heading) pairs."""
    if not rows:
        print("(none)")
        return
    cells = [[heading for _, heading in columns]]
    cells += [["" if row[key] is None else str(row[key]) for key, _ in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    for line in cells:
        print(
            "  ".join(
                cell.rjust(w) if cell.lstrip("-").replace(".", "", 1).isdigit() else cell.ljust(w)
                for cell, w in zip(line, widths, strict=True)
            ).rstrip()
        )


# -- commands --------------------------------------------------------------------


def cmd_serve(config: Config, _args: argparse.Namespace) -> int:
    if config.grpc.tls_cert:
        # Before grpc is imported: its core reads the log level once, at start.
        from cashserver.rpc.tls_log import request_core_info_logs

        request_core_info_logs(os.environ)
    from cashserver.daemon import Daemon, default_listeners

    return Daemon(config, default_listeners(config)).run()


_engines: dict[str, Any] = {}


def _engine(config: Config) -> Any:
    """The database, migrated to the latest schema (one engine per command run)."""
    from cashserver.store.engine import open_engine, upgrade

    if config.database_url not in _engines:
        engine = open_engine(config.database_url)
        upgrade(engine)
        _engines[config.database_url] = engine
    return _engines[config.database_url]


def flush_journal(journal: Journal) -> None:
    """Write the events this command logged, if it opened the database."""
    from cashserver.store.events import Events

    pending = journal.drain()
    for engine in _engines.values():
        if pending:
            Events(engine).write(pending)
        engine.dispose()
    _engines.clear()


def cmd_db_upgrade(config: Config, _args: argparse.Namespace) -> int:
    _engine(config)
    print(f"database is at the latest schema: {config.database_url}")
    return EXIT_OK


SHIFT_COLUMNS = (
    ("workshift_id", "id"),
    ("store_code", "store"),
    ("register_code", "register"),
    ("shift_number", "shift"),
    ("opened_at", "opened (UTC)"),
    ("closed_at", "closed (UTC)"),
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
        not_forwarded=args.not_forwarded,
        sales_date=args.sales_date,
    )
    rows = Reader(_engine(config), config).shift_rows(flt)
    if args.json:
        print_json(rows)
        return EXIT_OK
    shown = [
        {
            **r,
            **{k: format_money(r[k]) for k in ("revenue_cash", "revenue_noncash", "drawer")},
            "exported": "yes" if r["exported"] else "no",
            **({"forwarded": "yes" if r["forwarded"] else "no"} if "forwarded" in r else {}),
        }
        for r in rows
    ]
    columns: tuple[tuple[str, str], ...] = SHIFT_COLUMNS
    if config.upstream.target:
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


def cmd_export(config: Config, args: argparse.Namespace) -> int:
    from cashserver.exchange.exporter import Exporter

    summary = Exporter(_engine(config), config).export_backlog()
    if not summary.outcomes and not args.json:
        print("nothing to export: the files of every closed shift are up to date")
        return EXIT_OK
    return _print_export_summary(summary, args, every_shift=False)


def cmd_reexport(config: Config, args: argparse.Namespace) -> int:
    from cashserver.exchange.exporter import Exporter

    ids = list(dict.fromkeys(args.workshift_ids))
    summary = Exporter(_engine(config), config).export_shifts(ids)
    return _print_export_summary(summary, args, every_shift=True)


def cmd_log(config: Config, args: argparse.Namespace) -> int:
    from cashserver.clock import iso_utc
    from cashserver.store.reading import Reader

    events = Reader(_engine(config), config).events(args.since)
    for event in events:
        event["time"] = iso_utc(event["time"])
    if args.json:
        print_json(events)
        return EXIT_OK
    for event in events:
        fields = " ".join(f"{k}={v}" for k, v in event.items() if k not in ("time", "event"))
        print(f"{event['time']}  {event['event']:<24} {fields}")
    return EXIT_OK


def cmd_spool_show(_config: Config, args: argparse.Namespace) -> int:
    from cashserver.spool import BrokenSalesFile, decode_sales_file, upload_as_json

    path = Path(args.file)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise OperationFailed(f"{path}: {exc.strerror}") from None
    try:
        upload, envelope = decode_sales_file(data)
    except BrokenSalesFile as exc:
        raise OperationFailed(f"{path}: broken sales file: {exc}") from None
    print_json({**envelope, "upload": upload_as_json(upload)})
    return EXIT_OK


def cmd_spool_status(config: Config, args: argparse.Namespace) -> int:
    from cashserver.spool import Spool

    spool = Spool(config.spool_dir)
    rows = [
        {
            "folder": s.folder,
            "files": s.files,
            "oldest_age_s": None if s.oldest_age_s is None else round(s.oldest_age_s, 1),
        }
        for s in spool.status()
    ]
    if args.json:
        print_json(rows)
    else:
        print_table(
            rows, [("folder", "folder"), ("files", "files"), ("oldest_age_s", "oldest (s)")]
        )
    return EXIT_OK


def cmd_spool_retry(config: Config, args: argparse.Namespace) -> int:
    from cashserver.spool import Spool

    spool = Spool(config.spool_dir)
    spool.prepare()
    try:
        moved = spool.retry(args.files)
    except FileNotFoundError as exc:
        raise OperationFailed(str(exc)) from None
    for name in moved:
        print(f"retry: {name}")
    print(f"{len(moved)} file(s) moved back to incoming/")
    return EXIT_OK


def cmd_emulator_push(_config: Config, args: argparse.Namespace) -> int:
    from cashserver.emulator.commands import EmulatorError, push

    try:
        return push(args)
    except EmulatorError as exc:
        raise OperationFailed(str(exc)) from None


def cmd_emulator_serve(_config: Config, args: argparse.Namespace) -> int:
    from cashserver.emulator.commands import EmulatorError, serve

    try:
        return serve(args)
    except EmulatorError as exc:
        raise OperationFailed(str(exc)) from None
