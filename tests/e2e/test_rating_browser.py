"""Rating a completed request in Chromium: a refused rating stays on the request page."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy.orm import Session

from servicebay.core.identity import Role
from servicebay.core.settings import Settings
from servicebay.portal.app import create_app
from servicebay.requests import service as requests_service
from tests.factories import PASSWORD, make_offering, make_team, make_user
from tests.servers import app_on_thread, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def live_url(settings: Settings, sessions: object) -> Iterator[str]:
    port = free_port()
    app = create_app(settings.model_copy(update={"base_url": f"http://127.0.0.1:{port}"}))
    with app_on_thread(app, port) as url:
        yield url


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    yield context.new_page()
    context.close()


def test_rating_without_a_score_shows_the_error_in_place_and_keeps_the_comment(
    live_url: str, page: Page, db: Session
) -> None:
    team = make_team(db, "platform")
    lead = make_user(db, "pat", team=team, role=Role.LEAD)
    offering = make_offering(db, team, lead)
    casey = make_user(db, "casey")
    asked = requests_service.submit(
        db, actor=casey, offering_slug=offering.slug, inputs={"name": "ledger", "size": "small"}
    )
    asked.status = "completed"
    request_url = f"{live_url}/requests/{asked.id}"
    db.commit()

    page.goto(f"{live_url}/login?next=/requests/{asked.id}")
    page.fill("#username", "casey")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("#rating-heading")).to_have_text("How did it go?")

    page.fill("#rating-comment", "Quick, thank you")
    page.locator("#rating button[type=submit]").click()
    expect(page.locator("#score-error")).to_contain_text("choose from 1 (poor) to 5")
    assert page.url == request_url
    expect(page.locator("#rating-comment")).to_have_value("Quick, thank you")

    page.locator("#rating label.star").nth(3).click()
    page.locator("#rating button[type=submit]").click()
    expect(page.locator(".flash")).to_contain_text("Thank you for rating this request.")
    expect(page.locator("#rating-heading")).to_have_text("Your rating")
