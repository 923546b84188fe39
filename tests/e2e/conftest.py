"""Browser journeys: a real server process with demo data, driven by Chromium."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Response

from tests.servers import free_port, serve_process

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
DEMO_PASSWORD = "demo-password-42"
SERVICEBAY = Path(sys.executable).with_name("servicebay")


@dataclass(frozen=True)
class LiveServer:
    url: str
    data_dir: Path


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`servicebay serve` on SQLite with the demo organisation loaded."""
    data_dir = tmp_path_factory.mktemp("live")
    port = free_port()
    env = {
        **os.environ,
        "SERVICEBAY_DATA_DIR": str(data_dir),
        "SERVICEBAY_BASE_URL": f"http://127.0.0.1:{port}",
        "SERVICEBAY_WORKER_POLL_SECONDS": "0.2",
        "SERVICEBAY_FULFILMENT_ALLOWED_NETWORKS": '["127.0.0.0/8"]',
    }
    env.pop("SERVICEBAY_DATABASE_URL", None)
    subprocess.run(
        [str(SERVICEBAY), "demo", "--password", DEMO_PASSWORD],
        env=env,
        cwd=data_dir,
        check=True,
        capture_output=True,
    )
    command = [str(SERVICEBAY), "serve", "--port", str(port)]
    with serve_process(command, port=port, env=env, cwd=data_dir) as url:
        yield LiveServer(url=url, data_dir=data_dir)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        # Answers like 422 for an invalid form are intended; broken answers are
        # caught below from the responses themselves.
        if message.type == "error" and "Failed to load resource" not in message.text:
            errors.append(message.text)

    def on_response(response: Response) -> None:
        broken_asset = response.status == 404 and "/static/" in response.url
        if response.status >= 500 or broken_asset:
            errors.append(f"{response.status} from {response.url}")

    page.on("console", on_console)
    page.on("response", on_response)
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield page
    context.close()
    assert errors == [], f"the browser reported errors: {errors}"


def sign_in(page: Page, server: LiveServer, username: str) -> None:
    page.goto(server.url + "/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(server.url + "/")


PHONE = {"width": 375, "height": 812}


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def screenshots(page: Page, name: str) -> None:
    """The page as it stands at desktop width, and again at phone width."""
    screenshot(page, name)
    desktop = page.viewport_size
    page.set_viewport_size(PHONE)
    try:
        # Charts redraw for the new width on the next frames.
        page.evaluate(
            "new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))"
        )
        screenshot(page, f"{name}-phone")
    finally:
        if desktop is not None:
            page.set_viewport_size(desktop)
