"""A consumer requests a database, finds it under My instances, resizes it and then
decommissions it, in the browser."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveServer, screenshot, sign_in

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def test_request_a_database_see_the_instance_resize_it_then_decommission_it(
    page: Page, live_server: LiveServer
) -> None:
    sign_in(page, live_server, "casey")
    page.goto(live_server.url + "/offerings/postgres-database")
    page.get_by_label("Database name").fill("journey_orders")
    page.get_by_label("Size").select_option("small")
    page.get_by_role("button", name="Submit request").click()
    page.wait_for_url(f"{live_server.url}/requests/*")
    expect(page.locator(".status-line")).to_have_attribute(
        "data-status", "completed", timeout=15_000
    )

    page.get_by_role("navigation", name="Main").get_by_role("link", name="My instances").click()
    page.get_by_role("link", name="journey_orders").click()
    expect(page.get_by_role("heading", name="journey_orders")).to_contain_text("active")
    screenshot(page, "instance-active")

    page.locator("#operation-resize summary").click()  # the summary opens its form
    size = page.locator("#operation-resize").get_by_label("Size")
    expect(size).to_have_value("small")  # prefilled from the spec
    size.select_option("medium")
    page.locator("#operation-resize").get_by_role("button", name="Resize").click()
    page.wait_for_url(f"{live_server.url}/requests/*")
    expect(page.get_by_text("Operation resize on")).to_be_visible()
    expect(page.locator(".status-line")).to_have_attribute(
        "data-status", "completed", timeout=15_000
    )

    page.get_by_role("link", name="instance #").click()
    expect(page.locator("dl.spec")).to_contain_text("medium")
    expect(page.locator(".timeline")).to_contain_text("Instance being changed (resize)")

    page.locator("#operation-decommission summary").click()
    page.locator("#operation-decommission").get_by_role("button", name="Decommission").click()
    page.wait_for_url(f"{live_server.url}/requests/*")
    expect(page.locator(".status-line")).to_have_attribute(
        "data-status", "completed", timeout=15_000
    )
    page.get_by_role("link", name="instance #").click()
    expect(page.get_by_role("heading", name="journey_orders")).to_contain_text("retired")
    expect(page.locator("#operation-resize")).to_contain_text("operations run on active instances")
    screenshot(page, "instance-retired")
