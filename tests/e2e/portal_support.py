"""An in-process server on the test database with its worker, and small browser helpers."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Page

from servicebay.core.settings import Settings
from servicebay.portal.app import create_app
from tests.factories import PASSWORD

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def portal_url(settings: Settings, sessions: object) -> Iterator[str]:
    """The portal on the test database, with the fulfilment worker running beside it."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    fast = settings.model_copy(
        update={
            "base_url": url,
            "worker_poll_seconds": 0.1,
            "retry_base_seconds": 0.05,
            "rate_limit_login": 1000,
        }
    )
    app = create_app(fast, run_worker=True)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield url
    server.should_exit = True
    thread.join(timeout=10)


def sign_in(page: Page, url: str, username: str) -> None:
    """Sign in as ``username`` (signing out whoever was signed in before)."""
    page.context.clear_cookies()
    page.goto(f"{url}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    try:
        page.wait_for_url(f"{url}/")
    except Exception as error:
        raise AssertionError(
            f"{username} could not sign in: {page.url}\n{page.inner_text('main')}"
        ) from error
