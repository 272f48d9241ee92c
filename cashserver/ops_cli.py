"""The operations subcommands: ``http hash-password``, ``settings``, ``archive``,
``trim`` and ``trim-dicts`` (SPEC sections 12 and 13).

:func:`add_commands` adds them to the ``cashserver`` parser; the commands
themselves follow :mod:`cashserver.commands`' rules: they return the exit code or
raise ``UsageError`` (2) / ``OperationFailed`` (1).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from typing import Any

from cashserver.commands import EXIT_OK, OperationFailed, UsageError, print_json
from cashserver.commands import _engine as engine_for
from cashserver.config import Config

Add = Callable[..., Any]


def add_commands(sub: Any, add: Add, json_flag: argparse.ArgumentParser) -> None:
    http = sub.add_parser("http", help="the admin HTTP listener").add_subparsers(
        dest="http_command", required=True, metavar="COMMAND"
    )
    add(
        "hash-password",
        cmd_http_hash_password,
        "print a password_hash for [http] (the password from standard input, or asked)",
        into=http,
    )

    settings = sub.add_parser("settings", help="key/value settings").add_subparsers(
        dest="settings_command", required=True, metavar="COMMAND"
    )
    add("list", cmd_settings_list, "print every setting", json_flag, into=settings)
    get = add("get", cmd_settings_get, "print one setting's value", into=settings)
    get.add_argument("key", metavar="KEY")
    put = add("set", cmd_settings_set, "create or replace a setting", into=settings)
    put.add_argument("key", metavar="KEY")
    put.add_argument("value", metavar="VALUE")
    unset = add("unset", cmd_settings_unset, "remove a setting", into=settings)
    unset.add_argument("key", metavar="KEY")


def read_new_password() -> str:
    """The password from a terminal (asked twice) or the first line of standard input."""
    if sys.stdin.isatty():
        first = getpass.getpass("New console password: ")
        if getpass.getpass("Again: ") != first:
            raise UsageError("the two passwords differ")
        password = first
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise UsageError("empty password")
    return password


def cmd_http_hash_password(_config: Config, _args: argparse.Namespace) -> int:
    from cashserver.http.passwords import hash_password

    print(hash_password(read_new_password()))
    return EXIT_OK


def _settings(config: Config) -> Any:
    from cashserver.store.settings import Settings

    return Settings(engine_for(config))


def _checked_key(key: str) -> str:
    from cashserver.store.settings import BadSettingKey, check_key

    try:
        return check_key(key)
    except BadSettingKey as exc:
        raise UsageError(str(exc)) from None


def cmd_settings_list(config: Config, args: argparse.Namespace) -> int:
    values: dict[str, str] = _settings(config).all()
    if args.json:
        print_json(values)
    elif not values:
        print("(no settings)")
    else:
        width = max(len(key) for key in values)
        for key, value in values.items():
            print(f"{key:<{width}}  {value}")
    return EXIT_OK


def cmd_settings_get(config: Config, args: argparse.Namespace) -> int:
    value = _settings(config).get(_checked_key(args.key))
    if value is None:
        raise OperationFailed(f"no setting {args.key!r}")
    print(value)
    return EXIT_OK


def cmd_settings_set(config: Config, args: argparse.Namespace) -> int:
    from cashserver.log import get_logger

    _settings(config).set(_checked_key(args.key), args.value)
    get_logger(__name__).info("settings.changed", key=args.key, via="cli")
    print(f"{args.key} = {args.value}")
    return EXIT_OK


def cmd_settings_unset(config: Config, args: argparse.Namespace) -> int:
    from cashserver.log import get_logger

    if not _settings(config).unset(_checked_key(args.key)):
        raise OperationFailed(f"no setting {args.key!r}")
    get_logger(__name__).info("settings.removed", key=args.key, via="cli")
    print(f"{args.key} removed")
    return EXIT_OK
