"""``cashserver pull`` (SPEC 10): pull registers now, for a time range or a shift range.

Targets are ``STORE/REGISTER...``, ``--store S`` or ``--all``. ``--from/--to``
take ``YYYY-MM-DD`` (midnight) or ISO 8601 (without an offset: local time), both
in each register's time zone. A time range of ``confirm_days`` or more asks
``[y/N]`` on a terminal and, without one, refuses (exit 2) unless ``--yes``.
Who loads the shifts, the running daemon or this command, see :mod:`cashserver.pull.handoff`.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from cashserver.cli.progress import Progress
from cashserver.clock import DAY_MS, local_midnight_ms, parse_iso_ms
from cashserver.config import Config
from cashserver.domain import SalesQuery, ShiftRange, TimeRange

if TYPE_CHECKING:  # the runner loads the store: only when a pull runs
    from cashserver.pull.runner import PullResult, PullTarget

LOCK_WAIT_MARGIN_S = 5.0


def _when(text: str) -> str:
    """Check WHEN's form now; its instant depends on each register's time zone."""
    try:
        if len(text) == 10:
            date.fromisoformat(text)
        else:
            datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD or ISO 8601, got {text!r}") from None
    return text


def instant_ms(text: str, zone: ZoneInfo) -> int:
    """WHEN in ``zone``: a date is its local midnight; a time without offset is local."""
    if len(text) == 10:
        return local_midnight_ms(date.fromisoformat(text), zone)
    return parse_iso_ms(text, zone)


def _shifts(text: str) -> ShiftRange:
    first, sep, last = text.partition("-")
    try:
        query = ShiftRange(int(first), int(last) if sep else int(first))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected A-B (shift numbers), got {text!r}") from None
    if query.from_shift < 1 or query.to_shift < query.from_shift:
        raise argparse.ArgumentTypeError(f"expected 1 <= A <= B, got {text!r}")
    return query


def add_parser(sub: Any, add: Any, json_flag: argparse.ArgumentParser) -> None:
    pull = add("pull", cmd_pull, "pull registers now for a time or shift range", json_flag)
    pull.add_argument("targets", nargs="*", metavar="STORE/REGISTER")
    pull.add_argument("--store", help="every register of this store")
    pull.add_argument("--all", action="store_true", help="every register in the directory")
    pull.add_argument("--from", dest="when_from", type=_when, metavar="WHEN")
    pull.add_argument("--to", dest="when_to", type=_when, metavar="WHEN")
    pull.add_argument("--shifts", type=_shifts, metavar="A-B", help="shift numbers, inclusive")
    pull.add_argument("--yes", action="store_true", help="no confirmation for a long range")


def _select(config: Config, args: argparse.Namespace) -> tuple[list[PullTarget], list[str]]:
    """The targets to pull, and the names of those skipped (no address)."""
    from cashserver.cli.common import UsageError, open_store
    from cashserver.pull.runner import target_of
    from cashserver.store.reading import Reader

    kinds = sum((bool(args.targets), args.store is not None, args.all))
    if kinds != 1:
        raise UsageError("pull: name STORE/REGISTER..., or --store S, or --all (one of them)")
    registers = Reader(open_store(config), config).registers()
    if args.targets:
        by_name = {f"{r.store_code}/{r.register_code}": r for r in registers}
        missing = [name for name in args.targets if name not in by_name]
        if missing:
            raise UsageError(f"not in the registers directory: {', '.join(missing)}")
        chosen = [by_name[name] for name in dict.fromkeys(args.targets)]
    elif args.store is not None:
        chosen = [r for r in registers if r.store_code == args.store]
        if not chosen:
            raise UsageError(f"store {args.store!r} has no registers in the directory")
    else:
        chosen = registers
    targets, skipped = [], []
    for info in chosen:
        target = target_of(info, config)
        if target is None:
            skipped.append(f"{info.store_code}/{info.register_code}")
        else:
            targets.append(target)
    return targets, skipped


def _queries(args: argparse.Namespace, targets: list[PullTarget]) -> list[SalesQuery]:
    from cashserver.cli.common import UsageError

    if args.shifts is not None:
        if args.when_from or args.when_to:
            raise UsageError("pull: give --from/--to or --shifts, not both")
        return [args.shifts for _ in targets]
    if not (args.when_from and args.when_to):
        raise UsageError("pull: give --from WHEN --to WHEN, or --shifts A-B")
    queries: list[SalesQuery] = []
    for target in targets:
        zone = ZoneInfo(target.timezone)
        query = TimeRange(instant_ms(args.when_from, zone), instant_ms(args.when_to, zone))
        if query.to_ms <= query.from_ms:
            raise UsageError("pull: --to must be after --from")
        queries.append(query)
    return queries


def _confirmed(config: Config, args: argparse.Namespace, queries: list[SalesQuery]) -> bool:
    """Whether to go on: asks on a terminal for a long range; raises UsageError without."""
    from cashserver.cli.common import UsageError

    spans = [q.to_ms - q.from_ms for q in queries if isinstance(q, TimeRange)]
    if not spans or max(spans) < config.pull.confirm_days * DAY_MS or args.yes:
        return True
    days = max(spans) / DAY_MS
    shown = f"{days:.0f}" if days == int(days) else f"{days:.1f}"
    question = f"Pull {shown} days of sales from {len(queries)} registers? [y/N] "
    if not sys.stdin.isatty():
        raise UsageError(
            f"pull: {shown} days from {len(queries)} registers needs confirmation:"
            " run it on a terminal, or give --yes"
        )
    sys.stdout.write(question)
    sys.stdout.flush()
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")


def result_line(result: PullResult) -> str:
    from cashserver.pull.runner import State

    text = (
        f"{result.store_code}/{result.register_code}: {result.state}"
        f" shifts={result.shifts} stored={result.receipts_stored}"
        f" duplicate={result.receipts_duplicate}"
    )
    if result.state is not State.READY:
        text += f" ({result.state_message})"
    return text


def summary_of(results: list[PullResult]) -> dict[str, int]:
    from cashserver.pull.runner import State

    return {
        "registers": len(results),
        "shifts": sum(r.shifts for r in results),
        "receipts_stored": sum(r.receipts_stored for r in results),
        "receipts_duplicate": sum(r.receipts_duplicate for r in results),
        "errors": sum(r.state is State.ERROR for r in results),
    }


def cmd_pull(config: Config, args: argparse.Namespace) -> int:
    from cashserver.cli.common import EXIT_FAILED, EXIT_OK, open_store, print_json
    from cashserver.pull.handoff import HandoffSink
    from cashserver.pull.runner import Puller, pull_registers
    from cashserver.pull.states import StateBuffer
    from cashserver.serve_lock import ServeLock
    from cashserver.spool import Spool
    from cashserver.store.leases import Leases
    from cashserver.store.reading import Reader
    from cashserver.store.registers import Registers
    from cashserver.writer.control import DaemonStates

    targets, skipped = _select(config, args)
    queries = _queries(args, targets)
    if targets and not _confirmed(config, args, queries):
        print("declined: nothing pulled")
        return EXIT_OK
    engine = open_store(config)
    progress = Progress(len(targets), sys.stdout, sys.stdout.isatty(), quiet=args.json)

    def on_done(result: PullResult) -> None:
        progress.step(result_line(result))

    for name in skipped:
        progress.line(f"{name}: skipped (no address)")
    spool = Spool(config.spool_dir)
    lock = ServeLock(config.data_dir)
    own_loader = None
    if lock.try_acquire():
        from cashserver.store.repository import Repository
        from cashserver.writer.loader import Loader

        own_loader = Loader(spool, Repository(engine), config.spool.batch_files)
        own_loader.start()
        sink: Any = own_loader
    else:
        spool.prepare()
        sink = HandoffSink(spool, Reader(engine, config))
    # One writer of the registers table: the states go to the daemon's writer if one runs.
    states = StateBuffer(
        Registers(engine) if own_loader is not None else DaemonStates(config.data_dir)
    )
    states.start()
    leases = Leases(engine, config.cluster.node_name, config.cluster.lease_ttl_s)
    leases.start()
    puller = Puller(config, sink, states, leases=leases)
    try:
        progress.start()
        results = pull_registers(
            puller,
            list(zip(targets, queries, strict=True)),
            config.pull.concurrency,
            wait_s=config.pull.timeout_s + LOCK_WAIT_MARGIN_S,
            on_done=on_done,
        )
    finally:
        progress.close()
        states.close()
        leases.stop()
        if own_loader is not None:
            own_loader.stop(30.0)
        lock.release()
    summary = summary_of(results)
    if args.json:
        print_json({"registers": [r.as_json() for r in results], "summary": summary})
    else:
        print(
            f"{summary['registers']} registers: {summary['shifts']} shifts,"
            f" {summary['receipts_stored']} receipts stored,"
            f" {summary['receipts_duplicate']} duplicate, {summary['errors']} errors"
            + (f"; {len(skipped)} skipped" if skipped else "")
        )
    return EXIT_FAILED if summary["errors"] else EXIT_OK
