"""``cashserver registers add|set|remove|list`` (SPEC 10): the registers directory."""

from __future__ import annotations

import argparse
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cashserver.config import Config

LIST_KEYS = (
    "store_code",
    "register_code",
    "address",
    "protocol_version",
    "pull_interval_s",
    "timezone",
    "department",
    "state",
    "state_message",
    "state_at",
    "last_load_at",
    "last_sale_at",
    "software_version",
    "last_seen_at",
    "clock_skew_s",
)
TIME_KEYS = ("state_at", "last_load_at", "last_sale_at", "last_seen_at")
TABLE_COLUMNS = (
    ("store_code", "store"),
    ("register_code", "register"),
    ("address", "address"),
    ("protocol_version", "protocol"),
    ("pull_interval_s", "interval (s)"),
    ("state", "state"),
    ("state_at", "state at (UTC)"),
    ("last_load_at", "last load (UTC)"),
    ("last_sale_at", "last sale (UTC)"),
    ("clock_skew_s", "clock skew (s)"),
    ("state_message", "message"),
)


def _address(text: str) -> str | None:
    if text == "":
        return None
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return text


def _protocol(text: str) -> int | None:
    if text == "":
        return None
    if text not in ("3", "4"):
        raise argparse.ArgumentTypeError(f"expected 3 or 4, got {text!r}")
    return int(text)


def _interval(text: str) -> int | None:
    if text == "":
        return None
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected seconds >= 0, got {text!r}")
    return int(text)


def _timezone(text: str) -> str | None:
    if text == "":
        return None
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise argparse.ArgumentTypeError(f"unknown time zone {text!r}") from None
    return text


def _text(limit: int) -> Any:
    def parse(text: str) -> str | None:
        if len(text) > limit:
            raise argparse.ArgumentTypeError(f"at most {limit} characters")
        return text or None

    return parse


OPTIONS: tuple[tuple[str, str, Any, str, str], ...] = (
    (
        "--address",
        "address",
        _address,
        "HOST:PORT of its RegisterSales (empty: not pulled)",
        "HOST:PORT",
    ),
    ("--protocol", "protocol_version", _protocol, "3 or 4 (empty: the [registers] default)", "3|4"),
    ("--pull-interval", "pull_interval_s", _interval, "seconds (0: never on schedule)", "S"),
    ("--timezone", "timezone", _timezone, "IANA time zone (empty: its store's)", "TZ"),
    ("--department", "department", _text(64), "for [reports] load_mode = register", "D"),
    ("--tls-ca", "tls_ca", _text(1024), "CA file to trust for its RegisterSales (protocol 4)", "F"),
    ("--tls-cert", "tls_cert", _text(1024), "client certificate file", "F"),
    ("--tls-key", "tls_key", _text(1024), "client key file", "F"),
)


def add_parsers(registers: Any, add: Any, json_flag: argparse.ArgumentParser) -> None:
    """The ``registers`` subcommands; ``add`` makes a subcommand with the common options."""
    reg_add = add("add", cmd_registers_add, "add a register to the directory", into=registers)
    reg_set = add(
        "set", cmd_registers_set, "change a register (an empty value clears)", into=registers
    )
    for command in (reg_add, reg_set):
        command.add_argument("store")
        command.add_argument("register")
        for flag, dest, kind, help_text, metavar in OPTIONS:
            command.add_argument(
                flag,
                dest=dest,
                type=kind,
                metavar=metavar,
                default=argparse.SUPPRESS,
                help=help_text,
            )
    remove = add(
        "remove", cmd_registers_remove, "remove a register (its shifts stay)", into=registers
    )
    remove.add_argument("store")
    remove.add_argument("register")
    listing = add("list", cmd_registers_list, "list the registers", json_flag, into=registers)
    listing.add_argument("--store", help="only this store")


def _codes(args: argparse.Namespace) -> tuple[str, str]:
    from cashserver.commands import UsageError
    from cashserver.validate import ValidationError, check_code

    for what, code in (("STORE", args.store), ("REGISTER", args.register)):
        try:
            check_code(code, what)
        except ValidationError as exc:
            raise UsageError(f"{what} {code!r}: {exc.message}") from None
    return args.store, args.register


def _fields(args: argparse.Namespace) -> dict[str, Any]:
    return {dest: getattr(args, dest) for _, dest, _, _, _ in OPTIONS if hasattr(args, dest)}


def _directory(config: Config) -> Any:
    from cashserver.commands import _engine
    from cashserver.store.registers import Registers

    return Registers(_engine(config))


def cmd_registers_add(config: Config, args: argparse.Namespace) -> int:
    from cashserver.commands import EXIT_OK, OperationFailed

    store, register = _codes(args)
    if not _directory(config).add_entry(store, register, _fields(args)):
        raise OperationFailed(f"register {store}/{register} exists (change it with registers set)")
    print(f"register {store}/{register} added")
    return EXIT_OK


def cmd_registers_set(config: Config, args: argparse.Namespace) -> int:
    from cashserver.commands import EXIT_OK, OperationFailed

    store, register = _codes(args)
    fields = _fields(args)
    if not _directory(config).update_entry(store, register, fields):
        raise OperationFailed(f"register {store}/{register} is not in the directory")
    changed = ", ".join(sorted(fields)) or "nothing"
    print(f"register {store}/{register} changed: {changed}")
    return EXIT_OK


def cmd_registers_remove(config: Config, args: argparse.Namespace) -> int:
    from cashserver.commands import EXIT_OK, OperationFailed

    store, register = _codes(args)
    if not _directory(config).remove_entry(store, register):
        raise OperationFailed(f"register {store}/{register} is not in the directory")
    print(f"register {store}/{register} removed (its stored shifts stay)")
    return EXIT_OK


def register_rows(config: Config, store_code: str | None = None) -> list[dict[str, Any]]:
    """``registers list --json`` rows (SPEC 10): values as stored, times ISO 8601 UTC."""
    from cashserver.clock import iso_utc
    from cashserver.commands import _engine
    from cashserver.store.reading import Reader

    rows = []
    for info in Reader(_engine(config), config).registers(store_code):
        row = {key: getattr(info, key) for key in LIST_KEYS}
        for key in TIME_KEYS:
            row[key] = iso_utc(row[key])
        rows.append(row)
    return rows


def cmd_registers_list(config: Config, args: argparse.Namespace) -> int:
    from cashserver.commands import EXIT_OK, print_json, print_table

    rows = register_rows(config, args.store)
    if args.json:
        print_json(rows)
    else:
        print_table(rows, TABLE_COLUMNS)
    return EXIT_OK
