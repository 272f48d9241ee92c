"""Debian's ``prometheus`` package for the monitoring tests: ``promtool`` checks and
unit-tests the shipped alert rules, the ``prometheus`` server scrapes a real daemon.

``make test`` installs the package as root when ``promtool`` is missing (without
starting its service). Where a binary is missing the tests that need it are
skipped, and the suite's conftest prints a red banner at the end naming why.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
RULES = REPO / "monitoring" / "prometheus" / "cashserver-alerts.yml"
RULE_TESTS = REPO / "monitoring" / "prometheus" / "cashserver-alerts.test.yml"
DASHBOARD = REPO / "monitoring" / "grafana" / "cashserver.json"
RUNBOOK = REPO / "docs" / "runbook.md"


def require(binary: str) -> str:
    """The path of ``promtool`` or ``prometheus``; skips the test, loudly, when missing."""
    found = shutil.which(binary)
    if found is None:
        reason = (
            f"`{binary}` is missing (Debian's prometheus package; as root, `make test` installs it)"
        )
        pytest.skip(reason)
    return found


_KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless"}
    | {"offset", "bool", "inf", "nan"}
)
_CLAUSE = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_NAME = re.compile(r"(?<![\w$])[a-zA-Z_:][a-zA-Z0-9_:]*(?![\w(])(?!\s*\()")


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (not functions, keywords or labels)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges
    text = _CLAUSE.sub("", text)
    return {name for name in _NAME.findall(text) if name.lower() not in _KEYWORDS}


def load_rules() -> list[dict[str, Any]]:
    """Every alerting rule of the shipped rule file, in order."""
    document = yaml.safe_load(RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"] if "alert" in rule]


def dashboard_targets() -> list[str]:
    """The PromQL of every panel target of the shipped dashboard (rows' panels too)."""
    document = json.loads(DASHBOARD.read_text())
    panels = list(document["panels"])
    found = []
    while panels:
        panel = panels.pop(0)
        panels.extend(panel.get("panels", []))
        found += [target["expr"] for target in panel.get("targets", []) if target.get("expr")]
    return found
