"""The ``cashserver`` command line (SPEC section 6).

Exit codes: 0 success, 1 the operation failed, 2 bad usage or configuration.
Commands that print data print a table for people, or one JSON document with
``--json``. Log lines go to standard error: every event for ``serve``, only
warnings and errors for the other commands unless ``--verbose``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from cashserver.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    OperationFailed,
    UsageError,
    flush_journal,
    parse_date,
    parse_datetime_ms,
)
from cashserver.cli.emulator import cmd_emulator_push, cmd_emulator_serve
from cashserver.cli.reports import cmd_log
from cashserver.cli.serve import cmd_db_upgrade, cmd_serve
from cashserver.cli.shifts import cmd_export, cmd_reexport, cmd_shifts
from cashserver.cli.spool import cmd_spool_retry, cmd_spool_show, cmd_spool_status
from cashserver.config import Config, ConfigError, load_config
from cashserver.lifecycle import StartupError
from cashserver.log import Journal, configure_logging, set_journal, set_node_name

# -- the parser ------------------------------------------------------------------

Handler = Callable[[Config, argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        metavar="PATH",
        default=None,
        help="configuration file (default /etc/cashserver/cashserver.toml if it exists)",
    )
    common.add_argument(
        "--verbose",
        action="store_true",
        help="print the log's info events too, not only warnings and errors"
        " (serve prints every event always)",
    )
    json_flag = argparse.ArgumentParser(add_help=False)
    json_flag.add_argument("--json", action="store_true", help="print one JSON document")

    parser = argparse.ArgumentParser(
        prog="cashserver", description="Collects sales from cash registers for accounting."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, handler: Handler, help_text: str, *parents: Any, into: Any = sub) -> Any:
        command = into.add_parser(name, parents=[common, *parents], help=help_text)
        command.set_defaults(handler=handler)
        return command

    add("serve", cmd_serve, "run the daemon: both protocols, the loader, the scheduled jobs")

    db = sub.add_parser("db", help="database maintenance").add_subparsers(
        dest="db_command", required=True, metavar="COMMAND"
    )
    add("upgrade", cmd_db_upgrade, "apply the database migrations", into=db)

    shifts = add("shifts", cmd_shifts, "the reconciliation view, one row a shift", json_flag)
    shifts.add_argument("--store", help="only this store")
    shifts.add_argument("--register", help="only this register")
    shifts.add_argument(
        "--from",
        dest="date_from",
        type=parse_date,
        metavar="DATE",
        help="shifts opened on or after this local date (YYYY-MM-DD)",
    )
    shifts.add_argument(
        "--to",
        dest="date_to",
        type=parse_date,
        metavar="DATE",
        help="shifts opened before this local date (YYYY-MM-DD)",
    )
    shifts.add_argument(
        "--sales-date",
        type=parse_date,
        metavar="DATE",
        help="shifts with a receipt on this local date of their store (a store-day's shifts)",
    )
    shifts.add_argument(
        "--not-exported",
        action="store_true",
        help="only shifts whose exchange files are missing or stale",
    )
    shifts.add_argument(
        "--not-forwarded",
        action="store_true",
        help="only shifts whose current content the central server has not acknowledged",
    )

    add(
        "export",
        cmd_export,
        "write exchange files for every closed shift not yet exported",
        json_flag,
    )
    reexport = add(
        "reexport",
        cmd_reexport,
        "write the exchange files of the named shifts again, open or closed",
        json_flag,
    )
    reexport.add_argument("workshift_ids", nargs="+", type=int, metavar="WORKSHIFT_ID")

    registers = sub.add_parser("registers", help="the registers directory").add_subparsers(
        dest="registers_command", required=True, metavar="COMMAND"
    )
    from cashserver.cli.registers import add_parsers as add_register_parsers

    add_register_parsers(registers, add, json_flag)
    from cashserver.cli.pull import add_parser as add_pull_parser

    add_pull_parser(sub, add, json_flag)

    log_cmd = add("log", cmd_log, "the event log", json_flag)
    log_cmd.add_argument(
        "--since",
        type=parse_datetime_ms,
        metavar="DATETIME",
        help="events at or after this ISO 8601 time (UTC unless an offset is given)",
    )

    spool = sub.add_parser("spool", help="the sales file spool").add_subparsers(
        dest="spool_command", required=True, metavar="COMMAND"
    )
    show = add("show", cmd_spool_show, "print a sales file as JSON", into=spool)
    show.add_argument("file")
    add("status", cmd_spool_status, "files and oldest age per spool folder", json_flag, into=spool)
    retry = add("retry", cmd_spool_retry, "move error/ files back to incoming/", into=spool)
    retry.add_argument("files", nargs="*", metavar="FILE")

    from cashserver.cli.reports import add_report_commands

    add_report_commands(sub, common, json_flag)

    emulator = sub.add_parser("emulator", help="a register emulator").add_subparsers(
        dest="emulator_command", required=True, metavar="COMMAND"
    )
    push = add("push", cmd_emulator_push, "push generated shifts to a server", into=emulator)
    serve = add("serve", cmd_emulator_serve, "serve RegisterSales for pulls", into=emulator)
    from cashserver.emulator.commands import add_arguments

    add_arguments(push, serve)

    from cashserver.cli.forward import add_commands as add_forward_commands

    add_forward_commands(sub, add, json_flag)
    from cashserver.cli.ops import add_commands as add_ops_commands

    add_ops_commands(sub, add, json_flag)
    return parser


def _is_database_error(exc: Exception) -> bool:
    """An error of the database library. Looked up only if a command loaded it: ``serve``
    does not in its front process, and then no error can be one."""
    sqlalchemy_exc = sys.modules.get("sqlalchemy.exc")
    return sqlalchemy_exc is not None and isinstance(exc, sqlalchemy_exc.SQLAlchemyError)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(show=None if args.handler is cmd_serve else "warning")
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"cashserver: configuration: {exc}", file=sys.stderr)
        return EXIT_USAGE
    # serve logs every event; the other commands print their own result and, from
    # the log, only warnings and errors (the events table gets every event anyway).
    quiet = args.handler is not cmd_serve and not args.verbose
    configure_logging(log_format=config.server.log_format, show="warning" if quiet else None)
    set_node_name(config.cluster.node_name)
    journal = Journal()
    set_journal(journal)
    try:
        code: int = args.handler(config, args)
        flush_journal(journal)
    except (UsageError, StartupError) as exc:
        print(f"cashserver: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OperationFailed as exc:
        print(f"cashserver: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:  # the reader of our output went away (| head)
        # Python flushes stdout once more at exit: point it where a write cannot fail.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:
        if not _is_database_error(exc):
            raise
        print(f"cashserver: database: {str(exc).splitlines()[0]}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_FAILED
    finally:
        set_journal(None)
    return code


if __name__ == "__main__":
    sys.exit(main())
