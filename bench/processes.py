"""Processes the benchmarks start: servicebay web and worker processes, a webhook receiver."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

BIN = Path(sys.executable).parent
SECRET_KEY = "bench-secret-key-not-for-production"
ADMIN_URL = os.environ.get(
    "SERVICEBAY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def peak_rss_mb(pid: int) -> float:
    """The most memory the process has held (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait_for(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def environment(database_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "SERVICEBAY_DATABASE_URL": database_url,
        "SERVICEBAY_DATA_DIR": str(data_dir),
        "SERVICEBAY_SECRET_KEY": SECRET_KEY,
        "SERVICEBAY_LOG_LEVEL": "warning",
        "SERVICEBAY_FULFILMENT_ALLOWED_NETWORKS": json.dumps(["127.0.0.0/8"]),
        # A handful of benchmark users make thousands of calls a minute.
        "SERVICEBAY_RATE_LIMIT_SUBMIT": "1000000",
        "SERVICEBAY_RATE_LIMIT_SEARCH": "1000000",
        **extra,
    }


class Server:
    def __init__(self, process: subprocess.Popen[bytes], url: str) -> None:
        self.process = process
        self.url = url

    @property
    def pid(self) -> int:
        return self.process.pid


@contextmanager
def web(database_url: str, data_dir: Path, *, with_worker: bool = False) -> Iterator[Server]:
    """One `servicebay serve` web process (the process that answers is the one started)."""
    port = free_port()
    env = environment(database_url, data_dir, SERVICEBAY_BASE_URL=f"http://127.0.0.1:{port}")
    command = [str(BIN / "servicebay"), "serve", "--port", str(port)]
    command.append("--with-worker" if with_worker else "--no-worker")
    with _started(command, env, data_dir / f"web-{port}.log") as process:
        server = Server(process, f"http://127.0.0.1:{port}")
        wait_for(f"{server.url}/healthz")
        yield server


@contextmanager
def workers(database_url: str, data_dir: Path, count: int, concurrency: int) -> Iterator[list[int]]:
    env = environment(database_url, data_dir)
    command = [str(BIN / "servicebay"), "worker", "--concurrency", str(concurrency)]
    with _many(command, env, data_dir, count) as pids:
        yield pids


@contextmanager
def _many(
    command: list[str], env: dict[str, str], data_dir: Path, count: int
) -> Iterator[list[int]]:
    processes = [
        subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=_log(data_dir))
        for _ in range(count)
    ]
    try:
        yield [process.pid for process in processes]
    finally:
        for process in processes:
            _stop(process)


def _log(data_dir: Path) -> int:
    return os.open(data_dir / f"worker-{uuid.uuid4().hex[:6]}.log", os.O_WRONLY | os.O_CREAT)


@contextmanager
def receiver() -> Iterator[Server]:
    """The webhook receiver of bench/receiver.py in its own process."""
    port = free_port()
    command = [sys.executable, "-m", "bench.receiver", "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        server = Server(process, f"http://127.0.0.1:{port}")
        wait_for(f"{server.url}/arrivals")
        yield server
    finally:
        _stop(process)


@contextmanager
def _started(
    command: list[str], env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as sink:
        process = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def scratch_postgres(name: str) -> Iterator[str]:
    """A new PostgreSQL database for one benchmark, dropped afterwards."""
    url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    create_postgres(name)
    try:
        yield url
    finally:
        drop_postgres(name)


def create_postgres(name: str) -> str:
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def drop_postgres(name: str) -> None:
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
