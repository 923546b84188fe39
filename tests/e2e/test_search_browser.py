"""Searching the demo catalog in Chromium, on desktop and phone: while a query is active its
results stand where the showcase was, right under the search box; a miss offers a close
query; the same holds without JavaScript."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Locator, Page, expect
from sqlalchemy.orm import Session

from servicebay.requests import service as requests_service
from tests.catalog.test_search_relevance import demo_catalog
from tests.e2e.conftest import screenshot
from tests.e2e.portal_support import portal_url, sign_in
from tests.e2e.test_portal_accessibility import DESKTOP, PHONE, _violations

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
__all__ = ["portal_url"]


def _arrange(db: Session) -> None:
    casey = demo_catalog(db)
    for slug in ("k8s-namespace", "k8s-namespace", "dns-record"):
        requests_service.submit(
            db, actor=casey, offering_slug=slug, inputs={"details": "for the payments service"}
        )
    db.commit()


def _in_view(page: Page, element: Locator) -> None:
    """Visible without scrolling: its top is inside the window."""
    box = element.bounding_box()
    viewport = page.viewport_size
    assert box is not None and viewport is not None
    assert 0 <= box["y"] < viewport["height"] - 40, f"{box} is outside {viewport}"


def test_live_search_answers_where_the_showcase_was_on_desktop_and_phone(
    page: Page, portal_url: str, db: Session
) -> None:
    _arrange(db)
    sign_in(page, portal_url, "casey")
    popular = page.get_by_role("heading", name="Popular this month")
    newest = page.get_by_role("heading", name="New in the catalog")
    search_box = page.get_by_label("Search the catalog")
    results = page.locator("#results")
    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(viewport)
        page.goto(portal_url + "/")
        expect(popular).to_be_visible()
        expect(newest).to_be_visible()
        screenshot(page, f"search-home-{name}")

        search_box.press_sequentially("databse", delay=30)
        first = results.locator("li.offering").first
        expect(first.get_by_role("link", name="PostgreSQL database")).to_be_visible()
        expect(popular).to_have_count(0)
        expect(newest).to_have_count(0)
        _in_view(page, first)
        assert "q=databse" in page.url
        screenshot(page, f"search-live-{name}")

        search_box.fill("")
        expect(newest).to_be_visible()
        expect(popular).to_be_visible()

    page.set_viewport_size(DESKTOP)
    search_box.press_sequentially("k8s", delay=30)
    expect(results.locator("li.offering").first).to_contain_text("Kubernetes namespace")


def test_a_miss_says_did_you_mean_and_the_suggestion_finds_it(
    page: Page, portal_url: str, db: Session
) -> None:
    _arrange(db)
    sign_in(page, portal_url, "casey")
    page.get_by_label("Search the catalog").press_sequentially("k9s", delay=30)
    expect(page.locator("#results")).to_contain_text("Nothing matches “k9s”")
    screenshot(page, "search-did-you-mean")
    page.get_by_role("link", name="k8s").click()
    expect(page.locator("#results li.offering").first).to_contain_text("Kubernetes namespace")
    expect(page.get_by_label("Search the catalog")).to_have_value("k8s")


def test_without_javascript_a_search_shows_its_results_at_the_top(
    browser: Browser, portal_url: str, db: Session
) -> None:
    _arrange(db)
    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        context = browser.new_context(java_script_enabled=False, viewport=viewport)
        page = context.new_page()
        sign_in(page, portal_url, "casey")
        page.get_by_label("Search the catalog").fill("postgres db")
        page.get_by_role("button", name="Search").click()
        first = page.locator("#results li.offering").first
        expect(first).to_contain_text("PostgreSQL database")
        expect(page.get_by_role("heading", name="New in the catalog")).to_have_count(0)
        _in_view(page, first)
        screenshot(page, f"search-no-js-{name}")
        context.close()


def test_search_results_and_a_miss_have_no_serious_accessibility_violations(
    browser: Browser, portal_url: str, db: Session
) -> None:
    _arrange(db)
    context = browser.new_context(bypass_csp=True, viewport=DESKTOP)
    page = context.new_page()
    sign_in(page, portal_url, "casey")
    problems = {}
    for path in ("/?q=databse", "/?q=k9s"):
        for viewport in (DESKTOP, PHONE):
            page.set_viewport_size(viewport)
            page.goto(portal_url + path)
            found = _violations(page)
            if found:
                problems[f"{path} {viewport['width']}"] = found
    context.close()
    assert problems == {}
