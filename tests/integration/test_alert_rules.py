"""The shipped alert rules (SPEC 16): promtool checks them and runs their unit tests,
and each alert follows the mixins' conventions and has its runbook section."""

from __future__ import annotations

import re
import subprocess
from typing import Any

import yaml

from tests.promtools import RULE_TESTS, RULES, RUNBOOK, load_rules, metric_names, require

RUNBOOK_BASE = "https://cashserver.invalid/"
SEVERITIES = {"critical", "warning", "info"}
SPEC_16_SERIES = {
    "up",  # the daemon down
    "cashserver_ready",  # not ready
    "cashserver_spool_oldest_incoming_age_seconds",  # incoming/ piling up
    "cashserver_spool_files",  # files in error/ or broken/
    "cashserver_exports_total",  # exports failing
    "cashserver_registers",  # registers in ERROR
    "cashserver_last_upload_timestamp_seconds",  # no upload for the quiet time
    "cashserver_upstream_oldest_unforwarded_age_seconds",  # the upstream backlog's age
    "cashserver_upstream_up",  # the upstream down
    "cashserver_registers_clock_skewed",
    "cashserver_store_days_incomplete",
    "cashserver_tls_cert_expiry_timestamp_seconds",
}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require("promtool"), *args], capture_output=True, text=True, timeout=120)


def test_promtool_accepts_the_rule_file() -> None:
    result = promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(load_rules())} rules found" in result.stdout


def test_the_rules_unit_tests_pass_under_promtool() -> None:
    result = promtool("test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_is_named_labelled_and_annotated_by_the_conventions() -> None:
    for rule in load_rules():
        name = rule["alert"]
        assert re.fullmatch(r"Cashserver(?:[A-Z][a-z0-9]+)+", name), name
        assert rule["labels"]["severity"] in SEVERITIES, name
        assert re.fullmatch(r"\d+[smh]", rule["for"]), name
        annotations = rule["annotations"]
        assert set(annotations) == {"summary", "description", "runbook_url"}, name
        assert "{{ $labels.instance }}" in annotations["description"], name
        assert annotations["runbook_url"] == f"{RUNBOOK_BASE}docs/runbook.md#{name.lower()}"
        assert 'job="cashserver"' in rule["expr"], name


def github_anchors(markdown: str) -> set[str]:
    """The anchors GitHub (and most renderers) give the document's headings."""
    anchors = set()
    for heading in re.findall(r"^#{1,6} +(.+?) *$", markdown, flags=re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchors.add(slug)
    return anchors


def test_every_runbook_url_leads_to_a_section_of_the_runbook() -> None:
    anchors = github_anchors(RUNBOOK.read_text())
    missing = [r["alert"] for r in load_rules() if r["alert"].lower() not in anchors]
    assert not missing, f"docs/runbook.md has no section for {missing}"


def test_the_rules_watch_every_case_of_spec_16() -> None:
    used = set().union(*(metric_names(rule["expr"]) for rule in load_rules()))
    assert used >= SPEC_16_SERIES, SPEC_16_SERIES - used
    assert any("6 * 3600" in rule["expr"] for rule in load_rules())  # the quiet time


def _labels(series: str) -> tuple[str, dict[str, str]]:
    name, _, rest = series.partition("{")
    return name, dict(re.findall(r'(\w+)="([^"]*)"', rest))


def test_every_alert_is_tested_firing_and_silent() -> None:
    """Each alert has a test where it fires, on input that also holds a series of the
    same metric that must not fire it (it does not appear among the expected alerts)."""
    document: dict[str, Any] = yaml.safe_load(RULE_TESTS.read_text())
    covered = set()
    for rule in load_rules():
        names = metric_names(rule["expr"])
        for case in document["tests"]:
            inputs = [_labels(s["series"]) for s in case["input_series"]]
            for check in case.get("alert_rule_test", []):
                if check["alertname"] != rule["alert"] or not check["exp_alerts"]:
                    continue
                fired = [a["exp_labels"] for a in check["exp_alerts"]]
                silent = [
                    labels
                    for metric, labels in inputs
                    if metric in names
                    and not any(all(f.get(k) == v for k, v in labels.items()) for f in fired)
                ]
                if silent:
                    covered.add(rule["alert"])
    assert covered == {rule["alert"] for rule in load_rules()}
