"""``cashserver spool show|status|retry``: the sales file spool."""

from __future__ import annotations

import argparse
from pathlib import Path

from cashserver.cli.common import EXIT_OK, OperationFailed, print_json, print_table
from cashserver.config import Config


def cmd_spool_show(_config: Config, args: argparse.Namespace) -> int:
    from cashserver.sales_file import BrokenSalesFile, decode_sales_file, upload_as_json

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
