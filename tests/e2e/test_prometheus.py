"""The alert rules and the dashboard against a real Prometheus scraping a real daemon
(SPEC 16).

One ``cashserver serve`` (gRPC and Thrift with TLS; an upstream target when this
build forwards) under a short emulator load, scraped every second by Debian's
``prometheus`` with the shipped rule file loaded. Every alert expression and every
dashboard query is sent to Prometheus's HTTP API: each must parse and evaluate, and
every metric name they use must be in the scrape. Then three faults are made real
and their alerts' expressions return a series: a register in ERROR (a hung emulator
pulled), a sales file in ``broken/`` (garbage dropped into ``incoming/``), and the
database locked while uploads pile up in ``incoming/``.

Substitutions, so that a query runs here as it runs in production:

- dashboard queries: Grafana's ``$__rate_interval`` becomes ``1m`` and
  ``$instance`` becomes ``.*`` (every instance);
- alert expressions are the rule file's own, read from it. Only where the threshold
  is minutes long (``CashserverIncomingPilingUp``: the oldest incoming file older
  than 600 s) the expression's final number is replaced by a few seconds
  (:func:`with_threshold`). ``for:`` durations are not part of an expression and are
  not waited for; ``promtool test rules`` covers them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import trustme

from cashserver.domain import UploadStatus
from cashserver.emulator.generate import ShiftPlan, generate_upload
from cashserver.emulator.push import GrpcPusher, TlsFiles
from tests.e2e.daemon import ServeProcess, run_cli
from tests.e2e.faults import sqlite_locked
from tests.e2e.prometheus import PrometheusServer
from tests.e2e.pull_peers import add_fleet, emulator_fleet, pull_json
from tests.pg import free_port
from tests.promtools import RULES, dashboard_targets, load_rules, metric_names, require
from tests.waiting import wait_for

SCRAPE_WAIT_S = 60.0


@dataclasses.dataclass
class Stack:
    daemon: ServeProcess
    prometheus: PrometheusServer
    ca: Path


def _pki(root: Path) -> dict[str, str]:
    """A CA; a gRPC certificate valid for years and a Thrift one that expires in 10
    days (the certificate alert fires for it alone); a client certificate."""
    root.mkdir()
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(root / "ca.pem"))
    soon = datetime.now(UTC) + timedelta(days=10)
    files = {"ca": str(root / "ca.pem")}
    for name, cert in (
        ("grpc", ca.issue_cert("127.0.0.1", "localhost")),
        ("thrift", ca.issue_cert("127.0.0.1", "localhost", not_after=soon)),
        ("client", ca.issue_cert("store.invalid", common_name="S1")),
    ):
        cert.private_key_pem.write_to_path(str(root / f"{name}.key"))
        cert.cert_chain_pems[0].write_to_path(str(root / f"{name}.pem"))
        files[name] = str(root / f"{name}.pem")
        files[f"{name}_key"] = str(root / f"{name}.key")
    return files


def _ready(daemon: ServeProcess) -> bool:
    assert daemon.process is not None
    if daemon.process.poll() is not None:
        raise AssertionError(f"serve exited: {daemon.log_text()[-2000:]}")
    try:
        return daemon.http("/readyz", timeout_s=2)[0] == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    require("prometheus")
    root = tmp_path_factory.mktemp("monitoring")
    pki = _pki(root / "pki")
    sections: dict[str, dict[str, Any]] = {
        "grpc": {"tls_cert": pki["grpc"], "tls_key": pki["grpc_key"]},
        "thrift": {"tls_cert": pki["thrift"], "tls_key": pki["thrift_key"]},
        "pull": {"enabled": False, "timeout_s": 3.0},
    }
    # A central server that is not there: the upstream series exist, and say down.
    sections["upstream"] = {
        "target": f"127.0.0.1:{free_port()}",
        "tls_ca": pki["ca"],
        "tls_cert": pki["client"],
        "tls_key": pki["client_key"],
    }
    daemon = ServeProcess(root / "daemon", "", **sections)
    prometheus = PrometheusServer(root / "prometheus", [f"127.0.0.1:{daemon.http_port}"], [RULES])
    try:
        daemon.start(wait=False)
        wait_for(lambda: _ready(daemon), 60, "serve ready")
        prometheus.start()
        for protocol, target, register in (
            (4, daemon.grpc_target, "R1"),
            (3, daemon.thrift_target, "R2"),
        ):  # the short emulator load
            run_cli(
                "emulator", "push", "--target", target, "--protocol", str(protocol),
                "--store", "S1", "--register", register, "--shifts", "3", "--receipts", "40",
                "--tls-ca", pki["ca"],
            )  # fmt: skip
        wait_for(
            lambda: prometheus.query(
                'sum(cashserver_receipts_stored_total{job="cashserver"}) >= 240'
            ),
            SCRAPE_WAIT_S,
            "the load's receipts in Prometheus",
        )
        yield Stack(daemon, prometheus, Path(pki["ca"]))
    finally:
        prometheus.stop()
        daemon.kill()


def with_threshold(expr: str, seconds: float) -> str:
    """``expr`` with its final comparison's number replaced by ``seconds``."""
    changed, count = re.subn(
        r"(>|<|>=|<=)\s*[\d.]+(?:\s*\*\s*[\d.]+)*\s*$", rf"\1 {seconds:g}", expr
    )
    assert count == 1, expr
    return changed


def rule(name: str) -> str:
    return str(next(r["expr"] for r in load_rules() if r["alert"] == name))


def grafana(expr: str) -> str:
    return expr.replace("$__rate_interval", "1m").replace("$instance", ".*")


def test_every_rule_and_panel_expression_parses_and_evaluates(stack: Stack) -> None:
    expressions = [r["expr"] for r in load_rules()] + [grafana(e) for e in dashboard_targets()]
    for expr in expressions:
        stack.prometheus.query(expr)  # an error answer fails with Prometheus's message
    # Prometheus evaluates the loaded rule file itself, too: every rule healthy.
    wait_for(
        lambda: all(r.get("lastEvaluation", "").startswith("2") for r in stack.prometheus.rules()),
        SCRAPE_WAIT_S,
        "every rule evaluated",
    )
    unhealthy = {
        r["name"]: r.get("lastError") for r in stack.prometheus.rules() if r["health"] != "ok"
    }
    assert not unhealthy
    assert {r["name"] for r in stack.prometheus.rules()} == {r["alert"] for r in load_rules()}


def test_every_dashboard_query_returns_data_once_its_metrics_exist(stack: Stack) -> None:
    empty: list[str] = []

    def all_answer() -> bool:
        # A rate needs two scrapes of its series within the range: on a busy machine
        # the first ones after the load may still be missing.
        scraped = stack.prometheus.metric_names()
        empty[:] = [
            expr
            for expr in dashboard_targets()
            if metric_names(expr) <= scraped and not stack.prometheus.query(grafana(expr))
        ]
        return not empty

    with contextlib.suppress(AssertionError):  # the assertion below names the queries
        wait_for(all_answer, SCRAPE_WAIT_S, "every dashboard query answers")
    assert not empty, f"{empty}\nup: {stack.prometheus.query('up')}\n{stack.prometheus.log_text()}"


def test_every_metric_the_rules_and_dashboard_use_is_in_the_scrape(stack: Stack) -> None:
    used = set().union(*(metric_names(e) for e in [r["expr"] for r in load_rules()]))
    used |= set().union(*(metric_names(e) for e in dashboard_targets()))
    missing: list[str] = []

    def all_scraped() -> bool:
        # Gauges refreshed on a timer (store-days) may take their first round to appear.
        missing[:] = sorted(used - stack.prometheus.metric_names())
        return not missing

    with contextlib.suppress(AssertionError):  # the assertion below names what is missing
        wait_for(all_scraped, 30, "every metric name in the scrape")
    assert not missing, f"not in the scrape of a daemon with TLS and an upstream: {missing}"


def test_the_daemon_is_up_ready_and_its_certificates_are_measured(stack: Stack) -> None:
    prometheus = stack.prometheus
    assert prometheus.query(rule("CashserverDown")) == []
    assert prometheus.query(rule("CashserverNotReady")) == []
    ready = prometheus.query('cashserver_ready{job="cashserver"}')
    assert {s["metric"]["check"]: s["value"][1] for s in ready} == {
        "grpc": "1", "thrift": "1", "spool": "1", "database": "1",
    }  # fmt: skip
    expiring = prometheus.query(rule("CashserverCertificateExpiringSoon"))
    assert [s["metric"]["listener"] for s in expiring] == ["thrift"]  # 10 days; grpc: years
    listeners = {
        s["metric"]["listener"]
        for s in prometheus.query("cashserver_tls_cert_expiry_timestamp_seconds")
    }
    assert listeners == {"grpc", "thrift", "upstream"}
    assert prometheus.query(rule("CashserverNoUploads")) == []  # the load just uploaded


def test_a_hung_register_pulled_fires_registers_in_error(stack: Stack) -> None:
    alert = rule("CashserverRegistersInError")
    assert stack.prometheus.query(alert) == []
    with emulator_fleet("--store", "S2", "--hang", "R1", registers=1) as fleet:
        add_fleet(stack.daemon.cli, fleet)
        code, report = pull_json(
            stack.daemon.cli, "S2/R1", "--from", "2026-01-01", "--to", "2026-01-02"
        )
    assert code == 1 and report["registers"][0]["state"] == "ERROR"
    fired = wait_for(lambda: stack.prometheus.query(alert), SCRAPE_WAIT_S, alert)
    assert [(s["metric"]["state"], s["value"][1]) for s in fired] == [("error", "1")]


def test_garbage_in_incoming_lands_in_broken_and_fires(stack: Stack) -> None:
    alert = rule("CashserverSalesFilesFailed")
    assert stack.prometheus.query(alert) == []
    incoming = stack.daemon.data_dir / "spool" / "incoming"
    temp = incoming / ".tmp-garbage"
    temp.write_bytes(b"\x00 this is no sales file {")
    temp.rename(incoming / "99999999999999999999-garbage.json")
    wait_for(lambda: stack.daemon.spool_files("broken"), 30, "the garbage in broken/")
    fired = wait_for(lambda: stack.prometheus.query(alert), SCRAPE_WAIT_S, alert)
    assert [(s["metric"]["folder"], s["value"][1]) for s in fired] == [("broken", "1")]


def test_a_locked_database_piles_uploads_up_in_incoming_and_fires(stack: Stack) -> None:
    prometheus = stack.prometheus
    piling = with_threshold(rule("CashserverIncomingPilingUp"), 3)
    assert piling.endswith("> 3") and prometheus.query(piling) == []
    pusher = GrpcPusher(stack.daemon.grpc_target, tls=TlsFiles(str(stack.ca)))
    try:
        with sqlite_locked(stack.daemon.data_dir / "cashserver.db", at_least_s=0):
            upload = generate_upload(ShiftPlan("S3", "R1", 1, 20, seed=3))
            assert pusher.upload(upload).status is UploadStatus.QUEUED
            assert stack.daemon.spool_files("incoming")
            fired = wait_for(lambda: prometheus.query(piling), SCRAPE_WAIT_S, piling)
            assert len(fired) == 1 and float(fired[0]["value"][1]) > 3
            not_ready = wait_for(
                lambda: prometheus.query(rule("CashserverNotReady")), SCRAPE_WAIT_S, "not ready"
            )
            assert [s["metric"]["check"] for s in not_ready] == ["database"]
    finally:
        pusher.close()
    # The lock gone, the pile drains and the alerts' expressions fall silent.
    wait_for(lambda: not prometheus.query(piling), SCRAPE_WAIT_S, "incoming/ drained")
    wait_for(lambda: not prometheus.query(rule("CashserverNotReady")), SCRAPE_WAIT_S, "ready again")
