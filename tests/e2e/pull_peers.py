"""Registers to pull from in the end-to-end tests: the emulator fleet as a subprocess,
and the totals a register's history should reconcile to."""

from __future__ import annotations

import json
import random
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from cashserver.domain import Upload
from cashserver.reconcile import compute_totals
from tests.e2e.daemon import cli_env

TOTAL_KEYS = (
    "receipts_count",
    "sales_cash",
    "sales_noncash",
    "returns_cash",
    "returns_noncash",
    "revenue_cash",
    "revenue_noncash",
    "drawer",
    "cash_in",
    "cash_out",
)


def free_port_range(count: int) -> int:
    """A base port with ``count`` free ports from it on 127.0.0.1."""
    for _ in range(200):
        base = random.randint(20000, 60000 - count)
        sockets = []
        try:
            for port in range(base, base + count):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise AssertionError(f"no {count} free ports in a row")


@dataclass
class Fleet:
    commands: list[str]
    """The ``registers add`` command lines the emulator printed."""
    base_port: int

    def address(self, index: int) -> str:
        return f"127.0.0.1:{self.base_port + index}"


@contextmanager
def emulator_fleet(*args: str, registers: int = 1, protocol: int = 4) -> Iterator[Fleet]:
    """``cashserver emulator serve --registers N`` on free ports, until the block ends."""
    base = free_port_range(registers)
    argv = [
        sys.executable, "-m", "cashserver.cli", "emulator", "serve",
        "--registers", str(registers), "--listen", f"127.0.0.1:{base}",
        "--protocol", str(protocol), *args,
    ]  # fmt: skip
    process = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env()
    )
    try:
        assert process.stdout is not None
        header = process.stdout.readline()
        assert "RegisterSales" in header, header + (process.stderr.read() if process.stderr else "")
        commands = [process.stdout.readline().strip() for _ in range(registers)]
        yield Fleet(commands, base)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def add_fleet(cli: Callable[..., Any], fleet: Fleet, *extra: str) -> None:
    for line in fleet.commands:
        words = line.split()
        assert words[:3] == ["cashserver", "registers", "add"], line
        cli(*words[1:], *extra)


def totals(upload: Upload) -> dict[str, int]:
    t = compute_totals(upload.receipts)
    return {key: getattr(t, key) for key in TOTAL_KEYS}


def stored_totals(rows: Iterable[dict[str, Any]]) -> dict[tuple[str, int], dict[str, int]]:
    """``shifts --json`` rows as (register_code, shift_number) -> section 7 totals."""
    return {(r["register_code"], r["shift_number"]): {k: r[k] for k in TOTAL_KEYS} for r in rows}


def pull_json(cli: Callable[..., Any], *args: str) -> tuple[int, dict[str, Any]]:
    result = cli("pull", *args, "--json", check=False)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout)
