"""Each demo person's first minutes on a fresh demo, in Chromium: what they set out to do
and what they see at each step. (The platform lead's is in test_demo_lead_journey.py.)"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import PHONE, LiveServer, screenshot, screenshots, sign_in

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def _main_nav(page: Page):  # type: ignore[no-untyped-def]
    return page.get_by_role("navigation", name="Main")


def test_consumer_finds_requests_follows_rates_and_asks_for_what_is_missing(
    page: Page, live_server: LiveServer
) -> None:
    sign_in(page, live_server, "casey")
    nav = _main_nav(page)
    expect(nav.get_by_role("link")).to_have_text(["Catalog", "My requests", "My instances", "Ops"])
    expect(page.get_by_role("heading", name="What do you need?")).to_be_visible()
    screenshots(page, "demo-casey-home")

    # Find an offering by typing, and open it.
    page.get_by_label("Search the catalog").press_sequentially("postgres", delay=40)
    found = page.get_by_role("link", name="PostgreSQL database").first
    expect(found).to_be_visible()
    screenshots(page, "demo-casey-search")
    found.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("PostgreSQL database")
    screenshots(page, "demo-casey-offering")

    # Request it: it is fulfilled automatically, and the request page says so.
    page.get_by_label("Database name").fill("casey_reports")
    page.get_by_label("Size").select_option("small")
    page.get_by_role("button", name="Submit request").click()
    page.wait_for_url(re.compile(r".*/requests/\d+$"))
    number = page.url.rsplit("/", 1)[1]
    expect(page.get_by_role("heading", level=1)).to_have_text(f"#{number} PostgreSQL database")
    expect(page.locator(".status-line")).to_have_attribute(
        "data-status", "completed", timeout=15_000
    )
    expect(page.locator(".outputs")).to_contain_text("Database created.")

    # Follow it: it is among her requests, and a notification tells her it is done.
    nav.get_by_role("link", name="My requests").click()
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=f"#{number}"))
    expect(row).to_contain_text("PostgreSQL database")
    expect(row).to_contain_text(re.compile("completed", re.I))
    screenshots(page, "demo-casey-my-requests")
    page.get_by_role("link", name=re.compile("Notifications")).click()
    page.get_by_role("link", name=re.compile(f"#{number}.*completed")).first.click()
    expect(page).to_have_url(re.compile(f"/requests/{number}$"))

    # Rate it.
    page.get_by_label("5 of 5").check()
    page.get_by_label("Comment (optional)").fill("Ready in seconds.")
    page.get_by_role("button", name="Rate").click()
    expect(page.locator(".flash")).to_contain_text("Thank you for rating")
    expect(page.get_by_role("heading", name="Your rating")).to_be_visible()
    screenshots(page, "demo-casey-request-rated")

    # Ask for what the catalog lacks, and vote for a need someone else has.
    page.goto(live_server.url + "/demand")
    expect(page.get_by_role("heading", level=1)).to_have_text("What people need")
    page.get_by_label("What do you need?").fill("Load-test environments for a day")
    page.get_by_label("Tell us more").fill("We rehearse peak season and need a copy of prod.")
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".flash")).to_contain_text("your need is recorded")
    mine = page.locator(".demand", has_text="Load-test environments for a day")
    expect(mine).to_contain_text("You voted")
    expect(mine.locator(".vote-count")).to_have_text("1")

    page.get_by_role("link", name="Every need").click()  # from the need's own page
    other = page.locator(".demand").filter(
        has=page.get_by_role("button", name=re.compile("^Vote for"))
    )
    title = other.first.get_by_role("heading").inner_text()
    before = int(other.first.locator(".vote-count").inner_text())
    other.first.get_by_role("button", name=re.compile("^Vote for")).click()
    voted = page.locator(".demand", has=page.get_by_role("heading", name=title, exact=True))
    expect(voted.locator(".vote-count")).to_have_text(str(before + 1))
    expect(voted).to_contain_text("You voted")
    screenshots(page, "demo-casey-demand")


def test_analyst_reads_every_teams_insights_narrows_them_and_opens_the_requests_behind(
    page: Page, live_server: LiveServer
) -> None:
    sign_in(page, live_server, "olive")
    _main_nav(page).get_by_role("link", name="Insights").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Insights")
    adoption = page.locator('[data-table="adoption"]')
    for offering in ("PostgreSQL database", "Firewall rule", "Purchase order"):
        expect(adoption).to_contain_text(offering)  # every team's offerings
    screenshots(page, "demo-olive-insights")

    page.get_by_role("combobox", name="Team").select_option(label="Security")
    page.get_by_role("button", name="Apply").click()
    expect(adoption).to_contain_text("Firewall rule")
    expect(adoption).not_to_contain_text("PostgreSQL database")

    adoption.get_by_role("row", name=re.compile("Firewall rule")).get_by_role("link").first.click()
    expect(page).to_have_url(re.compile(r"/insights/requests\?"))
    expect(page.get_by_role("table")).to_contain_text("Firewall rule")
    screenshots(page, "demo-olive-requests-behind")
    page.go_back()

    tabs = page.get_by_role("navigation", name="Insights sections")
    for section, heading in (
        ("Flow", "Lead and cycle time percentiles"),
        ("Work mix and value", "Time saved by automation"),
        ("Demand and forecast", "Top unmet needs"),
    ):
        tabs.get_by_role("link", name=section).click()
        expect(page.get_by_role("heading", level=2, name=re.compile(heading)).first).to_be_visible()
        screenshots(page, f"demo-olive-insights-{section.split()[0].lower()}")
    expect(page.locator("main")).to_contain_text("Kafka topics on request")


def test_admin_reads_the_audit_trail_and_the_teams_manages_tokens_and_opens_any_board(
    page: Page, live_server: LiveServer
) -> None:
    sign_in(page, live_server, "admin")
    nav = _main_nav(page)
    expect(nav.get_by_role("link")).to_have_text(
        ["Catalog", "My requests", "Approvals", "Ops", "Insights", "Admin"]
    )

    # The audit trail, narrowed to what one person did.
    nav.get_by_role("link", name="Admin").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Audit trail")
    page.get_by_label("Actor").fill("pat")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("table.audit tbody tr")
    expect(rows.first).to_be_visible()
    for actor in page.locator("table.audit tbody tr td:nth-child(4)").all_inner_texts():
        assert "pat" in actor.lower() or "platform" in actor.lower(), actor
    expect(page.locator("table.audit")).to_contain_text("offering.published")
    screenshots(page, "demo-admin-audit")

    # Who is in which team, and in what role.
    page.get_by_role("navigation", name="Administration").get_by_role(
        "link", name="People and teams"
    ).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("People and teams")
    platform = page.locator("#teams").get_by_role("row", name=re.compile("Platform Engineering"))
    expect(platform).to_contain_text("Pat Platform")
    casey = page.locator("#people").get_by_role("row", name=re.compile("Casey Consumer"))
    expect(casey).to_contain_text("Payments")
    olive = page.locator("#people").get_by_role("row", name=re.compile("Olive Owner"))
    expect(olive).to_contain_text("Analyst")
    screenshots(page, "demo-admin-people")

    # An API token: shown once, listed with its scopes, revoked.
    page.get_by_role("link", name="Ada Admin").click()
    page.get_by_label("Name").fill("nightly export")
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_text("Copy your new token now")).to_be_visible()
    token_row = page.get_by_role("row", name=re.compile("nightly export"))
    expect(token_row).to_contain_text("active")
    screenshots(page, "demo-admin-tokens")
    token_row.get_by_role("button", name=re.compile("Revoke")).click()
    expect(page.get_by_role("row", name=re.compile("nightly export"))).to_contain_text("revoked")
    expect(page.get_by_text("Copy your new token now")).to_have_count(0)

    # Any team's board, and its people and teams as the account page lists them.
    nav.get_by_role("link", name="Ops").click()
    page.get_by_role("combobox", name="Team").select_option(label="Security")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Ops workspace: Security")
    screenshots(page, "demo-admin-board-security")
    page.get_by_role("link", name="Insights").first.click()
    expect(page.locator('[data-table="adoption"]')).to_contain_text("Contract review")


@pytest.mark.parametrize("username", ["admin", "casey"])
def test_every_main_tab_is_whole_on_screen_and_works_at_phone_width(
    browser: Browser, live_server: LiveServer, username: str
) -> None:
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    try:
        sign_in(page, live_server, username)
        links = _main_nav(page).get_by_role("link")
        names = links.all_inner_texts()
        assert "Catalog" in names and "My requests" in names
        document_width = page.evaluate("document.documentElement.scrollWidth")
        assert document_width <= PHONE["width"], "the page scrolls sideways"
        for index, name in enumerate(names):
            box = links.nth(index).bounding_box()
            assert box is not None, f"{name} is not shown"
            assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], f"{name} is cut off"
            line = page.evaluate(
                "el => parseFloat(getComputedStyle(el).lineHeight) || 24",
                links.nth(index).element_handle(),
            )
            assert box["height"] < 1.8 * line + 8, f"{name} breaks over two lines"
        screenshot(page, f"demo-{username}-phone-nav")
        for name in names:
            _main_nav(page).get_by_role("link", name=name, exact=True).click()
            expect(_main_nav(page).get_by_role("link", name=name, exact=True)).to_have_attribute(
                "aria-current", "page"
            )
    finally:
        context.close()
