"""``cashserver upstream status`` and ``cashserver forward`` (SPEC 15).

``forward`` sends the chosen shifts now, whole, from this process. It is safe beside a
running daemon (or several): each shift is sent holding its register's forwarding
lease, the same one the daemons' forwarders take, so a register's shifts still go one
at a time and an acknowledgement is recorded only by the lease's holder. A register
whose lease a daemon holds is waited for (its forwarding of one register's backlog
is short); one held longer is reported failed for that shift.
"""

from __future__ import annotations

import argparse
from typing import Any

from cashserver.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    UsageError,
    open_store,
    parse_date,
    print_json,
)
from cashserver.config import Config

LEASE_WAIT_FACTOR = 2.0


def add_commands(sub: Any, add: Any, json_flag: argparse.ArgumentParser) -> None:
    upstream = sub.add_parser("upstream", help="forwarding to the central server").add_subparsers(
        dest="upstream_command", required=True, metavar="COMMAND"
    )
    add("status", cmd_upstream_status, "the forwarding backlog and state", json_flag, into=upstream)
    forward = add("forward", cmd_forward, "send shifts to the central server now", json_flag)
    forward.add_argument("workshift_ids", nargs="*", type=int, metavar="WORKSHIFT_ID")
    forward.add_argument("--store", help="every shift of this store")
    forward.add_argument("--from", dest="date_from", type=parse_date, metavar="DATE")
    forward.add_argument("--to", dest="date_to", type=parse_date, metavar="DATE")
    forward.add_argument("--rejected", action="store_true", help="retry the set-aside shifts")


def cmd_upstream_status(config: Config, args: argparse.Namespace) -> int:
    from cashserver.forward.status import upstream_status

    document = upstream_status(open_store(config), config, with_rejected=args.json)
    if args.json:
        print_json(document)
        return EXIT_OK
    width = max(len(key) for key in document)
    for key, value in document.items():
        print(f"{key:<{width}}  {'-' if value is None else value}")
    return EXIT_OK


def _chosen(config: Config, args: argparse.Namespace, engine: Any) -> list[int]:
    from cashserver.store.forwards import Forwards
    from cashserver.store.reading import Reader, ShiftFilter

    kinds = sum((bool(args.workshift_ids), args.store is not None, args.rejected))
    if kinds != 1:
        raise UsageError("forward: name WORKSHIFT_ID..., or --store S, or --rejected (one)")
    if (args.date_from or args.date_to) and args.store is None:
        raise UsageError("forward: --from and --to go with --store")
    if args.rejected:
        return Forwards(engine).set_aside_ids()
    if args.store is not None:
        flt = ShiftFilter(args.store, None, args.date_from, args.date_to)
        return [int(row["workshift_id"]) for row in Reader(engine, config).shift_rows(flt)]
    return list(dict.fromkeys(args.workshift_ids))


def cmd_forward(config: Config, args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from cashserver.forward.forwarder import JOB, Forwarder
    from cashserver.store.leases import Leases
    from cashserver.store.schema import shifts

    if not config.upstream.target:
        raise UsageError("forward: no [upstream] target is configured")
    engine = open_store(config)
    ids = _chosen(config, args, engine)
    with engine.connect() as conn:
        query = select(shifts.c.workshift_id, shifts.c.register_id).where(
            shifts.c.workshift_id.in_(ids)
        )
        registers = {int(ws): int(reg) for ws, reg in conn.execute(query)}
    cluster = config.cluster
    leases = Leases(engine, f"{cluster.node_name}/forward-command", cluster.lease_ttl_s)
    forwarder = Forwarder(engine, config, leases)
    leases.start()
    rows: list[dict[str, Any]] = []
    try:
        for workshift_id in ids:
            rows.append(_forward_one(forwarder, leases, JOB, workshift_id, registers))
            if not args.json:
                row = rows[-1]
                central = row["central_workshift_id"] or "-"
                print(
                    f"shift {workshift_id}: {row['status']} central_workshift_id={central}"
                    f" receipts_sent={row['receipts_sent']}"
                    + (f" {row['message']}" if row["message"] else "")
                )
    finally:
        leases.stop()
        forwarder.link.close()
    summary = {
        "shifts": len(rows),
        "acknowledged": sum(1 for r in rows if r["status"] == "acknowledged"),
        "rejected": sum(1 for r in rows if r["status"] == "rejected"),
        "failed": sum(1 for r in rows if r["status"] == "failed"),
    }
    if args.json:
        print_json({"shifts": rows, "summary": summary})
    else:
        print(
            f"{summary['shifts']} shift(s): {summary['acknowledged']} acknowledged,"
            f" {summary['rejected']} rejected, {summary['failed']} failed"
        )
    return EXIT_OK if summary["acknowledged"] == summary["shifts"] else EXIT_FAILED


def _forward_one(
    forwarder: Any, leases: Any, job: str, workshift_id: int, registers: dict[int, int]
) -> dict[str, Any]:
    from cashserver.forward.link import Result

    row: dict[str, Any] = {
        "workshift_id": workshift_id,
        "status": "failed",
        "central_workshift_id": None,
        "receipts_sent": 0,
        "message": "",
    }
    register_id = registers.get(workshift_id)
    if register_id is None:
        row["message"] = "no such shift"
        return row
    # A daemon may forward this register now; its lease ends within a time to live.
    timeout_s = LEASE_WAIT_FACTOR * leases.ttl_ms / 1000
    lease = leases.acquire_within(job, str(register_id), timeout_s)
    if lease is None:
        row["message"] = "another server is forwarding this register"
        return row
    try:
        sent = forwarder.forward_shift(workshift_id, lease, whole=True)
    finally:
        leases.release(lease)
    answer = sent.answer
    row["status"] = str(answer.result)
    row["central_workshift_id"] = answer.central_workshift_id or None
    row["receipts_sent"] = answer.receipts_sent
    row["message"] = answer.message
    if answer.result is Result.ACKNOWLEDGED:
        row["message"] = answer.status
    return row
