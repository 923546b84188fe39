"""The demo analyst opens /insights, reads the summary and a struggling offering's
verdict, and follows it to the evidence and the requests behind it."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import LiveServer, screenshot, sign_in
from tests.e2e.portal_support import AXE

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def test_analyst_reads_the_answer_and_follows_a_struggling_offering_to_its_requests(
    page: Page, live_server: LiveServer
) -> None:
    sign_in(page, live_server, "olive")
    page.get_by_role("link", name="Insights").first.click()

    summary = page.locator("#summary")
    expect(summary.get_by_role("heading", name="Summary")).to_be_visible()
    requests = summary.locator('[data-figure="requests"]')
    expect(requests.locator(".figure-value")).to_have_text(re.compile(r"^\d+$"))
    expect(requests.locator(".figure-previous")).to_have_text(re.compile(r"^before: \d+$"))
    expect(summary.locator('[data-figure="automation_rate"] .figure-value')).to_have_text(
        re.compile(r"^\d+ %$")
    )
    screenshot(page, "insights-answer")
    # Ten offerings a page, those needing a decision first, and the rest a page away.
    expect(page.locator(".health-item")).to_have_count(10)
    expect(page.locator("[data-health-count]")).to_contain_text("need a decision")
    expect(page.locator('#health nav.pager a[rel="next"]')).to_be_visible()

    struggling = page.locator(".health-item").filter(
        has=page.locator("[data-verdict]", has_text="Struggling")
    )
    evidence = struggling.filter(has=page.locator('a[href*="/insights/requests"]')).first
    name = evidence.locator(".health-head strong").inner_text()
    expect(evidence.locator(".verdict-number")).to_have_text(re.compile(r"^-?\d+ %$"))
    link = evidence.locator('.losses a[href*="/insights/requests"]').first
    loss = link.inner_text()
    count = int(re.match(r"\D+(\d+) of", loss).group(1))  # type: ignore[union-attr]
    link.click()

    expect(page.get_by_role("heading", level=1)).to_contain_text("Requests counted as")
    rows = page.locator("#requests-behind tbody tr")
    expect(rows).to_have_count(count)
    expect(rows.first).to_contain_text(name)
    screenshot(page, "insights-answer-evidence")
    rows.first.get_by_role("link").click()
    expect(page).to_have_url(re.compile(r"/requests/\d+$"))
    expect(page.locator("main")).to_contain_text(name)


def _violations(page: Page) -> list[dict[str, Any]]:
    page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = page.evaluate(
        """async () => {
            const result = await axe.run(document, {resultTypes: ["violations"]});
            return result.violations
              .filter(v => v.impact === "serious" || v.impact === "critical")
              .map(v => ({id: v.id, help: v.help,
                          nodes: v.nodes.slice(0, 3).map(n => n.target.join(" "))}));
        }"""
    )
    return found


def test_the_answer_passes_axe_and_fits_a_phone(browser: Browser, live_server: LiveServer) -> None:
    # Injecting axe adds a script the page's Content-Security-Policy would refuse.
    context = browser.new_context(bypass_csp=True, viewport=DESKTOP)
    page = context.new_page()
    sign_in(page, live_server, "olive")
    problems: dict[str, list[dict[str, Any]]] = {}
    for path, name in (
        ("/insights", "insights-summary"),
        ("/insights?page=2", "insights-health-page-2"),
        ("/insights?offering=postgres-database", "insights-offering-versions"),
    ):
        for suffix, viewport in (("", DESKTOP), ("-phone", PHONE)):
            page.set_viewport_size(viewport)
            page.goto(live_server.url + path)
            page.wait_for_load_state("networkidle")
            found = _violations(page)
            if found:
                problems[path + suffix] = found
            if suffix:
                wide = page.evaluate(
                    "Array.from(document.querySelectorAll("
                    "'main .panel, main .table-scroll, main table'))"
                    ".filter(e => e.scrollWidth > e.clientWidth + 1)"
                    ".map(e => e.id || e.className)"
                )
                assert wide == [], f"{path} is wider than a phone in {wide}"
                assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
            screenshot(page, name + suffix)
    versions = page.locator('[data-table="versions"] tbody tr')
    expect(versions.first).to_be_visible()
    context.close()
    assert problems == {}, problems
