"""A real Prometheus server (Debian's `prometheus`) for tests: a temp config scraping the given
targets, listening on 127.0.0.1, queried through its HTTP API; and `promtool check metrics`."""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any, Final

import httpx

from testkit.polling import wait_for

START_TIMEOUT_S: Final = 60.0
MISSING: Final = "prometheus/promtool not installed (Debian package prometheus)"


def binaries() -> tuple[str, str] | None:
    """Paths of prometheus and promtool, or None when either is missing."""
    prometheus, promtool = shutil.which("prometheus"), shutil.which("promtool")
    return (prometheus, promtool) if prometheus and promtool else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape_config(targets: dict[str, str], interval: str) -> str:
    """prometheus.yml scraping each `job -> HOST:PORT` every `interval`."""
    lines = [
        "global:",
        f"  scrape_interval: {interval}",
        f"  scrape_timeout: {interval}",
        "scrape_configs:",
    ]
    for job, target in targets.items():
        lines += [
            f"  - job_name: {job}",
            "    static_configs:",
            f"      - targets: ['{target}']",
        ]
    return "\n".join(lines) + "\n"


class PrometheusServer:
    """One prometheus process on a free 127.0.0.1 port with its data under `root`."""

    def __init__(self, root: Path, targets: dict[str, str], interval: str = "500ms") -> None:
        found = binaries()
        if found is None:
            raise RuntimeError(MISSING)
        self.binary, self.promtool = found
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.config = root / "prometheus.yml"
        self.config.write_text(scrape_config(targets, interval))
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> PrometheusServer:
        log = (self.root / "prometheus.log").open("ab")
        try:
            self.proc = subprocess.Popen(
                [
                    self.binary,
                    f"--config.file={self.config}",
                    f"--storage.tsdb.path={self.root / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--log.level=warn",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        finally:
            log.close()
        wait_for(self._ready, START_TIMEOUT_S, "prometheus ready", interval=0.1)
        return self

    def _ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"prometheus exited {self.proc.returncode}:\n{self.log()}")
        try:
            return httpx.get(f"{self.url}/-/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def log(self) -> str:
        return (self.root / "prometheus.log").read_text(errors="replace")[-3000:]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector of `expr` now: a list of {metric, value: [time, "text"]}."""
        resp = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        body = resp.json()
        assert body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def value(self, expr: str) -> float | None:
        """The single value of a scalar-like `expr` (None when the vector is empty)."""
        result = self.query(expr)
        if not result:
            return None
        assert len(result) == 1, result
        return float(result[0]["value"][1])

    def check_metrics(self, text: str) -> subprocess.CompletedProcess[str]:
        """`promtool check metrics` on an exposition (exit 0 and no output: accepted)."""
        return subprocess.run(
            [self.promtool, "check", "metrics"],
            input=text,
            capture_output=True,
            text=True,
            timeout=30,
        )

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
