"""Servers the tests start on 127.0.0.1: a free port, an app on a thread, a real process."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def app_on_thread(app: FastAPI, port: int) -> Iterator[str]:
    """Serve ``app`` in this process (it shares the test's database) until the block ends."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def serve_process(
    command: list[str], *, port: int, env: dict[str, str], cwd: Path
) -> Iterator[str]:
    """Run a `servicebay serve` command until it answers, and stop it when the block ends."""
    log = (cwd / "server.log").open("w")
    server = subprocess.Popen(command, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                httpx.get(url + "/login")
                break
            except httpx.ConnectError:
                time.sleep(0.05)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=15)
        log.close()
