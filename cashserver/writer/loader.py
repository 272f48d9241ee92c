"""The loader: the single writer that moves sales files from the spool into the store.

Transports call :meth:`Loader.submit`, which makes the upload durable in the
spool and hands it over in memory, so the usual path never parses the file
again. The loader thread takes queued files in arrival order, several per
transaction when the queue is deep. After the commit it moves a rejected upload's
file to ``error/`` and resolves every ticket; then it has the commit synced to the
disk and moves the loaded files to ``processed/`` (see :meth:`Loader._settle`).

Files found in ``incoming/`` (left by a crash, dropped in by another program, or
moved back by ``spool retry``) join the queue by a periodic scan.

A transient database error (locked, connection lost, server down) is retried
with backoff and a logged warning while files stay in ``incoming/``; any other
database error is isolated to its one upload, which goes to ``error/``.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from cashserver.clock import iso_utc, now_ms
from cashserver.domain import Origin, Upload, UploadResult, UploadStatus
from cashserver.log import get_logger
from cashserver.metrics import count_load
from cashserver.sales_file import BrokenSalesFile, decode_sales_file, origin_of, read_head
from cashserver.spool import Spool
from cashserver.store.errors import is_transient
from cashserver.store.repository import LoadOutcome, Repository
from cashserver.verdict import Ticket, Verdict

log = get_logger(__name__)

SCAN_INTERVAL_S = 0.25
HELD_RECEIPTS = 12_000
"""Receipts of queued uploads kept in memory; beyond that, a queued upload is read
again from its sales file when its turn comes, so a deep queue costs disk, not RAM."""
RECENT_VERDICTS = 1024
PUSHED = Origin()
BACKOFF_FIRST_S = 0.2
BACKOFF_MAX_S = 15.0


@dataclass(slots=True)
class _Item:
    path: Path
    upload: Upload | None = None
    ticket: Verdict | None = None
    data: bytes | None = None
    """The sales file as read, when it is in this program's form: it is decoded only
    when its turn in the transaction comes, so a batch holds one decoded upload at a
    time (a 1,000-receipt upload is 2.1 MB of objects, its file 0.4 MB)."""
    register: tuple[str, str] = ("", "")
    """The upload's (store, register) codes, known before its transaction."""
    reading: Future[bytes] | None = None
    """The file being read ahead by the reader thread."""
    held: int = 0
    """Receipts of this item's upload counted against :data:`HELD_RECEIPTS`."""
    received: int = 0
    """Receipts of the upload, kept when the upload itself is handed to the database."""
    origin: Origin = PUSHED


def _decoded(data: bytes) -> tuple[Upload, tuple[str, str], Origin]:
    upload, envelope = decode_sales_file(data)
    origin = origin_of(envelope.get("source"), envelope.get("forwarded_by"))
    return upload, (upload.shift.store_code, upload.shift.register_code), origin


class _BrokenInBatch(Exception):
    """A file whose head read well but whose receipts do not: found in the transaction."""

    def __init__(self, item: _Item, error: BrokenSalesFile) -> None:
        super().__init__(str(error))
        self.item = item
        self.error = error


def _result_of(outcome: LoadOutcome) -> UploadResult:
    return UploadResult(
        workshift_id=outcome.workshift_id,
        status=outcome.status,
        receipts_received=outcome.receipts_received,
        receipts_stored=outcome.receipts_stored,
        receipts_duplicate=outcome.receipts_duplicate,
        message=outcome.reason,
    )


class Loader:
    """Owns the queue of sales files and the thread that loads them."""

    def __init__(
        self,
        spool: Spool,
        repository: Repository,
        batch_files: int = 8,
        on_loaded: Callable[[Sequence[LoadOutcome]], None] | None = None,
    ) -> None:
        self.spool = spool
        self.repository = repository
        self.batch_files = batch_files
        self.on_loaded = on_loaded
        self._queue: deque[_Item] = deque()
        self._known: dict[Path, _Item] = {}
        """Every file queued or being loaded: a scan does not take it again."""
        self._recent: OrderedDict[str, UploadResult] = OrderedDict()
        """The last :data:`RECENT_VERDICTS` verdicts, for a verdict asked after the fact."""
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._last_scan = 0.0
        self._backoff = 0.0
        self._busy = False
        self._held = 0
        self._beat = time.monotonic()
        # Reads the next batch's files (their bytes; each is decoded in its turn) while
        # this one is in the database.
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="loader-read")

    # -- the senders' side -------------------------------------------------------

    def submit(self, upload: Upload, source: str, forwarded_by: str = "") -> Ticket:
        """Spool ``upload`` durably and queue it; raises SpoolUnavailable if it cannot."""
        path = self.spool.new_path(upload)
        shift = upload.shift
        item = _Item(
            path,
            register=(shift.store_code, shift.register_code),
            origin=origin_of(source, forwarded_by),
        )
        with self._cond:
            self._known[path] = item  # before the file appears, so a scan never takes it too
        try:
            self.spool.put(upload, source, path, forwarded_by)
        except BaseException:
            self._forget([item])
            raise
        count = len(upload.receipts)
        ticket = Ticket(count)
        item.ticket = ticket
        with self._cond:
            if self._held + count <= HELD_RECEIPTS:
                self._held += count
                item.upload, item.held = upload, count
            # else a deep queue: the file will be read again when its turn comes
            self._queue.append(item)
            self._cond.notify()
        return ticket

    @property
    def unavailable(self) -> bool:
        """The database failed the last load and the loader is backing off."""
        return self._backoff > 0

    def enqueue(self, path: Path, verdict: Verdict) -> None:
        """Queue a sales file another process made durable in ``incoming/``, now rather
        than at the next scan, and send its verdict to ``verdict`` once it is loaded.

        A file a scan has queued already gets the verdict attached; one loaded
        moments ago gets its recorded verdict at once.
        """
        with self._cond:
            busy = self._busy
            # A verdict given already (the file may still wait in incoming/ for its
            # commit to be synced) is the answer.
            recent = self._recent.get(path.name)
            item = None if recent is not None else self._known.get(path)
            if recent is None and item is None:
                item = _Item(path, None, verdict)
                self._known[path] = item
                self._queue.append(item)
                self._cond.notify()
            elif item is not None and item.ticket is None:
                item.ticket = verdict
        if recent is not None:
            verdict.resolve(recent)
        elif busy:
            # Read it while the batch in hand is in the database; an idle loader reads
            # it itself, on its own thread, without a hand-over to the reader and back.
            self._read_ahead()

    @property
    def queued(self) -> int:
        with self._cond:
            return len(self._queue)

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> None:
        removed = self.spool.prepare()
        if removed:
            log.info("spool.temp_removed", files=removed)
        self._scan()
        log.info("loader.started", queued=len(self._queue))
        self._thread = threading.Thread(target=self._run, name="loader", daemon=True)
        self._thread.start()

    def stop(self, grace_s: float) -> bool:
        """Finish the queue within ``grace_s`` seconds; True if nothing was left over."""
        deadline = time.monotonic() + grace_s
        with self._cond:
            while self._queue and time.monotonic() < deadline and self._backoff == 0:
                self._cond.wait(min(0.05, max(0.0, deadline - time.monotonic())))
            self._stopping = True
            left = len(self._queue)
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - time.monotonic()) + 5.0)
        self._reader.shutdown(wait=False, cancel_futures=True)
        log.info("loader.stopped", left_in_incoming=left)
        return left == 0

    def drain(self, timeout_s: float = 30.0) -> bool:
        """Wait until the queue (including files already in ``incoming/``) is empty."""
        deadline = time.monotonic() + timeout_s
        self._scan()
        with self._cond:
            while self._queue or self._busy:
                if time.monotonic() >= deadline:
                    return False
                self._cond.wait(0.05)
        return True

    # -- the loader thread -------------------------------------------------------

    def _scan(self) -> None:
        """Queue files in ``incoming/`` that are not queued yet (crash leftovers, drops)."""
        self._last_scan = time.monotonic()
        found = [p for p in self.spool.incoming() if p not in self._known]
        if not found:
            return
        with self._cond:
            for path in found:
                if path not in self._known:
                    item = _Item(path)
                    self._known[path] = item
                    self._queue.append(item)
            self._cond.notify()
        self._read_ahead()

    def _take(self) -> list[_Item]:
        with self._cond:
            while not self._queue and not self._stopping:
                remaining = SCAN_INTERVAL_S - (time.monotonic() - self._last_scan)
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            if self._stopping:
                return []
            batch = [self._queue.popleft() for _ in range(min(self.batch_files, len(self._queue)))]
            self._busy = bool(batch)
            return batch

    def stalled_s(self) -> float:
        """Seconds since the loader's loop last turned; infinite when its thread is gone.
        The loop turns at least every :data:`SCAN_INTERVAL_S` while idle."""
        if self._thread is None or not self._thread.is_alive():
            return float("inf")
        return time.monotonic() - self._beat

    def _run(self) -> None:
        while not self._stopping:
            self._beat = time.monotonic()
            if time.monotonic() - self._last_scan >= SCAN_INTERVAL_S:
                self._scan()
            batch = self._take()
            if not batch:
                continue
            self._read_ahead()
            try:
                self._load(batch)
            except Exception:  # the loader must outlive any one failure
                log.exception("loader.failed", files=[item.path.name for item in batch])
                self._requeue(batch)
                self._sleep_backoff()
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _read_ahead(self) -> None:
        """Start reading the files of the next batch that came without an upload."""
        with self._cond:
            ahead = [
                item
                for item in itertools.islice(self._queue, self.batch_files)
                if item.upload is None and item.data is None and item.reading is None
            ]
        for item in ahead:
            item.reading = self._reader.submit(item.path.read_bytes)

    def _requeue(self, batch: list[_Item]) -> None:
        with self._cond:
            self._queue.extendleft(reversed(batch))

    def _sleep_backoff(self) -> None:
        self._backoff = min(BACKOFF_MAX_S, max(BACKOFF_FIRST_S, self._backoff * 2))
        with self._cond:
            self._cond.wait_for(lambda: self._stopping, self._backoff)

    def _parse(self, batch: list[_Item]) -> list[_Item]:
        """Read files that came without an upload in memory; broken ones go to broken/."""
        good = []
        for item in batch:
            if item.upload is None and item.data is None:
                reading, item.reading = item.reading, None
                try:
                    data = reading.result() if reading else item.path.read_bytes()
                    # Several files: only their heads now (whose register, for the
                    # locks); each is decoded whole in its turn. One file, or one in
                    # another form than this program writes: decoded whole now.
                    head = read_head(data) if len(batch) > 1 else None
                    if head is None:
                        item.upload, item.register, item.origin = _decoded(data)
                    else:
                        item.data, item.origin = data, head.origin
                        item.register = (head.store_code, head.register_code)
                except FileNotFoundError:
                    self._forget([item])
                    continue
                except BrokenSalesFile as exc:
                    self._set_broken(item, exc)
                    continue
            good.append(item)
        return good

    def _set_broken(self, item: _Item, exc: BrokenSalesFile) -> None:
        log.warning("spool.broken", file=item.path.name, error=str(exc))
        self.spool.move([item.path], "broken", _reason("cannot parse", str(exc)))
        self._forget([item])

    def _handed_over(self, batch: list[_Item]) -> Iterator[Upload]:
        """The batch's uploads for the repository, one at a time: each is decoded (or
        taken from its item) only when its turn comes, and no item keeps it, so a batch
        holds one decoded upload at a time (a retry reads the files again)."""
        for item in batch:
            upload, item.upload = item.upload, None
            if upload is None:
                data, item.data = item.data, None
                assert data is not None  # _parse gave every item an upload or its bytes
                try:
                    upload, _ = decode_sales_file(data)
                except BrokenSalesFile as exc:
                    raise _BrokenInBatch(item, exc) from None
            item.received = len(upload.receipts)
            yield upload

    def _load(self, batch: list[_Item]) -> None:
        batch = self._parse(batch)
        if not batch:
            return
        registers = [item.register for item in batch]
        origins = [item.origin for item in batch]
        started = time.perf_counter()
        try:
            outcomes = self.repository.load_batch(self._handed_over(batch), origins, registers)
        except _BrokenInBatch as broken:
            # Nothing of the batch is stored: set the file aside and load the others.
            self._set_broken(broken.item, broken.error)
            rest = [item for item in batch if item is not broken.item]
            if rest:
                self._load(rest)
            return
        except Exception as exc:
            if is_transient(exc):
                log.warning(
                    "loader.db_unavailable", error=str(exc).splitlines()[0], files=len(batch)
                )
                self._requeue(batch)
                self._sleep_backoff()
                return
            if len(batch) > 1:
                # Isolate the upload that fails: load the batch one by one.
                for item in batch:
                    self._load([item])
                return
            log.error("loader.load_failed", file=batch[0].path.name, error=str(exc))
            self._settle_failed(batch[0], exc)
            return
        self._backoff = 0.0
        count_load(
            time.perf_counter() - started,
            sum(o.receipts_stored for o in outcomes),
            sum(o.receipts_duplicate for o in outcomes),
        )
        self._settle(batch, outcomes)

    def _settle(self, batch: list[_Item], outcomes: list[LoadOutcome]) -> None:
        """Answer a committed batch, then take its files out of ``incoming/``.

        A loaded upload's verdict goes out as soon as the commit returns, before the
        commit is synced to the disk (:func:`~cashserver.store.engine.open_loader_engine`):
        its sales file, durable since it was spooled, stays in ``incoming/`` until
        :meth:`Repository.sync_commits` has made the rows durable, so a power cut in
        between replays the file and stores the same rows again (a crash of the
        process loses no commit at all). A rejected upload's file goes to ``error/``
        before its verdict, as nothing of it is in the database.
        """
        results = [_result_of(outcome) for outcome in outcomes]
        loaded = [
            i.path for i, o in zip(batch, outcomes, strict=True) if o.status is UploadStatus.LOADED
        ]
        for item, outcome in zip(batch, outcomes, strict=True):
            if outcome.status is UploadStatus.REJECTED:
                self.spool.move([item.path], "error", _reason(outcome.reason, ""))
        self._record(batch, results)
        for item, result in zip(batch, results, strict=True):
            if item.ticket is not None:
                ticket, item.ticket = item.ticket, None  # answered once, even if retried
                ticket.resolve(result)
        if self.on_loaded is not None:
            self.on_loaded(outcomes)
        if loaded:
            self.repository.sync_commits()
            self.spool.move(loaded, "processed")
        self._drop(batch)

    def _settle_failed(self, item: _Item, exc: BaseException) -> None:
        self.spool.move([item.path], "error", _reason("database error", str(exc)))
        received = item.received or (len(item.upload.receipts) if item.upload else 0)
        result = UploadResult(0, UploadStatus.QUEUED, received, message="kept for the operator")
        self._forget([item], [result])
        if item.ticket is not None:
            item.ticket.resolve(result)

    def _forget(self, items: list[_Item], results: Sequence[UploadResult] = ()) -> None:
        """Drop settled (or vanished) files; ``results`` are their verdicts, if any."""
        self._record(items, results)
        self._drop(items)

    def _drop(self, items: list[_Item]) -> None:
        """Stop knowing ``items``' files: a scan may queue a file of that name again."""
        with self._cond:
            for item in items:
                self._known.pop(item.path, None)

    def _record(self, items: list[_Item], results: Sequence[UploadResult]) -> None:
        """Keep the verdicts of ``items`` for a late :meth:`enqueue`; free what they held."""
        with self._cond:
            for item in items:
                self._held -= item.held
                item.held = 0
            for item, result in zip(items, results, strict=False):
                self._recent[item.path.name] = result
            while len(self._recent) > RECENT_VERDICTS:
                self._recent.popitem(last=False)


def _reason(reason: str, error: str) -> dict[str, str | None]:
    return {"reason": reason, "error": error, "time": iso_utc(now_ms())}
