"""The series SPEC 16's alerts read: readiness per check, the oldest incoming file, the
last upload, the certificates' expiry; and the counters an alert takes increases of."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import trustme
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from cashserver import metrics
from cashserver.config import parse_config
from cashserver.http.certificates import certificate_files, expiry_times, not_after
from cashserver.http.health import ReadyChecks, spool_reading
from cashserver.metrics import StateCollector, exposition
from cashserver.spool import Spool

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(*registries: CollectorRegistry) -> Samples:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(exposition(*registries).decode())
        for s in family.samples
    }


def collected(collector: StateCollector) -> Samples:
    registry = CollectorRegistry()
    registry.register(collector)
    return samples(registry)


def test_each_state_source_gives_its_series() -> None:
    found = collected(
        StateCollector(
            spool=lambda: ({"incoming": 2, "broken": 1}, 42.5),
            registers=lambda: {"error": 1, "none": 3},
            ready=lambda: {"grpc": True, "database": False},
            certificates={"grpc": 1_900_000_000.0},
        )
    )
    assert found[("cashserver_spool_files", (("folder", "broken"),))] == 1
    assert found[("cashserver_spool_oldest_incoming_age_seconds", ())] == 42.5
    assert found[("cashserver_registers", (("state", "error"),))] == 1
    assert found[("cashserver_ready", (("check", "grpc"),))] == 1
    assert found[("cashserver_ready", (("check", "database"),))] == 0
    expiry = ("cashserver_tls_cert_expiry_timestamp_seconds", (("listener", "grpc"),))
    assert found[expiry] == 1_900_000_000.0


def test_a_failing_source_leaves_out_only_its_own_series() -> None:
    def down() -> dict[str, int]:
        raise OSError("database is locked")

    found = collected(
        StateCollector(
            spool=lambda: ({"incoming": 5}, 900.0),
            registers=down,
            ready=lambda: {"database": False},
        )
    )
    names = {name for name, _ in found}
    assert "cashserver_registers" not in names
    assert found[("cashserver_spool_oldest_incoming_age_seconds", ())] == 900.0
    assert found[("cashserver_ready", (("check", "database"),))] == 0
    assert "cashserver_tls_cert_expiry_timestamp_seconds" not in names  # no TLS: no series


def test_spool_reading_counts_files_and_ages_the_oldest_incoming_one(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    spool.prepare()
    assert spool_reading(spool) == ({"incoming": 0, "processed": 0, "error": 0, "broken": 0}, 0.0)
    old = spool.folder("incoming") / "old.json"
    old.write_text("{}")
    (spool.folder("incoming") / ".tmp-probe").write_text("")  # hidden: never counted
    (spool.folder("incoming") / "new.json").write_text("{}")
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    files, oldest = spool_reading(spool)
    assert files["incoming"] == 2
    assert 3590 < oldest < 3700


def test_ready_checks_name_what_fails_and_only_the_listeners_that_are_on() -> None:
    problems: dict[str, str] = {}
    checks = ReadyChecks(lambda: dict(problems), ["grpc"])
    assert checks.latest() == {}  # nothing measured yet: no series rather than a guess
    checks.refresh()
    assert checks.latest() == {"grpc": True, "spool": True, "database": True}
    problems["database"] = "no answer within 2 s"
    checks.refresh()
    assert checks.latest() == {"grpc": True, "spool": True, "database": False}
    problems.clear()
    problems["front"] = "not reporting"  # the listeners' state is unknown: not ready
    checks.refresh()
    assert checks.latest() == {"grpc": False, "spool": True, "database": True}


def test_an_upload_moves_the_last_upload_time_and_start_sets_it() -> None:
    name = ("cashserver_last_upload_timestamp_seconds", ())
    metrics.start_upload_clock(1_700_000_000.5)
    assert samples()[name] == 1_700_000_000.5
    before = time.time()
    metrics.count_upload("grpc", "loaded")
    assert before <= samples()[name] <= time.time()
    metrics.start_upload_clock(None)  # an empty database: the quiet time counts from start
    assert abs(samples()[name] - time.time()) < 60


def test_export_and_pull_counters_exist_at_zero_before_the_first_one() -> None:
    found = samples()
    for result in ("written", "unchanged", "failed"):
        assert ("cashserver_exports_total", (("result", result),)) in found
    for state in ("ready", "ready_with_error", "error"):
        assert ("cashserver_pulls_total", (("state", state),)) in found


@pytest.fixture
def certificates(tmp_path: Path) -> dict[str, Path]:
    ca = trustme.CA()
    files = {}
    for name, expires in (("grpc", datetime(2031, 5, 6, tzinfo=UTC)), ("thrift", None)):
        leaf = ca.issue_cert("127.0.0.1", not_after=expires)
        path = tmp_path / f"{name}.pem"
        leaf.private_key_and_cert_chain_pem.write_to_path(str(path))
        files[name] = path
    return files


def test_the_expiry_of_each_tls_listener_is_read_from_its_certificate(
    tmp_path: Path, certificates: dict[str, Path]
) -> None:
    grpc, thrift = str(certificates["grpc"]), str(certificates["thrift"])
    config = parse_config(
        {
            "grpc": {"listen": "127.0.0.1:1", "tls_cert": grpc, "tls_key": grpc},
            "thrift": {"listen": "127.0.0.1:2", "tls_cert": thrift, "tls_key": thrift},
        }
    )
    assert certificate_files(config) == {"grpc": grpc, "thrift": thrift}
    expiry = expiry_times(config)
    assert expiry["grpc"] == datetime(2031, 5, 6, tzinfo=UTC).timestamp()
    assert expiry["thrift"] == not_after(thrift) > time.time()


def test_a_listener_that_is_off_or_plain_has_no_certificate_series(
    tmp_path: Path, certificates: dict[str, Path]
) -> None:
    grpc = str(certificates["grpc"])
    config = parse_config(
        {
            "grpc": {"listen": "", "tls_cert": grpc, "tls_key": grpc},
            "thrift": {"listen": "127.0.0.1:2"},
        }
    )
    assert certificate_files(config) == {}


def test_an_unreadable_certificate_is_left_out_not_fatal(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    config = parse_config(
        {"grpc": {"listen": "127.0.0.1:1", "tls_cert": str(garbage), "tls_key": str(garbage)}}
    )
    assert expiry_times(config) == {}


def test_the_upstream_client_certificate_counts_when_forwarding_is_on(
    tmp_path: Path, certificates: dict[str, Path]
) -> None:
    cert = str(certificates["grpc"])
    section = {"target": "127.0.0.1:1", "tls_ca": cert, "tls_cert": cert, "tls_key": cert}
    config = parse_config({"upstream": section})
    assert expiry_times(config) == {"upstream": datetime(2031, 5, 6, tzinfo=UTC).timestamp()}
    off = parse_config({"upstream": {**section, "target": ""}})
    assert "upstream" not in certificate_files(off)
