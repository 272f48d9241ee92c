"""One register's pull and its loading state; several registers at once.

:meth:`Puller.pull` is the per-register entry point (the scheduler, ``cashserver
pull``, the console and a cluster lease all call it): it takes the register's
lock, records DURING, asks the register, hands each whole shift to the sink
(validation first; a shift naming another register is not handed over and logs
``pull.mismatch``), waits for the verdicts and records the final state:

- ``ERROR``: the register could not be reached, timed out or answered an error
  (the whole shifts received before a cut-off are kept and loaded), or the pull's
  cluster lease was lost midway: another daemon may be pulling the register now,
  so the answer is cut off, nothing more is loaded and ``pull.lease_lost`` logged;
- ``READY_WITH_ERROR``: it answered, but some part was broken, invalid,
  mismatched or rejected by the loader;
- ``READY``: everything it answered was accepted.

:func:`pull_registers` runs many pulls on at most ``concurrency`` threads, so a
register that hangs holds one thread until its timeout and nobody else.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from sqlalchemy.exc import SQLAlchemyError

from cashserver.clock import iso_utc, now_ms
from cashserver.config import Config
from cashserver.domain import SalesQuery, ShiftRange, Upload, UploadResult, UploadStatus
from cashserver.log import get_logger
from cashserver.metrics import count_pull
from cashserver.pull.clients import BrokenPart, Cancellation, PullFailed, TlsFiles, fetch
from cashserver.pull.locks import PullLocks
from cashserver.spool import SpoolUnavailable
from cashserver.store.leases import Lease, Leases
from cashserver.store.reading import RegisterInfo
from cashserver.validate import ValidationError, validate_upload

log = get_logger(__name__)

SOURCE = "pull"
LEASE_LOST = "the pull lease was lost"
VERDICT_WAIT_S = 60.0
"""How long a pull waits for the loader's verdicts on what it handed over; after
that the rest counts as queued (it is in the spool and will load)."""


class State(StrEnum):
    DURING = "DURING"
    READY = "READY"
    READY_WITH_ERROR = "READY_WITH_ERROR"
    ERROR = "ERROR"


class Verdict(Protocol):
    def wait(self, timeout: float) -> UploadResult: ...


class Sink(Protocol):
    """Where pulled shifts go: the spool and the loader (``Loader.submit`` is one)."""

    def submit(self, upload: Upload, source: str) -> Verdict: ...


class StateWriter(Protocol):
    def set_state(
        self, store_code: str, register_code: str, state: str, message: str, at_ms: int
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class PullTarget:
    """A register to pull, with its settings resolved against the configuration."""

    store_code: str
    register_code: str
    address: str
    protocol: int
    timezone: str
    tls: TlsFiles = field(default_factory=TlsFiles)

    @property
    def name(self) -> str:
        return f"{self.store_code}/{self.register_code}"


def target_of(info: RegisterInfo, config: Config) -> PullTarget | None:
    """The register as a pull target, or None if it has no address (it is not pulled)."""
    if not info.address:
        return None
    own = bool(info.tls_ca)
    tls = TlsFiles(
        ca=(info.tls_ca if own else config.pull.tls_ca) or "",
        cert=(info.tls_cert if own else config.pull.tls_cert) or "",
        key=(info.tls_key if own else config.pull.tls_key) or "",
    )
    return PullTarget(
        info.store_code,
        info.register_code,
        info.address,
        info.protocol_version or config.registers.protocol_version,
        info.timezone or config.store_timezone(info.store_code).key,
        tls,
    )


@dataclass(slots=True)
class PullResult:
    store_code: str
    register_code: str
    state: State
    state_message: str
    shifts: int = 0
    receipts_stored: int = 0
    receipts_duplicate: int = 0
    queued: int = 0
    duration_s: float = 0.0

    def as_json(self) -> dict[str, object]:
        return {
            "store_code": self.store_code,
            "register_code": self.register_code,
            "state": str(self.state),
            "state_message": self.state_message,
            "shifts": self.shifts,
            "receipts_stored": self.receipts_stored,
            "receipts_duplicate": self.receipts_duplicate,
        }


class Busy(Exception):
    """Another pull of the register is running (and did not end in time)."""


def describe(query: SalesQuery) -> dict[str, object]:
    if isinstance(query, ShiftRange):
        return {"from_shift": query.from_shift, "to_shift": query.to_shift}
    return {"from": iso_utc(query.from_ms), "to": iso_utc(query.to_ms)}


@dataclass(slots=True)
class _Tally:
    shifts: int = 0
    stored: int = 0
    duplicate: int = 0
    queued: int = 0
    problems: list[str] = field(default_factory=list)

    def count(self, result: UploadResult, shift_number: int) -> None:
        if result.status is UploadStatus.REJECTED:
            self.problems.append(f"shift {shift_number} rejected: {result.message}")
            return
        self.shifts += 1
        if result.status is UploadStatus.QUEUED:
            self.queued += 1
        self.stored += result.receipts_stored
        self.duplicate += result.receipts_duplicate


class Puller:
    """Pulls one register at a time per register; safe to call from many threads."""

    def __init__(
        self,
        config: Config,
        sink: Sink,
        states: StateWriter,
        locks: PullLocks | None = None,
        leases: Leases | None = None,
    ) -> None:
        self.config = config
        self.sink = sink
        self.states = states
        self.locks = locks or PullLocks(config.data_dir)
        self.leases = leases
        """The cluster's pull leases (SPEC 14); None: this machine's locks only."""
        self.cancellation = Cancellation()

    def close(self) -> None:
        """Cut the pulls in flight (each ends ERROR, keeping its whole shifts); refuse more."""
        self.cancellation.cancel()

    def pull(
        self,
        target: PullTarget,
        query: SalesQuery,
        trigger: str = "demand",
        wait_s: float = 0.0,
        due: Callable[[], bool] | None = None,
    ) -> PullResult:
        """Pull ``target`` for ``query`` and record its state; raises :class:`Busy` if
        another pull of it (here or on another daemon: the lease ``("pull", "S/R")``)
        is running and has not ended within ``wait_s`` seconds, or if ``due``, asked
        once the register is ours, says another daemon has pulled it lately."""
        started = time.monotonic()
        with self.locks.hold(target.store_code, target.register_code, wait_s) as held:
            if not held:
                raise Busy(f"{target.name} is being pulled already")
            lease = self._lease(target, started + wait_s)
            cancellation = Cancellation(self.cancellation)  # this pull's: also on a lost lease
            if lease is not None:
                lease.when_lost(lambda: cancellation.cancel(LEASE_LOST))
            try:
                if due is not None and not due():
                    raise Busy(f"{target.name} was pulled lately by another daemon")
                return self._pull(target, query, trigger, lease, cancellation)
            finally:
                cancellation.detach()
                if lease is not None and self.leases is not None:
                    # The next holder reads the final state to decide whether it is due:
                    # a batched state must be written before the lease is let go.
                    flush = getattr(self.states, "flush", None)
                    if callable(flush):
                        flush()
                    self.leases.release(lease)

    def _lease(self, target: PullTarget, until: float) -> Lease | None:
        """The register's pull lease, waiting until ``until``; None without leases."""
        if self.leases is None:
            return None
        while True:
            try:
                lease = self.leases.try_acquire("pull", target.name)
            except SQLAlchemyError as exc:  # no database, no way to know who pulls it
                raise Busy(f"cannot take the pull lease: {exc}".splitlines()[0]) from exc
            if lease is not None:
                return lease
            if time.monotonic() >= until:
                raise Busy(f"{target.name} is being pulled by another daemon")
            time.sleep(0.2)  # its holder ends within the pull timeout, or dies and expires

    def _record(self, target: PullTarget, state: State, message: str) -> None:
        try:
            self.states.set_state(
                target.store_code, target.register_code, str(state), message, now_ms()
            )
        except Exception as exc:  # the database may be down: the pull itself goes on
            log.warning("pull.state_not_recorded", register=target.name, error=str(exc))

    def _pull(
        self,
        target: PullTarget,
        query: SalesQuery,
        trigger: str,
        lease: Lease | None,
        cancellation: Cancellation,
    ) -> PullResult:
        """The pull, cut off when ``cancellation`` is (the daemon stops, the lease is lost)."""
        started = time.monotonic()
        where = {"store_code": target.store_code, "register_code": target.register_code}
        self._record(target, State.DURING, f"pulling since {iso_utc(now_ms())}")
        log.info(
            "pull.started",
            protocol=target.protocol,
            address=target.address,
            trigger=trigger,
            **describe(query),
            **where,
        )
        tally = _Tally()
        pending: list[tuple[int, Verdict]] = []
        failure = ""
        try:
            if cancellation.cancelled:
                raise PullFailed(f"not started: {cancellation.reason}")
            for part in fetch(
                target.protocol,
                target.address,
                query,
                self.config.pull.timeout_s,
                target.tls,
                cancellation,
            ):
                if lease is not None and lease.lost.is_set():
                    failure = LEASE_LOST  # another daemon may be pulling it: no more
                    break
                handed = self._hand_over(target, part, tally)
                if handed is not None:
                    pending.append(handed)
        except PullFailed as exc:
            failure = str(exc)
        except SpoolUnavailable as exc:
            failure = f"not accepted: {exc.strerror}"
        except Exception as exc:  # a bug must not leave the register DURING for ever
            log.exception("pull.crashed", register=target.name)
            failure = f"internal error ({type(exc).__name__})"
        if failure and lease is not None and lease.lost.is_set():  # cut off by the loss
            failure = f"{LEASE_LOST} ({lease.lost_reason}): loading stopped midway"
            reason = lease.lost_reason
            log.warning("pull.lease_lost", reason=reason, shifts_handed=len(pending), **where)
        deadline = time.monotonic() + VERDICT_WAIT_S
        for shift_number, verdict in pending:
            tally.count(verdict.wait(max(0.0, deadline - time.monotonic())), shift_number)
        result = self._finish(target, tally, failure, time.monotonic() - started)
        self._record(target, result.state, result.state_message)
        count_pull(result.state)
        return result

    def _hand_over(
        self, target: PullTarget, part: Upload | BrokenPart, tally: _Tally
    ) -> tuple[int, Verdict] | None:
        if isinstance(part, BrokenPart):
            log.warning("pull.broken", register=target.name, reason=part.reason)
            tally.problems.append(part.reason)
            return None
        shift = part.shift
        if (shift.store_code, shift.register_code) != (target.store_code, target.register_code):
            log.warning(
                "pull.mismatch",
                store_code=target.store_code,
                register_code=target.register_code,
                shift_store_code=shift.store_code,
                shift_register_code=shift.register_code,
                shift_number=shift.shift_number,
                address=target.address,
            )
            tally.problems.append(
                f"shift {shift.shift_number} names {shift.store_code}/{shift.register_code},"
                f" not {target.name}: wrong address?"
            )
            return None
        try:
            upload = validate_upload(part)
        except ValidationError as exc:
            log.warning("pull.broken", register=target.name, reason=str(exc))
            tally.problems.append(f"shift {shift.shift_number}: {exc}")
            return None
        return shift.shift_number, self.sink.submit(upload, SOURCE)

    def _finish(
        self, target: PullTarget, tally: _Tally, failure: str, duration_s: float
    ) -> PullResult:
        where = {"store_code": target.store_code, "register_code": target.register_code}
        counts = {
            "shifts": tally.shifts,
            "receipts_stored": tally.stored,
            "receipts_duplicate": tally.duplicate,
            "queued": tally.queued,
            "duration_s": round(duration_s, 3),
        }
        if failure:
            kept = f" (kept {tally.shifts} whole shifts received before)" if tally.shifts else ""
            state, message = State.ERROR, failure + kept
            log.warning("pull.failed", reason=failure, **counts, **where)
        else:
            if tally.problems:
                more = len(tally.problems) - 1
                state = State.READY_WITH_ERROR
                message = tally.problems[0] + (f" (and {more} more)" if more else "")
            else:
                state = State.READY
                message = f"{tally.shifts} shifts, {tally.stored} receipts stored"
            log.info("pull.finished", state=str(state), **counts, **where)
        return PullResult(
            target.store_code,
            target.register_code,
            state,
            message,
            tally.shifts,
            tally.stored,
            tally.duplicate,
            tally.queued,
            duration_s,
        )


def pull_registers(
    puller: Puller,
    jobs: Sequence[tuple[PullTarget, SalesQuery]],
    concurrency: int,
    wait_s: float = 0.0,
    on_done: Callable[[PullResult], None] | None = None,
    trigger: str = "demand",
) -> list[PullResult]:
    """Pull every ``(target, query)`` with at most ``concurrency`` at once; results in
    the order given. A register being pulled already (longer than ``wait_s``) is ERROR
    with that message, and nothing is recorded for it."""

    def one(job: tuple[PullTarget, SalesQuery]) -> PullResult:
        target, query = job
        try:
            result = puller.pull(target, query, trigger, wait_s)
        except Busy as exc:
            result = PullResult(target.store_code, target.register_code, State.ERROR, str(exc))
        if on_done is not None:
            on_done(result)
        return result

    if not jobs:
        return []
    workers = max(1, min(concurrency, len(jobs)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pull") as pool:
        return list(pool.map(one, jobs))
