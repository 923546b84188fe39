"""The test server helpers fail, with the server's own words, when it never comes up."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi import FastAPI

from tests.servers import app_on_thread, free_port, serve_process

ROOT = Path(__file__).resolve().parent.parent


def test_a_server_process_that_exits_fails_the_test_with_its_output(tmp_path: Path) -> None:
    command = [sys.executable, "-c", "print('no database here', flush=True); raise SystemExit(3)"]

    with (
        pytest.raises(pytest.fail.Exception, match=r"(?s)exit code 3.*no database here"),
        serve_process(command, port=free_port(), env={}, cwd=tmp_path),
    ):
        pytest.fail("the block ran although the server never answered")


def test_an_app_whose_port_is_taken_fails_the_test_with_the_servers_words() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        with (
            pytest.raises(
                pytest.fail.Exception, match=r"(?s)never started.*address already in use"
            ),
            app_on_thread(FastAPI(), port),
        ):
            pytest.fail("the block ran although the app never started")


def test_the_shared_fixtures_load_without_playwright() -> None:
    script = "import sys, tests.conftest; print('playwright' in sys.modules)"
    loaded = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert loaded.stdout.strip() == "False"
