"""The platform lead's first minutes on a fresh demo: decisions waiting, a busy board,
a failed run that Retry completes."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveServer, screenshots, sign_in

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def test_platform_lead_finds_approvals_every_board_column_and_retries_the_failed_run(
    page: Page, live_server: LiveServer
) -> None:
    sign_in(page, live_server, "pat")
    page.get_by_role("link", name="Approvals").click()
    waiting = page.locator(".card.approval")
    expect(waiting.filter(has_text="Dedicated CI runner")).to_have_count(2)
    screenshots(page, "demo-pat-approvals")

    page.get_by_role("link", name="Ops").click()
    for column in ("todo", "doing", "done"):
        cards = page.locator(f'[data-column="{column}"] .card.task')
        expect(cards.filter(has_text="Architecture review").first).to_be_visible()
    lane = page.locator(".failed-lane")
    failed = lane.locator(".card.failed")
    expect(failed).to_have_count(1)
    expect(failed).to_contain_text("DNS record")
    expect(failed).to_contain_text("refused the change to the legacy zone")
    screenshots(page, "demo-pat-board")

    number = re.search(r"#(\d+)", failed.locator("h3").inner_text())
    assert number is not None
    lane.get_by_role("button", name=f"Retry #{number[1]}").click()
    expect(page.locator(".flash")).to_contain_text(f"Request #{number[1]} is being retried")
    page.goto(f"{live_server.url}/requests/{number[1]}")
    expect(page.locator(".status-line")).to_have_attribute(
        "data-status", "completed", timeout=15_000
    )
    expect(page.get_by_text("DNS record created.")).to_be_visible()
