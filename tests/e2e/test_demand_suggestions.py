"""Typing a need offers the open needs like it, to vote for instead of filing a duplicate."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect
from sqlalchemy.orm import Session

from servicebay.catalog import demand as demand_service
from tests.e2e.conftest import screenshot
from tests.e2e.portal_support import portal_url, sign_in
from tests.factories import make_user

__all__ = ["portal_url"]


def test_typing_a_need_offers_the_similar_open_need_and_votes_for_it_instead(
    page: Page, portal_url: str, db: Session
) -> None:
    ari = make_user(db, "ari")
    need = demand_service.create(db, actor=ari, title="Kafka topics on request")
    for _ in range(21):
        demand_service.vote(db, actor=make_user(db), demand=need)
    demand_service.create(db, actor=ari, title="Fax machines")
    make_user(db, "casey")
    db.commit()

    sign_in(page, portal_url, "casey")
    page.goto(f"{portal_url}/demand")
    suggestions = page.locator("#similar-needs")
    expect(suggestions).not_to_contain_text("Kafka topics on request")
    page.get_by_label("What do you need?").press_sequentially("Kafka topic", delay=30)
    expect(suggestions).to_contain_text("Kafka topics on request")
    expect(suggestions).to_contain_text("22 votes")
    expect(suggestions).not_to_contain_text("Fax machines")
    screenshot(page, "demand-similar-while-typing")

    instead = re.compile("^Vote for this instead.*Kafka topics on request")
    suggestions.get_by_role("button", name=instead).click()
    expect(page.locator(".flash")).to_contain_text("You voted for “Kafka topics on request”")
    expect(page.locator("h1")).to_have_text("Kafka topics on request")
    expect(page.locator(".vote-count")).to_have_text("23")
    expect(page.get_by_role("button", name="Take back my vote")).to_be_visible()


def test_without_javascript_a_near_duplicate_is_asked_did_you_mean_before_it_is_filed(
    browser: Browser, portal_url: str, db: Session
) -> None:
    ari = make_user(db, "ari")
    demand_service.create(db, actor=ari, title="Kafka topics on request")
    make_user(db, "casey")
    db.commit()
    context = browser.new_context(
        java_script_enabled=False, viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    try:
        sign_in(page, portal_url, "casey")
        page.goto(f"{portal_url}/demand")
        page.get_by_label("What do you need?").fill("Kafka topic")
        page.get_by_role("button", name="Send").click()
        asked = page.locator("#similar-needs")
        expect(asked).to_contain_text("Did you mean one of these?")
        expect(asked).to_contain_text("Kafka topics on request")
        screenshot(page, "demand-did-you-mean")

        page.get_by_role("button", name="Send mine as a new need").click()
        expect(page.locator(".flash")).to_contain_text("your need is recorded")
        expect(page.locator("h1")).to_have_text("Kafka topic")
    finally:
        context.close()
