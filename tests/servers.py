"""Servers the tests start on 127.0.0.1: a free port, an app on a thread, a real process.

Both helpers wait for the server to answer, with a deadline, and fail the test with what
the server said when it never does: a test never talks to a server that is not up.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import random
import socket
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import anyio
import httpx
import pytest
import uvicorn
from fastapi import FastAPI

T = TypeVar("T")

START_SECONDS = 90.0  # a deadline, generous for a loaded machine; never a target
POLL_SECONDS = 0.05


# Ports handed to servers come from below the kernel's ephemeral range (32768 and up on
# Linux), in a slice of their own per pytest-xdist worker: a port chosen here is never the
# one another worker's receiver just got from the kernel, nor one another worker chose.
PORTS_BELOW = 32768
PORTS_FROM = 10000
PORTS_PER_WORKER = 2000
_handed_out: set[int] = set()


def _worker_index() -> int:
    name = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    digits = name.removeprefix("gw")
    return int(digits) if digits.isdigit() else 0


def free_port() -> int:
    first = PORTS_FROM + _worker_index() * PORTS_PER_WORKER
    candidates = [
        port
        for port in range(first, min(first + PORTS_PER_WORKER, PORTS_BELOW))
        if port not in _handed_out
    ]
    random.shuffle(candidates)
    for port in candidates:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free port left between {first} and {first + PORTS_PER_WORKER}")


def wait_until_up(is_up: Callable[[], bool], *, gone: Callable[[], bool]) -> bool:
    """Poll ``is_up`` until it holds (True), or the server is ``gone`` or late (False)."""
    deadline = time.monotonic() + START_SECONDS
    while not is_up():
        if gone() or time.monotonic() > deadline:
            return False
        time.sleep(POLL_SECONDS)
    return True


def answers(url: str) -> bool:
    try:
        httpx.get(url)
    except httpx.TransportError:
        return False
    return True


class _Collected(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@contextmanager
def app_on_thread(app: FastAPI, port: int) -> Iterator[str]:
    """Serve ``app`` in this process (it shares the test's database) until the block ends."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    said = _Collected()
    uvicorn_log = logging.getLogger("uvicorn.error")
    uvicorn_log.addHandler(said)

    def run() -> None:
        try:
            server.run()
        except SystemExit as stopped:  # uvicorn exits when it cannot start
            said.lines.append(f"uvicorn exited with code {stopped.code}")

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        if not wait_until_up(lambda: server.started, gone=lambda: not thread.is_alive()):
            pytest.fail(f"the app on port {port} never started:\n" + "\n".join(said.lines))
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        uvicorn_log.removeHandler(said)


@contextmanager
def serve_process(
    command: list[str], *, port: int, env: dict[str, str], cwd: Path
) -> Iterator[str]:
    """Run a `servicebay serve` command until it answers, and stop it when the block ends."""
    log_path = cwd / "server.log"
    url = f"http://127.0.0.1:{port}"
    with log_path.open("w") as log:
        server = subprocess.Popen(command, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
        try:
            if not wait_until_up(
                lambda: answers(url + "/login"), gone=lambda: server.poll() is not None
            ):
                server.terminate()
                server.wait(timeout=15)
                pytest.fail(
                    f"{' '.join(command)} never answered on {url} (exit code "
                    f"{server.returncode}):\n{log_path.read_text()}"
                )
            yield url
        finally:
            server.terminate()
            server.wait(timeout=15)


def in_own_loop(func: Callable[..., Awaitable[T]], *args: object) -> T:
    """Run an async client in an event loop on a thread of its own.

    A test process that has started Playwright's sync API already runs a loop on its main
    thread, and `anyio.run` refuses to start a second one there.
    """
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(anyio.run, func, *args).result()
