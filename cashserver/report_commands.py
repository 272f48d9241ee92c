"""``cashserver report stores`` and ``cashserver report departments`` (SPEC 11)."""

from __future__ import annotations

import argparse
from typing import Any

from cashserver.commands import (
    EXIT_OK,
    OperationFailed,
    _engine,
    parse_date,
    print_json,
    print_table,
)
from cashserver.config import Config
from cashserver.money import format_money

STORE_DAY_COLUMNS = (
    ("store_code", "store"),
    ("date", "date"),
    ("registers_count", "registers"),
    ("shifts_count", "shifts"),
    ("receipts_count", "receipts"),
    ("sales_cash", "sales cash"),
    ("sales_noncash", "sales noncash"),
    ("returns_cash", "returns cash"),
    ("returns_noncash", "returns noncash"),
    ("revenue_cash", "revenue cash"),
    ("revenue_noncash", "revenue noncash"),
    ("cash_in", "cash in"),
    ("cash_out", "cash out"),
    ("drawer", "drawer"),
    ("complete", "complete"),
    ("open_shifts", "open shifts"),
    ("problem_shifts", "problem shifts"),
)
DEPARTMENT_COLUMNS = (
    ("department", "department"),
    ("receipts_count", "receipts"),
    ("quantity_sold", "qty sold"),
    ("quantity_returned", "qty returned"),
    ("sales", "sales"),
    ("returns", "returns"),
    ("revenue", "revenue"),
)
MONEY_KEYS = frozenset(
    {
        "sales_cash",
        "sales_noncash",
        "returns_cash",
        "returns_noncash",
        "revenue_cash",
        "revenue_noncash",
        "cash_in",
        "cash_out",
        "drawer",
        "sales",
        "returns",
        "revenue",
    }
)
QUANTITY_KEYS = frozenset({"quantity_sold", "quantity_returned"})


def quantity(thousandths: int) -> str:
    sign = "-" if thousandths < 0 else ""
    whole, part = divmod(abs(thousandths), 1000)
    return f"{sign}{whole}.{part:03d}"


def for_people(row: dict[str, Any]) -> dict[str, Any]:
    shown = dict(row)
    for key, value in row.items():
        if key in MONEY_KEYS:
            shown[key] = format_money(value)
        elif key in QUANTITY_KEYS:
            shown[key] = quantity(value)
    return shown


def cmd_report_stores(config: Config, args: argparse.Namespace) -> int:
    from cashserver.reports import Reports

    rows = Reports(_engine(config), config).store_days(args.store, args.date_from, args.date_to)
    if args.json:
        print_json(rows)
    else:
        print_table([for_people(r) for r in rows], STORE_DAY_COLUMNS)
    return EXIT_OK


def cmd_report_departments(config: Config, args: argparse.Namespace) -> int:
    from cashserver.reports import Reports

    report = Reports(_engine(config), config).departments(args.workshift_id)
    if report is None:
        raise OperationFailed(f"no shift {args.workshift_id}")
    if args.json:
        print_json(report)
        return EXIT_OK
    print(f"shift {report['workshift_id']}, departments by {report['load_mode']}")
    rows = [for_people(r) for r in report["departments"]]
    total = for_people({"department": "TOTAL", **report["total"]})
    print_table([*rows, total] if rows else [], DEPARTMENT_COLUMNS)
    return EXIT_OK


def add_report_commands(sub: Any, common: Any, json_flag: Any) -> None:
    """The ``report`` subcommands, on the main parser's subparsers."""
    report = sub.add_parser("report", help="reports: store days, departments").add_subparsers(
        dest="report_command", required=True, metavar="REPORT"
    )
    stores = report.add_parser(
        "stores", parents=[common, json_flag], help="one row per store and local sales date"
    )
    stores.set_defaults(handler=cmd_report_stores)
    stores.add_argument("--store", help="only this store")
    for flag, dest, what in (
        ("--from", "date_from", "on or after this local date (YYYY-MM-DD)"),
        ("--to", "date_to", "before this local date (YYYY-MM-DD)"),
    ):
        stores.add_argument(flag, dest=dest, type=parse_date, metavar="DATE", help=what)
    departments = report.add_parser(
        "departments", parents=[common, json_flag], help="a shift's sales by department"
    )
    departments.set_defaults(handler=cmd_report_departments)
    departments.add_argument("workshift_id", type=int, metavar="WORKSHIFT_ID")
