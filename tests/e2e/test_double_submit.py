"""Double-clicking "Submit request" makes one request, with JavaScript (the button waits,
busy) and without it (the server's one-time form token)."""

from __future__ import annotations

import pytest
from playwright.sync_api import APIResponse, Browser, Page, Route, expect

from tests.e2e.conftest import LiveServer, screenshot, sign_in

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

OFFERING = "/offerings/postgres-database"


def requests_named(page: Page, server: LiveServer, name: str) -> list[int]:
    """Ids of the signed-in person's requests for a database called ``name``."""
    mine = page.request.get(server.url + "/api/v1/requests").json()
    return [row["id"] for row in mine if row["inputs"].get("database_name") == name]


def test_double_clicking_submit_makes_one_request_and_the_button_waits_busy(
    page: Page, live_server: LiveServer
) -> None:
    sign_in(page, live_server, "casey")
    page.goto(live_server.url + OFFERING)
    page.get_by_label("Database name").fill("double_click_js")
    held: list[Route] = []
    page.route("**" + OFFERING + "/request", lambda route: held.append(route))  # held for now

    button = page.get_by_role("button", name="Submit request")
    button.dblclick()

    expect(button).to_be_disabled()
    expect(button).to_have_attribute("aria-busy", "true")
    screenshot(page, "offering-submitting")
    while not held:
        page.wait_for_timeout(50)
    held[0].continue_()
    page.wait_for_url(f"{live_server.url}/requests/*")
    assert len(held) == 1, "the page sent the form more than once"
    assert len(requests_named(page, live_server, "double_click_js")) == 1


def test_without_javascript_a_second_click_while_the_first_waits_makes_no_second_request(
    browser: Browser, live_server: LiveServer
) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        sign_in(page, live_server, "casey")
        page.goto(live_server.url + OFFERING)
        page.get_by_label("Database name").fill("double_click_plain")
        answers: list[APIResponse] = []

        def slow_first_answer(route: Route) -> None:
            answers.append(route.fetch(max_redirects=0))  # the server has acted
            if len(answers) > 1:  # the first answer never comes: as on a slow day
                route.fulfill(response=answers[-1])

        page.route("**" + OFFERING + "/request", slow_first_answer)
        button = page.get_by_role("button", name="Submit request").bounding_box()
        assert button is not None
        middle = (button["x"] + button["width"] / 2, button["y"] + button["height"] / 2)
        page.mouse.click(*middle)
        while not answers:
            page.wait_for_timeout(50)
        page.mouse.click(*middle)  # still on the form, as the first answer has not come
        while len(answers) < 2:  # the second click replaced the first, unanswered navigation
            page.wait_for_timeout(50)

        page.wait_for_url(f"{live_server.url}/requests/*")
        assert len(answers) == 2, "the server saw both posts"
        assert answers[0].headers["location"] == answers[1].headers["location"]
        made = requests_named(page, live_server, "double_click_plain")
        assert len(made) == 1
        assert page.url.endswith(f"/requests/{made[0]}")
        expect(page.locator(".status-line")).to_be_visible()
    finally:
        context.close()
