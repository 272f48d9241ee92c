"""``cashserver emulator push`` and ``cashserver emulator serve``."""

from __future__ import annotations

import argparse
import signal
import threading
import time
from datetime import UTC, date, datetime
from typing import Any

import orjson

from cashserver.clock import DAY_MS, now_ms
from cashserver.domain import UploadStatus
from cashserver.emulator.generate import ShiftPlan, day_one_ending_at, generate_upload
from cashserver.emulator.history import History
from cashserver.emulator.push import GrpcPusher, Pusher, TlsFiles


class EmulatorError(Exception):
    """The emulator could not do its work (the server is unreachable, a file is missing)."""


def make_pusher(
    protocol: int, target: str, tls: TlsFiles | None, clock_offset_s: float | None = 0.0
) -> Pusher:
    """A register of ``protocol``; ``clock_offset_s``: how far its clock is off (None: an
    older register that sends no ``register_time``)."""
    if protocol == 4:
        return GrpcPusher(target, tls, clock_offset_s=clock_offset_s)
    from cashserver.emulator.thrift_push import ThriftPusher

    return ThriftPusher(target, tls, clock_offset_s=clock_offset_s)


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD, got {text!r}") from None


def day_one(first_date: date | None, first_shift: int, last_shift: int) -> int:
    """The plans' ``day_one_ms``: shift ``first_shift`` opens at 08:00 UTC on
    ``first_date``; without one, shift ``last_shift`` closes shortly before now."""
    if first_date is None:
        return day_one_ending_at(now_ms(), last_shift)
    midnight = datetime(first_date.year, first_date.month, first_date.day, tzinfo=UTC)
    return int(midnight.timestamp()) * 1000 - (first_shift - 1) * DAY_MS


def add_arguments(push: argparse.ArgumentParser, serve: argparse.ArgumentParser) -> None:
    for parser, first in ((push, "the first pushed shift"), (serve, "shift 1")):
        parser.add_argument(
            "--first-date",
            type=_date,
            metavar="DATE",
            help=f"{first} opens at 08:00 UTC on DATE, the next ones a day apart"
            " (default: dated so that the last shift closed a few minutes ago)",
        )
    for parser in (push, serve):
        parser.add_argument("--protocol", type=int, choices=(3, 4), default=4)
        parser.add_argument("--store", required=True, help="store code")
        parser.add_argument(
            "--register", required=parser is push, help="register code (serve: one register)"
        )
        parser.add_argument("--seed", type=int, default=0, help="same seed, same sales")
        parser.add_argument("--receipts", type=int, default=100, help="receipts a shift")
        parser.add_argument("--lines", type=int, default=3, help="average lines a receipt")
    push.add_argument("--target", required=True, metavar="HOST:PORT")
    push.add_argument("--shifts", type=int, default=1, help="how many shifts to push")
    push.add_argument("--first-shift", type=int, default=1, help="number of the first shift")
    push.add_argument("--open", action="store_true", help="leave the shifts open (no close)")
    push.add_argument("--tls-ca", default="", help="CA certificate to trust (turns TLS on)")
    push.add_argument("--tls-cert", default="", help="client certificate (mutual TLS)")
    push.add_argument("--tls-key", default="", help="client key (mutual TLS)")
    push.add_argument("--json", action="store_true", help="print results as one JSON document")
    clock = push.add_mutually_exclusive_group()
    clock.add_argument(
        "--clock-offset-s",
        type=float,
        default=0.0,
        metavar="S",
        help="the register's clock runs S seconds ahead (negative: behind) in its handshake",
    )
    clock.add_argument(
        "--no-register-time",
        dest="clock_offset_s",
        action="store_const",
        const=None,
        help="send no register_time in the handshake, as older registers do",
    )
    serve.add_argument(
        "--listen",
        required=True,
        metavar="HOST:PORT",
        help="where to listen; with --registers N, registers R1..RN on PORT..PORT+N-1",
    )
    serve.add_argument("--shifts", type=int, default=60, help="shifts in the history")
    serve.add_argument("--registers", type=int, default=0, metavar="N", help="serve R1..RN")
    serve.add_argument(
        "--hang", action="append", default=[], metavar="REGISTER", help="never answers"
    )
    serve.add_argument(
        "--fail", action="append", default=[], metavar="REGISTER", help="answers an error"
    )
    serve.add_argument(
        "--delay", type=float, default=0.0, metavar="S", help="every answer waits S seconds"
    )


def _result_row(number: int, result: Any) -> dict[str, Any]:
    return {
        "shift_number": number,
        "status": result.status.name,
        "workshift_id": result.workshift_id,
        "receipts_received": result.receipts_received,
        "receipts_stored": result.receipts_stored,
        "receipts_duplicate": result.receipts_duplicate,
        "message": result.message,
    }


def push(args: argparse.Namespace) -> int:
    """Push generated shifts; exit 1 if any was rejected or the server failed."""
    tls = TlsFiles(args.tls_ca, args.tls_cert, args.tls_key) if args.tls_ca else None
    try:
        pusher = make_pusher(args.protocol, args.target, tls, args.clock_offset_s)
    except OSError as exc:
        raise EmulatorError(f"{args.target}: {exc}") from exc
    rows = []
    started = time.monotonic()
    last = args.first_shift + args.shifts - 1
    day_one_ms = day_one(args.first_date, args.first_shift, last)
    try:
        pusher.handshake(args.store, args.register)
        for number in range(args.first_shift, last + 1):
            plan = ShiftPlan(
                args.store,
                args.register,
                number,
                args.receipts,
                args.lines,
                args.seed,
                closed=not args.open,
                day_one_ms=day_one_ms,
            )
            row = _result_row(number, pusher.upload(generate_upload(plan)))
            rows.append(row)
            if not args.json:
                print(
                    f"shift {number}: {row['status']} workshift_id={row['workshift_id']}"
                    f" received={row['receipts_received']} stored={row['receipts_stored']}"
                    f" duplicate={row['receipts_duplicate']}"
                    + (f" ({row['message']})" if row["message"] else "")
                )
    except Exception as exc:
        raise EmulatorError(f"push to {args.target} failed: {_describe(exc)}") from exc
    finally:
        pusher.close()
    elapsed = time.monotonic() - started
    received = sum(r["receipts_received"] for r in rows)
    summary = {
        "shifts": len(rows),
        "receipts": received,
        **{s.name.lower(): sum(r["status"] == s.name for r in rows) for s in UploadStatus},
        "stored": sum(r["receipts_stored"] for r in rows),
        "duplicate": sum(r["receipts_duplicate"] for r in rows),
        "seconds": round(elapsed, 3),
        "receipts_per_second": round(received / elapsed) if elapsed else None,
    }
    if args.json:
        print(
            orjson.dumps({"results": rows, "summary": summary}, option=orjson.OPT_INDENT_2).decode()
        )
    else:
        print(
            f"{summary['shifts']} shifts, {received} receipts: {summary['loaded']} loaded,"
            f" {summary['queued']} queued, {summary['rejected']} rejected;"
            f" {summary['stored']} stored, {summary['duplicate']} duplicate"
            f" in {elapsed:.2f} s"
        )
    return 1 if summary["rejected"] else 0


def _describe(exc: Exception) -> str:
    details = getattr(exc, "details", None)
    code = getattr(exc, "code", None)
    if callable(details) and callable(code):
        return f"{code().name}: {details()}"
    return f"{type(exc).__name__}: {exc}"


def _fleet(args: argparse.Namespace) -> list[Any]:
    from cashserver.emulator.register_fleet import Behaviour, Register

    if args.registers < 0 or (args.registers == 0) == (args.register is None):
        raise EmulatorError("give either --register R or --registers N")
    codes = [args.register] if args.register else [f"R{i}" for i in range(1, args.registers + 1)]
    for code in (*args.hang, *args.fail):
        if code not in codes:
            raise EmulatorError(f"--hang/--fail {code}: not one of the served registers")
    day_one_ms = day_one(args.first_date, 1, args.shifts)
    return [
        Register(
            History(
                args.store, code, args.shifts, args.receipts, args.lines, args.seed, day_one_ms
            ),
            Behaviour(code in args.hang, code in args.fail, args.delay),
        )
        for code in codes
    ]


def serve(args: argparse.Namespace) -> int:
    """Serve RegisterSales until SIGINT or SIGTERM; print the ``registers add`` commands."""
    from cashserver.emulator.register_fleet import serve_grpc, serve_thrift

    registers = _fleet(args)
    host, _, port_text = args.listen.rpartition(":")
    if not host or not port_text.isdigit():
        raise EmulatorError(f"--listen: expected HOST:PORT, got {args.listen!r}")
    base_port = int(port_text)
    if base_port == 0 and len(registers) > 1:
        raise EmulatorError("--listen: a fleet needs a base port, not 0")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    def started(ports: list[int]) -> None:
        span = f"{ports[0]}" if len(ports) == 1 else f"{ports[0]}-{ports[-1]}"
        print(
            f"RegisterSales (protocol {args.protocol}) for {len(ports)} register(s) of"
            f" {args.store} on {host} port {span}; add them with:",
            flush=True,
        )
        for register, port in zip(registers, ports, strict=True):
            print(
                f"cashserver registers add {args.store} {register.code}"
                f" --address {host}:{port} --protocol {args.protocol}",
                flush=True,
            )

    run = serve_grpc if args.protocol == 4 else serve_thrift
    try:
        run(host, base_port, registers, stop, started)
    except OSError as exc:
        raise EmulatorError(str(exc)) from exc
    return 0
