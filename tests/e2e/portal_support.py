"""An in-process server on the test database with its worker, and small browser helpers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page

from servicebay.core.settings import Settings
from servicebay.portal.app import create_app
from tests.factories import PASSWORD
from tests.servers import app_on_thread, free_port

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture
def portal_url(settings: Settings, sessions: object) -> Iterator[str]:
    """The portal on the test database, with the fulfilment worker running beside it."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    fast = settings.model_copy(
        update={
            "base_url": url,
            "worker_poll_seconds": 0.1,
            "retry_base_seconds": 0.05,
            "rate_limit_login": 1000,
        }
    )
    with app_on_thread(create_app(fast, run_worker=True), port) as served:
        yield served


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
