"""What every ``cashserver`` command shares: exit codes, errors, argument types, output,
and the database a command opens (:func:`open_store`).

Every command takes the configuration and the parsed arguments and returns the
exit code, or raises :class:`UsageError` (2) or :class:`OperationFailed` (1);
:mod:`cashserver.cli.main` parses and dispatches.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import orjson

from cashserver.config import Config
from cashserver.log import Journal

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


_engines: dict[str, Any] = {}


STORE_TIME = "(store time)"
"""How a table's heading says its times are in each row's store's time zone (the
console shows them so); ``--json`` keeps ISO 8601 UTC."""


def in_store_time(
    config: Config, row: dict[str, Any], keys: Sequence[str], store_key: str = "store_code"
) -> dict[str, Any]:
    """``row`` with the times under ``keys`` as ``YYYY-MM-DD HH:MM`` in its store's zone."""
    from cashserver.clock import local_text

    zone = config.store_timezone(row[store_key])
    return {**row, **{key: local_text(row[key], zone) for key in keys}}


def open_store(config: Config) -> Any:
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
