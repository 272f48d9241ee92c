"""``cashserver emulator push`` and ``cashserver emulator serve``."""

from __future__ import annotations

import argparse
import signal
import threading
import time
from typing import Any

import orjson

from cashserver.domain import UploadStatus
from cashserver.emulator.generate import ShiftPlan, generate_upload
from cashserver.emulator.history import History
from cashserver.emulator.push import GrpcPusher, Pusher, TlsFiles


class EmulatorError(Exception):
    """The emulator could not do its work (the server is unreachable, a file is missing)."""


def make_pusher(protocol: int, target: str, tls: TlsFiles | None) -> Pusher:
    if protocol == 4:
        return GrpcPusher(target, tls)
    from cashserver.emulator.thrift_push import ThriftPusher

    return ThriftPusher(target, tls)


def add_arguments(push: argparse.ArgumentParser, serve: argparse.ArgumentParser) -> None:
    for parser in (push, serve):
        parser.add_argument("--protocol", type=int, choices=(3, 4), default=4)
        parser.add_argument("--store", required=True, help="store code")
        parser.add_argument("--register", required=True, help="register code")
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
    serve.add_argument("--listen", required=True, metavar="HOST:PORT")
    serve.add_argument("--shifts", type=int, default=60, help="shifts in the history")


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
        pusher = make_pusher(args.protocol, args.target, tls)
    except OSError as exc:
        raise EmulatorError(f"{args.target}: {exc}") from exc
    rows = []
    started = time.monotonic()
    try:
        pusher.handshake(args.store, args.register)
        for number in range(args.first_shift, args.first_shift + args.shifts):
            plan = ShiftPlan(
                args.store,
                args.register,
                number,
                args.receipts,
                args.lines,
                args.seed,
                closed=not args.open,
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


def serve(args: argparse.Namespace) -> int:
    """Serve RegisterSales until SIGINT or SIGTERM."""
    history = History(args.store, args.register, args.shifts, args.receipts, args.lines, args.seed)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    if args.protocol == 4:
        from cashserver.emulator.register_server import serve_register_grpc

        try:
            server, port = serve_register_grpc(args.listen, history)
        except (OSError, RuntimeError) as exc:
            raise EmulatorError(str(exc)) from exc
        print(
            f"RegisterSales (protocol 4) for {args.store}/{args.register} on port {port}",
            flush=True,
        )
        stop.wait()
        server.stop(2).wait()
        return 0
    from cashserver.emulator.thrift_register import serve_register_thrift

    try:
        serve_register_thrift(args.listen, history, stop)
    except OSError as exc:
        raise EmulatorError(str(exc)) from exc
    return 0
