"""`cashserver serve` as a real subprocess, for the end-to-end tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from tests.pg import free_port

REPO = Path(__file__).resolve().parents[2]


def cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASHSERVER_")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run_cli(
    *args: str, config: Path | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run a ``cashserver`` subcommand; ``--config`` goes after the subcommand path."""
    argv = [sys.executable, "-m", "cashserver.cli.main", *args]
    if config is not None:
        argv += ["--config", str(config)]
    result = subprocess.run(argv, capture_output=True, text=True, env=cli_env(), timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"{args} exited {result.returncode}: {result.stderr}")
    return result


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return str(value)


class ServeProcess:
    """One daemon: its config file, data folder and ports; start, stop, kill."""

    def __init__(self, root: Path, database_url: str = "", **sections: dict[str, Any]) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.data_dir = root / "data"
        self.grpc_port = free_port()
        self.thrift_port = free_port()
        self.http_port = free_port()
        settings: dict[str, dict[str, Any]] = {
            "server": {"data_dir": str(self.data_dir)},
            "grpc": {"listen": f"127.0.0.1:{self.grpc_port}"},
            "thrift": {"listen": f"127.0.0.1:{self.thrift_port}"},
            "http": {"listen": f"127.0.0.1:{self.http_port}"},
        }
        if database_url:
            settings["server"]["database_url"] = database_url
        for name, values in sections.items():
            settings.setdefault(name, {}).update(values)
        self.config = root / "cashserver.toml"
        self.config.write_text(
            "".join(
                f"[{name}]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in values.items())
                for name, values in settings.items()
            )
        )
        self.process: subprocess.Popen[bytes] | None = None
        self.extra_env: dict[str, str] = {}
        """Environment variables for ``serve`` beyond the test's own (NOTIFY_SOCKET...)."""
        self.log = root / "serve.log"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def thrift_target(self) -> str:
        return f"127.0.0.1:{self.thrift_port}"

    @property
    def http_url(self) -> str:
        """The admin HTTP listener's base URL (``http://127.0.0.1:PORT``)."""
        return f"http://127.0.0.1:{self.http_port}"

    def http(
        self, path: str, method: str = "GET", data: bytes | None = None, timeout_s: float = 10.0
    ) -> tuple[int, bytes]:
        """One request to the admin HTTP listener: (status, body); errors are answers too."""
        request = urllib.request.Request(self.http_url + path, data=data, method=method)
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as reply:
                return reply.status, reply.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def start(self, wait: bool = True) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "cashserver.cli.main",
                    "serve",
                    "--config",
                    str(self.config),
                ],
                stdout=log,
                stderr=log,
                env={**cli_env(), **self.extra_env},
            )
        if wait:
            self.wait_serving()

    def wait_serving(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        with grpc.insecure_channel(self.grpc_target) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while True:
                if self.process is not None and self.process.poll() is not None:
                    raise AssertionError(
                        f"serve exited {self.process.returncode}: {self.log_text()[-2000:]}"
                    )
                try:
                    reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING and self._http_up():
                        return
                except grpc.RpcError:
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError(f"serve did not come up: {self.log_text()[-2000:]}")
                time.sleep(0.05)

    def _http_up(self) -> bool:
        """The admin listener answers /healthz (it starts after the register ports)."""
        try:
            return self.http("/healthz", timeout_s=1.0)[0] == 200
        except OSError:
            return False

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def terminate(self, timeout_s: float = 60.0) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout_s)
        self.process = None
        return code

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def children(self) -> list[int]:
        """The pids of the daemon's child processes (the writer side), from /proc."""
        assert self.process is not None
        pid = self.process.pid
        found: list[int] = []
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                found += [int(child) for child in (task / "children").read_text().split()]
            except OSError:  # the thread ended meanwhile
                continue
        return sorted(set(found))

    def spool_files(self, folder: str) -> list[str]:
        path = self.data_dir / "spool" / folder
        if not path.is_dir():
            return []
        return sorted(p.name for p in path.iterdir() if not p.name.startswith("."))

    def events(self, name: str, timeout_s: float = 10.0) -> list[dict[str, Any]]:
        """The logged events named ``name``, waiting for the first one to reach the
        events table (the daemon writes its journal there every second)."""
        deadline = time.monotonic() + timeout_s
        while True:
            found = [e for e in json.loads(self.cli("log", "--json").stdout) if e["event"] == name]
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.1)

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, config=self.config, check=check)


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
"""A scrape: (sample name, sorted labels) -> value."""


def scrape(daemon: ServeProcess) -> Samples:
    """``/metrics`` parsed by prometheus_client: (sample name, sorted labels) -> value."""
    status, body = daemon.http("/metrics")
    assert status == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }
