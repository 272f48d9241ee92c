"""A real Prometheus server for the end-to-end tests: Debian's ``prometheus`` binary with
a throwaway configuration and data folder, on a free loopback port, queried through
its HTTP API."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.pg import free_port
from tests.promtools import require
from tests.waiting import wait_for

START_TIMEOUT_S = 60.0


class PrometheusServer:
    """``prometheus`` scraping ``targets`` (job ``cashserver``) every second, with
    ``rule_files`` loaded; :meth:`stop` kills it."""

    def __init__(self, root: Path, targets: Sequence[str], rule_files: Sequence[Path]) -> None:
        self.binary = require("prometheus")
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.config = root / "prometheus.yml"
        self.config.write_text(
            json.dumps(  # JSON is YAML
                {
                    "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                    "rule_files": [str(path) for path in rule_files],
                    "scrape_configs": [
                        {
                            "job_name": "cashserver",
                            "scrape_timeout": "1s",
                            "static_configs": [{"targets": list(targets)}],
                        }
                    ],
                },
                indent=2,
            )
        )
        self.log = root / "prometheus.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [
                    self.binary,
                    f"--config.file={self.config}",
                    f"--storage.tsdb.path={self.root / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--log.level=warn",
                ],
                stdout=log,
                stderr=log,
                cwd=self.root,
            )
        wait_for(self._ready, START_TIMEOUT_S, "prometheus ready")

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"prometheus exited {self.process.returncode}: {self.log_text()}")
        try:
            with urllib.request.urlopen(self.url + "/-/ready", timeout=1) as reply:
                return bool(reply.status == 200)
        except OSError:
            return False

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(30)
            self.process = None

    def api(self, path: str, **params: str) -> Any:
        """The ``data`` of an API answer; an error answer fails with Prometheus's message."""
        url = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=10) as reply:
                body = json.loads(reply.read())
        except urllib.error.HTTPError as exc:
            body = json.loads(exc.read())
        if body.get("status") != "success":
            raise AssertionError(f"{params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector ``expr`` evaluates to now (a scalar as one unlabelled sample)."""
        data = self.api("query", query=expr)
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": data["result"]}]
        return list(data["result"])

    def metric_names(self, job: str = "cashserver") -> set[str]:
        """Every metric name the job's scrapes have stored (``up`` included)."""
        return set(self.api("label/__name__/values", **{"match[]": f'{{job="{job}"}}'}))

    def rules(self) -> list[dict[str, Any]]:
        return [rule for group in self.api("rules")["groups"] for rule in group["rules"]]
