"""A consumer requests an offering in the browser and watches it complete."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveServer, screenshot, sign_in

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def test_consumer_submits_a_request_and_sees_it_completed(
    page: Page, live_server: LiveServer
) -> None:
    sign_in(page, live_server, "casey")
    expect(page.get_by_role("heading", name="What do you need?")).to_be_visible()
    screenshot(page, "home")

    page.locator("#results").get_by_role("link", name="PostgreSQL database", exact=True).click()
    expect(page.get_by_role("heading", name="PostgreSQL database", level=1)).to_be_visible()
    page.get_by_label("Database name").fill("Not Valid")
    page.get_by_role("button", name="Submit request").click()
    expect(page.get_by_text("Database name does not have the expected format")).to_be_visible()
    screenshot(page, "offering-invalid")

    page.get_by_label("Database name").fill("orders_archive")
    page.get_by_label("Size").select_option("large")
    page.get_by_role("button", name="Submit request").click()

    page.wait_for_url(f"{live_server.url}/requests/*")
    status = page.locator(".status-line")
    expect(status).to_have_attribute("data-status", "completed", timeout=15_000)
    expect(page.get_by_text("Database created.")).to_be_visible()
    screenshot(page, "request-completed")


def test_conditional_field_appears_only_when_it_applies(
    page: Page, live_server: LiveServer
) -> None:
    sign_in(page, live_server, "dana")
    page.goto(live_server.url + "/offerings/laptop")
    justification = page.get_by_label("Why a performance laptop?")
    expect(justification).to_be_hidden()
    page.get_by_label("Model").select_option("Performance")
    expect(justification).to_be_visible()
    page.get_by_label("Model").select_option("Standard")
    expect(justification).to_be_hidden()
    page.get_by_role("button", name="Submit request").click()
    page.wait_for_url(f"{live_server.url}/requests/*")
    expect(page.locator(".status-line")).to_have_attribute(
        "data-status", "completed", timeout=15_000
    )
