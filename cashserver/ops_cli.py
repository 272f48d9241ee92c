"""The operations subcommands: ``http hash-password``, ``settings``, ``archive``,
``trim`` and ``trim-dicts`` (SPEC sections 12 and 13).

:func:`add_commands` adds them to the ``cashserver`` parser; the commands
themselves follow :mod:`cashserver.commands`' rules: they return the exit code or
raise ``UsageError`` (2) / ``OperationFailed`` (1).
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable
from typing import Any

from cashserver.commands import EXIT_FAILED, EXIT_OK, OperationFailed, UsageError, print_json
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

    dry_run = argparse.ArgumentParser(add_help=False)
    dry_run.add_argument(
        "--dry-run", action="store_true", help="print what would go; delete nothing, log nothing"
    )
    add("archive", cmd_archive, "archive the spool folders now, today's files included", json_flag)
    add("trim", cmd_trim, "run the database trimmer now", json_flag, dry_run)
    add("trim-dicts", cmd_trim_dicts, "run the dictionary trim now", json_flag, dry_run)


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


# -- the jobs on demand ------------------------------------------------------------


def _keep_events(config: Config) -> None:
    """Open the database so that the events this command logged reach the events
    table when it ends; a job that needs no database still runs without one."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        engine_for(config)
    except SQLAlchemyError as exc:
        print(f"cashserver: events not stored: {str(exc).splitlines()[0]}", file=sys.stderr)


def cmd_archive(config: Config, args: argparse.Namespace) -> int:
    from cashserver.jobs.archive import archive_spool
    from cashserver.jobs.schedule import local_today
    from cashserver.spool import Spool

    done = archive_spool(
        Spool(config.spool_dir),
        config.backup_dir,
        config.jobs.archive_keep_days,
        day=local_today(config),
        everything=True,
    )
    _keep_events(config)
    if args.json:
        print_json(
            {
                "folders": [
                    {
                        "folder": r.folder,
                        "archive": str(r.archive) if r.archive else None,
                        "files": r.files,
                        "names": list(r.names),
                        "already_archived": list(r.already_archived),
                    }
                    for r in done.results
                ],
                "pruned": [str(p) for p in done.pruned],
            }
        )
        return EXIT_OK
    for r in done.results:
        if r.archive is not None:
            print(f"{r.folder}: {r.files} file(s) -> {r.archive}")
        elif not r.already_archived:
            print(f"{r.folder}: nothing to archive")
        if r.already_archived:
            print(f"{r.folder}: {len(r.already_archived)} file(s) already archived, removed")
    for archive in done.pruned:
        print(f"pruned: {archive} (older than {config.jobs.archive_keep_days} days)")
    return EXIT_OK


def cmd_trim(config: Config, args: argparse.Namespace) -> int:
    from cashserver.clock import iso_utc
    from cashserver.jobs.trimmer import TrimmerOff, trim_shifts

    jobs = config.jobs
    try:
        done = trim_shifts(
            engine_for(config),
            jobs.keep_shifts_days,
            jobs.trim_batch_receipts,
            args.dry_run,
            forwarding=bool(config.upstream.target),
        )
    except TrimmerOff as exc:
        print(f"skipped: {exc}")
        return EXIT_FAILED
    if args.json:
        print_json(done.as_json())
        return EXIT_OK
    verb = "would trim" if done.dry_run else "trimmed"
    for c in done.shifts:
        print(
            f"{verb} shift {c.workshift_id}: {c.store_code}/{c.register_code}"
            f" #{c.shift_number}, {c.receipts} receipt(s), last {iso_utc(c.last_receipt_at)}"
        )
    for workshift_id in done.kept:
        print(f"kept shift {workshift_id}: it changed while the trimmer ran")
    print(
        f"{len(done.shifts)} shift(s), {done.receipts} receipt(s) {verb}"
        f" (last receipt before {iso_utc(done.before_ms)})"
        + ("" if done.dry_run else f" in {done.transactions} transaction(s)")
    )
    return EXIT_OK


def cmd_trim_dicts(config: Config, args: argparse.Namespace) -> int:
    from cashserver.jobs.dicts import TRIMMED, daemon_token, trim_dicts

    done = trim_dicts(config, daemon_token(config.data_dir), args.dry_run)
    if not args.dry_run:
        _keep_events(config)
    if args.json:
        print_json(done.as_json())
    elif done.outcome != TRIMMED:
        print(f"{done.outcome}: {done.reason}")
    else:
        verb = "would delete" if done.dry_run else "deleted"
        for relative in done.deleted:
            print(f"{verb}: {os.path.join(done.directory, relative)}")
        for error in done.errors:
            print(f"error: {error}")
        print(
            f"{'would trim' if done.dry_run else 'trimmed'} {done.directory}: {done.files}"
            f" file(s), {done.folders} folder(s), {done.symlinks} symlink(s)"
        )
    return EXIT_OK if done.outcome == TRIMMED and not done.errors else EXIT_FAILED
