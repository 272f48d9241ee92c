"""``cashserver serve`` (the daemon) and ``cashserver db upgrade``."""

from __future__ import annotations

import argparse
import os

from cashserver.cli.common import EXIT_OK, open_store
from cashserver.config import Config


def cmd_serve(config: Config, _args: argparse.Namespace) -> int:
    if config.grpc.tls_cert:
        # Before grpc is imported: its core reads the log level once, at start.
        from cashserver.rpc.tls_log import request_core_info_logs

        request_core_info_logs(os.environ)
    from cashserver.daemon import Daemon, default_listeners

    return Daemon(config, default_listeners(config)).run()


def cmd_db_upgrade(config: Config, _args: argparse.Namespace) -> int:
    open_store(config)
    print(f"database is at the latest schema: {config.database_url}")
    return EXIT_OK
