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

from cashserver.commands import EXIT_OK, UsageError
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
