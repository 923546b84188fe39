"""Real `servicebay serve` processes for the scale tests (workers come from the requests tests)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import TEST_SECRET_KEY
from tests.requests.test_worker_processes import SERVICEBAY, wait_until
from tests.servers import free_port


class WebServer:
    """`servicebay serve --workers N` with its JSON log in a file."""

    def __init__(self, process: subprocess.Popen[bytes], log: Path, port: int) -> None:
        self.process = process
        self.log = log
        self.url = f"http://127.0.0.1:{port}"

    def log_entries(self) -> list[dict[str, Any]]:
        entries = []
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                entries.append(json.loads(line))
        return entries

    def pids_that_answered(self, path: str) -> set[int]:
        """Process ids whose access log shows an answer to ``path``."""
        return {
            int(entry["process"])
            for entry in self.log_entries()
            if entry["logger"] == "uvicorn.access" and f" {path} " in entry["message"]
        }

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@contextmanager
def web_server(
    database_url: str, tmp_path: Path, *, processes: int = 1, **env: str
) -> Iterator[WebServer]:
    port = free_port()
    log = tmp_path / f"web-{time.monotonic_ns()}.log"
    environment = {
        **os.environ,
        "SERVICEBAY_DATABASE_URL": database_url,
        "SERVICEBAY_DATA_DIR": str(tmp_path),
        "SERVICEBAY_SECRET_KEY": TEST_SECRET_KEY,
        "SERVICEBAY_BASE_URL": f"http://127.0.0.1:{port}",
        **env,
    }
    command = [SERVICEBAY, "serve", "--port", str(port), "--workers", str(processes)]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [*command, "--no-worker"],
            env=environment,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its web processes form one group, stopped together
        )
    server = WebServer(process, log, port)
    try:
        wait_until(lambda: _healthy(server.url), timeout=30, what="the web server answers")
        yield server
    finally:
        server.stop()


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200
    except httpx.TransportError:
        return False
