"""The shipped Grafana dashboard (SPEC 16): importable as it is, on any Prometheus data
source, and showing what the issue asks for. Its queries are evaluated on a real
Prometheus in tests/e2e/test_prometheus.py."""

from __future__ import annotations

import json
from typing import Any

from tests.promtools import DASHBOARD, dashboard_targets, metric_names

ASKED_FOR = {
    "cashserver_uploads_total",  # ingest by protocol and status
    "cashserver_receipts_stored_total",  # receipts per second
    "cashserver_load_duration_seconds_bucket",  # load duration quantiles
    "cashserver_spool_files",
    "cashserver_registers",  # registers by state
    "cashserver_exports_total",
    "cashserver_pulls_total",
    "cashserver_upstream_backlog_shifts",
    "cashserver_upstream_oldest_unforwarded_age_seconds",  # the backlog's age
    "cashserver_ready",
    "cashserver_registers_clock_skewed",
    "cashserver_store_days_incomplete",
    "cashserver_tls_cert_expiry_timestamp_seconds",
}


def all_panels(document: dict[str, Any]) -> list[dict[str, Any]]:
    found, queue = [], list(document["panels"])
    while queue:
        panel = queue.pop(0)
        found.append(panel)
        queue.extend(panel.get("panels", []))
    return found


def test_the_dashboard_reads_its_prometheus_from_the_datasource_variable() -> None:
    document = json.loads(DASHBOARD.read_text())
    assert 36 <= document["schemaVersion"] <= 41 and document["uid"] == "cashserver"
    variables = {v["name"]: v for v in document["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for panel in all_panels(document):
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}"
            assert 'job="cashserver"' in target["expr"] and "$instance" in target["expr"]


def test_panel_ids_are_unique_and_every_panel_has_a_place() -> None:
    panels = all_panels(json.loads(DASHBOARD.read_text()))
    assert len({p["id"] for p in panels}) == len(panels)
    for panel in panels:
        place = panel["gridPos"]
        assert place["x"] + place["w"] <= 24 and place["h"] > 0, panel["title"]


def test_the_dashboard_shows_what_spec_16_asks_for() -> None:
    targets = dashboard_targets()
    used = set().union(*(metric_names(expr) for expr in targets))
    assert used >= ASKED_FOR, ASKED_FOR - used
    assert sum("histogram_quantile" in expr for expr in targets) >= 3
    assert any("by (protocol, status)" in expr for expr in targets)
