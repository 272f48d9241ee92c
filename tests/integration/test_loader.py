"""The loader on a real spool and a real database: verdicts, folders, faults."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from sqlalchemy import Engine, func, select
from structlog.testing import capture_logs

from cashserver.domain import Shift, Upload, UploadStatus
from cashserver.emulator.generate import ShiftPlan, generate_upload
from cashserver.sales_file import encode_sales_file
from cashserver.spool import Spool
from cashserver.store.engine import open_engine, upgrade
from cashserver.store.repository import Repository
from cashserver.store.schema import receipts, shifts
from cashserver.writer.loader import Loader
from tests.pg import Cluster
from tests.waiting import wait_for


def count(engine: Engine, table: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    return Spool(tmp_path / "spool")


@pytest.fixture
def loader(spool: Spool, engine: Engine) -> Iterator[Loader]:
    loader = Loader(spool, Repository(engine), batch_files=8)
    loader.start()
    yield loader
    loader.stop(5.0)


def files(spool: Spool, folder: str) -> list[str]:
    return sorted(p.name for p in spool.folder(folder).iterdir() if not p.name.startswith("."))


def test_submitted_upload_is_loaded_and_its_file_processed(
    loader: Loader, spool: Spool, engine: Engine
) -> None:
    upload = generate_upload(ShiftPlan("S1", "R1", 1, 50, seed=2))
    result = loader.submit(upload, "test").wait(10)
    assert result.status is UploadStatus.LOADED
    assert (result.receipts_received, result.receipts_stored, result.receipts_duplicate) == (
        50,
        50,
        0,
    )
    assert result.workshift_id > 0
    # The file leaves incoming/ once the commit is synced, just after the verdict.
    wait_for(lambda: files(spool, "incoming") == [], what="the file leaving incoming/")
    assert len(files(spool, "processed")) == 1
    again = loader.submit(upload, "test").wait(10)
    assert (again.workshift_id, again.receipts_stored, again.receipts_duplicate) == (
        result.workshift_id,
        0,
        50,
    )
    assert count(engine, receipts) == 50


def test_null_open_time_on_both_sides_is_rejected_and_kept_in_error(
    loader: Loader, spool: Spool, engine: Engine
) -> None:
    upload = generate_upload(ShiftPlan("S1", "R1", 3, 5, seed=2))
    headless = Upload(Shift("S1", "R1", 3), upload.receipts)
    assert loader.submit(headless, "test").wait(10).status is UploadStatus.LOADED
    result = loader.submit(headless, "test").wait(10)
    assert result.status is UploadStatus.REJECTED
    assert "null" in result.message
    [name, reason] = files(spool, "error")
    assert reason == f"{name}.reason"
    assert set(orjson.loads((spool.folder("error") / reason).read_bytes())) == {
        "reason",
        "error",
        "time",
    }
    assert count(engine, shifts) == 1


def test_garbage_goes_to_broken_and_the_loader_carries_on(
    loader: Loader, spool: Spool, engine: Engine
) -> None:
    (spool.folder("incoming") / "0001-garbage.json").write_bytes(b"\xff\xfe not json")
    upload = generate_upload(ShiftPlan("S1", "R2", 1, 10, seed=2))
    dropped = spool.folder("incoming") / "0002-dropped.json"
    temp = dropped.with_name(".tmp-x")
    temp.write_bytes(encode_sales_file(upload, "file", 0))
    temp.rename(dropped)
    wait_for(lambda: files(spool, "incoming") == [])
    assert files(spool, "broken") == ["0001-garbage.json", "0001-garbage.json.reason"]
    assert files(spool, "processed") == ["0002-dropped.json"]
    assert count(engine, receipts) == 10


def test_a_deep_queue_loads_everything_once(loader: Loader, engine: Engine) -> None:
    uploads = [generate_upload(ShiftPlan("S1", f"R{n % 4}", n, 20, seed=5)) for n in range(1, 41)]
    tickets = [loader.submit(u, "test") for u in uploads]
    results = [t.wait(30) for t in tickets]
    assert all(r.status is UploadStatus.LOADED for r in results)
    assert count(engine, receipts) == 40 * 20
    assert count(engine, shifts) == 40


def test_verdict_deadline_answers_queued_and_the_upload_loads_later(
    spool: Spool, engine: Engine
) -> None:
    loader = Loader(spool, Repository(engine))
    upload = generate_upload(ShiftPlan("S1", "R1", 1, 5, seed=2))
    spool.prepare()
    ticket = loader.submit(upload, "test")  # the loader thread is not started yet
    queued = ticket.wait(0.05)
    assert (queued.status, queued.workshift_id, queued.receipts_received) == (
        UploadStatus.QUEUED,
        0,
        5,
    )
    loader.start()
    try:
        assert ticket.wait(10).status is UploadStatus.LOADED
    finally:
        loader.stop(5)


def test_a_database_error_that_retrying_cannot_cure_goes_to_error(
    loader: Loader, spool: Spool, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = generate_upload(ShiftPlan("S1", "R1", 1, 5, seed=2))
    bad = generate_upload(ShiftPlan("S1", "R1", 2, 5, seed=2))
    repository = loader.repository
    original = repository._load_one
    from sqlalchemy.exc import IntegrityError

    def failing(conn: object, upload: Upload, register_id: int) -> object:
        if upload.shift.shift_number == 2:
            raise IntegrityError("INSERT", {}, Exception("simulated constraint failure"))
        return original(conn, upload, register_id)  # type: ignore[arg-type]

    monkeypatch.setattr(repository, "_load_one", failing)
    t_bad = loader.submit(bad, "test")
    t_good = loader.submit(good, "test")
    assert t_good.wait(10).status is UploadStatus.LOADED
    assert t_bad.wait(10).status is UploadStatus.QUEUED
    wait_for(lambda: len(files(spool, "error")) == 2)
    assert count(engine, shifts) == 1


def test_database_down_then_back_loads_queued_uploads_by_themselves(
    own_pg_cluster: Cluster, tmp_path: Path
) -> None:
    engine = open_engine(own_pg_cluster.url)
    upgrade(engine)
    spool = Spool(tmp_path / "spool")
    loader = Loader(spool, Repository(engine))
    loader.start()
    try:
        assert (
            loader.submit(generate_upload(ShiftPlan("S1", "R1", 1, 5, seed=1)), "t").wait(10).status
            is UploadStatus.LOADED
        )
        own_pg_cluster.stop()
        tickets = [
            loader.submit(generate_upload(ShiftPlan("S1", "R1", n, 5, seed=1)), "t")
            for n in range(2, 6)
        ]
        assert {t.wait(0.5).status for t in tickets} == {UploadStatus.QUEUED}
        assert len(files(spool, "incoming")) == 4 and files(spool, "error") == []
        own_pg_cluster.start()
        assert {t.wait(60).status for t in tickets} == {UploadStatus.LOADED}
        assert count(engine, shifts) == 5
        wait_for(lambda: files(spool, "incoming") == [], what="the files leaving incoming/")
        assert files(spool, "error") == []
    finally:
        loader.stop(5)
        engine.dispose()


def test_the_same_file_dropped_twice_loads_once(tmp_path: Path) -> None:
    """Files copied into incoming/ by hand, twice, load once."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    engine = open_engine(url)
    upgrade(engine)
    spool = Spool(tmp_path / "spool")
    spool.prepare()
    upload = generate_upload(ShiftPlan("S1", "R1", 1, 7, seed=3))
    source = tmp_path / "one.json"
    source.write_bytes(encode_sales_file(upload, "file", 0))
    for name in ("a.json", "b.json"):
        shutil.copy(source, spool.folder("incoming") / name)
    loader = Loader(spool, Repository(engine))
    loader.start()
    try:
        assert loader.drain(10)
        assert count(engine, receipts) == 7
        assert files(spool, "processed") == ["a.json", "b.json"]
    finally:
        loader.stop(5)
        engine.dispose()


def test_shift_loaded_says_how_each_upload_came(
    loader: Loader, spool: Spool, engine: Engine
) -> None:
    """In memory from submit, or read back from a file: push, pull or forward (SPEC 15)."""
    forwarded, pushed, pulled = (
        generate_upload(ShiftPlan("S1", f"R{n}", 1, 5, seed=n)) for n in range(1, 4)
    )
    with capture_logs() as logs:
        assert loader.submit(forwarded, "forward", "store-1").wait(10).status is UploadStatus.LOADED
        assert loader.submit(pushed, "grpc").wait(10).status is UploadStatus.LOADED
        dropped = spool.folder("incoming") / "dropped.json"
        dropped.write_bytes(encode_sales_file(pulled, "pull", 0))
        wait_for(lambda: "dropped.json" in files(spool, "processed"), what="the dropped file")
    loaded = {
        e["register_code"]: (e["source"], e.get("forwarded_by"))
        for e in logs
        if e["event"] == "shift.loaded"
    }
    assert loaded == {"R1": ("forward", "store-1"), "R2": ("push", None), "R3": ("pull", None)}


@pytest.mark.parametrize("handed", ["in memory", "as files"])
def test_a_batch_holds_one_decoded_upload_at_a_time(
    handed: str, spool: Spool, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The repository takes a batch's uploads one at a time, and the loader keeps
    none it has handed over and decodes a file only when its turn comes: a batch of
    1,000-receipt uploads does not hold all of them (2 MB of objects each) until
    its commit."""
    repository = Repository(engine)
    loader = Loader(spool, repository, batch_files=8)
    events: list[str] = []
    load_one = repository._load_one

    def decoded_in_items() -> int:
        return sum(item.upload is not None for item in loader._known.values())

    def recording_load_one(conn: object, upload: Upload, register_id: int) -> object:
        events.append(f"load {upload.shift.register_code}, {decoded_in_items()} held")
        return load_one(conn, upload, register_id)  # type: ignore[arg-type]

    monkeypatch.setattr(repository, "_load_one", recording_load_one)
    spool.prepare()
    uploads = [generate_upload(ShiftPlan("S1", f"R{n}", 1, 5, seed=n)) for n in (1, 2, 3)]
    if handed == "in memory":  # the loader thread is not started yet: one batch of three
        tickets = [loader.submit(upload, "test") for upload in uploads]
    else:
        for upload in uploads:
            spool.put(upload, "grpc")
    loader.start()
    try:
        if handed == "in memory":
            assert all(t.wait(10).status is UploadStatus.LOADED for t in tickets)
        else:
            assert loader.drain(10)
    finally:
        loader.stop(5)
    held_before = [2, 1, 0] if handed == "in memory" else [0, 0, 0]
    assert events == [
        f"load R{n}, {held} held" for n, held in zip((1, 2, 3), held_before, strict=True)
    ]
    assert count(engine, receipts) == 15


def test_a_file_whose_receipts_are_broken_is_set_aside_and_its_batch_loads(
    spool: Spool, engine: Engine
) -> None:
    """Its head reads well, so it joins a batch; its receipts fail in the transaction."""
    spool.prepare()
    good = [generate_upload(ShiftPlan("S1", f"R{n}", 1, 5, seed=n)) for n in (1, 2)]
    spool.put(good[0], "grpc")
    broken = generate_upload(ShiftPlan("S1", "R9", 1, 5, seed=9))
    path = spool.put(broken, "grpc")
    text = path.read_bytes()
    path.write_bytes(text.replace(broken.receipts[2].uid.encode(), b"not-a-uuid", 1))
    spool.put(good[1], "grpc")
    loader = Loader(spool, Repository(engine), batch_files=8)
    with capture_logs() as logs:
        loader.start()
        try:
            assert loader.drain(10)
        finally:
            loader.stop(5)
    assert files(spool, "broken") == sorted([path.name, path.name + ".reason"])
    assert count(engine, receipts) == 10
    assert count(engine, shifts) == 2
    assert [e["file"] for e in logs if e["event"] == "spool.broken"] == [path.name]
