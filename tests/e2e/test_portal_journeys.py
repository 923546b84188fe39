"""The portal's main journeys in Chromium: requesters, approvers, ops teams, demand."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from servicebay.catalog import demand as demand_service
from servicebay.catalog.models import Offering
from servicebay.core.identity import Role
from servicebay.requests import service as requests_service
from tests.e2e.conftest import screenshot
from tests.e2e.portal_support import portal_url, sign_in
from tests.factories import make_offering, make_team, make_user
from tests.receiver import Receiver
from tests.requests.support import SECRET, status_of

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
__all__ = ["portal_url"]

CONDITIONAL_FORM = {
    "fields": [
        {"name": "name", "label": "Database name", "required": True, "pattern": "[a-z_]+"},
        {
            "name": "size",
            "label": "Size",
            "type": "select",
            "options": ["small", "large"],
            "required": True,
        },
        {
            "name": "reason",
            "label": "Why a large one?",
            "type": "textarea",
            "required": True,
            "show_if": {"field": "size", "equals": "large"},
        },
    ]
}


def wait_until(check: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "it did not happen in time"
        time.sleep(0.1)


def test_requester_finds_an_offering_by_live_search_and_submits_with_a_conditional_field(
    page: Page, portal_url: str, db: Session
) -> None:
    team = make_team(db, "platform")
    lead = make_user(db, "pat", team=team, role=Role.LEAD)
    make_offering(db, team, lead, slug="ledger-db", name="Ledger database", form=CONDITIONAL_FORM)
    make_offering(db, team, lead, slug="vpn", name="VPN access", summary="Remote access")
    make_user(db, "casey", team=make_team(db, "payments"))
    db.commit()

    sign_in(page, portal_url, "casey")
    page.get_by_label("Search the catalog").press_sequentially("ledg", delay=40)
    results = page.locator("#results")
    expect(results.get_by_role("link", name="Ledger database")).to_be_visible()
    expect(results.get_by_role("link", name="VPN access")).to_have_count(0)
    assert "q=ledg" in page.url, "the live search keeps its query in the address"
    screenshot(page, "journey-live-search")

    results.get_by_role("link", name="Ledger database").click()
    reason = page.get_by_label("Why a large one?")
    expect(reason).to_be_hidden()
    page.get_by_label("Database name").fill("Bad Name")
    page.get_by_label("Size").focus()
    expect(page.get_by_text("Database name does not have the expected format")).to_be_visible()
    page.get_by_label("Database name").fill("ledger")
    page.get_by_label("Size").select_option("large")
    expect(reason).to_be_visible()
    reason.fill("Year-end reporting needs room")
    screenshot(page, "journey-offering-form")
    page.get_by_role("button", name="Submit request").click()

    page.wait_for_url(re.compile(r".*/requests/\d+$"))
    expect(page.locator(".status-line")).to_have_attribute(
        "data-status", "completed", timeout=15_000
    )
    expect(page.locator(".outputs")).to_contain_text("Year-end reporting needs room")
    screenshot(page, "journey-request-completed")


def test_approver_rejects_with_a_reason_and_the_requester_reads_it(
    page: Page, portal_url: str, db: Session
) -> None:
    team = make_team(db, "security")
    lead = make_user(db, "sam", team=team, role=Role.LEAD)
    policy = {"steps": [{"name": "Security review", "decider": "owner_leads"}]}
    offering = make_offering(db, team, lead, name="Firewall rule", approval_policy=policy)
    casey = make_user(db, "casey", team=make_team(db, "payments"))
    asked = requests_service.submit(
        db, actor=casey, offering_slug=offering.slug, inputs={"name": "ledger", "size": "small"}
    )
    db.commit()

    sign_in(page, portal_url, "sam")
    page.get_by_role("link", name="Approvals").click()
    card = page.locator(f"#approval-{asked.id}")
    expect(card).to_contain_text("casey")
    expect(card).to_contain_text("ledger")
    screenshot(page, "journey-approvals")
    card.get_by_role("button", name=f"Reject #{asked.id}").click()
    expect(page.get_by_role("alert")).to_contain_text("Say why you reject it")
    page.locator(f"#approval-{asked.id}").get_by_label("Reason").fill(
        "Open ports need a ticket from your security champion"
    )
    page.locator(f"#approval-{asked.id}").get_by_role("button", name=f"Reject #{asked.id}").click()
    expect(page.locator(".flash")).to_contain_text(f"Request #{asked.id} rejected")
    expect(page.get_by_text("Nothing waits for your decision")).to_be_visible()

    sign_in(page, portal_url, "casey")
    expect(page.locator("#unread-count")).to_contain_text("2 unread")
    page.get_by_role("link", name=re.compile("Notifications")).click()
    page.get_by_role("link", name=re.compile(f"#{asked.id}.*was rejected")).click()
    expect(page.locator(".status-line")).to_have_attribute("data-status", "rejected")
    expect(page.locator("#live")).to_contain_text(
        "Open ports need a ticket from your security champion"
    )
    screenshot(page, "journey-request-rejected")


def test_ops_member_moves_a_manual_task_to_done_with_outputs(
    page: Page, portal_url: str, db: Session, sessions: sessionmaker[Session]
) -> None:
    team = make_team(db, "it")
    lead = make_user(db, "ivy", team=team, role=Role.LEAD)
    make_user(db, "mo", team=team)
    offering = make_offering(
        db, team, lead, name="New laptop", fulfilment={"kind": "manual", "checklist": ["Order"]}
    )
    casey = make_user(db, "casey", team=make_team(db, "payments"))
    asked = requests_service.submit(
        db, actor=casey, offering_slug=offering.slug, inputs={"name": "ledger", "size": "small"}
    )
    db.commit()

    sign_in(page, portal_url, "mo")
    page.get_by_role("link", name="Ops").click()
    todo = page.locator('[data-column="todo"]')
    expect(todo.locator(f"#task-{asked.id}, .task").first).to_contain_text(f"#{asked.id}")
    screenshot(page, "journey-board")
    todo.get_by_role("button", name=f"Start #{asked.id}").click()
    doing = page.locator('[data-column="doing"]')
    expect(doing).to_contain_text(f"#{asked.id}")
    doing.get_by_text(f"Finish #{asked.id}").click()
    doing.get_by_label("Outputs").fill(
        "asset tag: LT-4711\nlink: https://assets.example.com/LT-4711"
    )
    doing.get_by_label("Notes for the requester").fill("Pick it up at the desk on floor 2.")
    doing.get_by_role("button", name=f"Mark #{asked.id} done").click()
    expect(page.locator(".flash")).to_contain_text("moved to done")
    expect(page.locator('[data-column="done"]')).to_contain_text(f"#{asked.id}")
    assert status_of(sessions, asked.id) == "completed"

    page.locator('[data-column="done"]').get_by_role("link", name=f"#{asked.id}").click()
    expect(page.locator(".status-line")).to_have_attribute("data-status", "completed")
    expect(page.get_by_role("link", name="https://assets.example.com/LT-4711")).to_be_visible()
    expect(page.locator(".outputs")).to_contain_text("LT-4711")


def test_a_failed_run_is_retried_from_the_board(
    page: Page, portal_url: str, db: Session, sessions: sessionmaker[Session]
) -> None:
    with Receiver(secret=SECRET, replies=[(503, "down")], default=(200, {"ok": 1})) as hook:
        team = make_team(db, "platform")
        lead = make_user(db, "pat", team=team, role=Role.LEAD)
        offering = make_offering(
            db,
            team,
            lead,
            name="DNS record",
            fulfilment={"kind": "webhook", "url": hook.url, "max_attempts": 1},
            webhook_secret=SECRET,
        )
        casey = make_user(db, "casey", team=make_team(db, "payments"))
        asked = requests_service.submit(
            db, actor=casey, offering_slug=offering.slug, inputs={"name": "ledger", "size": "small"}
        )
        db.commit()
        wait_until(lambda: status_of(sessions, asked.id) == "failed")

        sign_in(page, portal_url, "pat")
        page.goto(f"{portal_url}/ops")
        lane = page.locator(".failed-lane")
        expect(lane).to_contain_text(f"#{asked.id}")
        expect(lane).to_contain_text("503")
        screenshot(page, "journey-failed-lane")
        lane.get_by_role("button", name=f"Retry #{asked.id}").click()
        expect(page.locator(".flash")).to_contain_text(f"Request #{asked.id} is being retried")
        wait_until(lambda: status_of(sessions, asked.id) == "completed")
        page.reload()
        expect(page.locator(".failed-lane")).to_have_count(0)


def test_a_demand_is_filed_voted_and_accepted_into_a_draft_offering(
    page: Page, portal_url: str, db: Session
) -> None:
    team = make_team(db, "data")
    dara = make_user(db, "dara", team=team, role=Role.LEAD)
    make_offering(db, team, dara, name="Warehouse")  # so that its lead triages unaddressed needs
    make_user(db, "casey", team=make_team(db, "payments"))
    make_user(db, "dana", team=make_team(db, "mobile"))
    db.commit()

    sign_in(page, portal_url, "casey")
    page.get_by_role("link", name="Tell us").click()
    page.get_by_label("What do you need?").fill("Kafka topics on request")
    page.get_by_label("Tell us more").fill("Teams stream events and wait a week for a topic.")
    page.get_by_label("Urgency").select_option("high")
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".flash")).to_contain_text("your need is recorded")
    mine = page.locator(".demand", has_text="Kafka topics on request")
    expect(mine).to_contain_text("You voted")
    expect(mine.locator(".vote-count")).to_have_text("1")

    sign_in(page, portal_url, "dana")
    page.goto(f"{portal_url}/demand")
    page.get_by_role("button", name="Vote for Kafka topics on request").click()
    expect(
        page.locator(".demand", has_text="Kafka topics on request").locator(".vote-count")
    ).to_have_text("2")
    screenshot(page, "journey-demand")

    sign_in(page, portal_url, "dara")
    page.goto(f"{portal_url}/ops/demand")
    card = page.locator(".demand", has_text="Kafka topics on request")
    card.get_by_role("button", name=re.compile("Accept .* as a draft offering")).click()
    expect(page.locator(".flash")).to_contain_text("is a draft offering of your team now")
    expect(page.locator("h1")).to_contain_text("Kafka topics on request")
    screenshot(page, "journey-demand-accepted")

    db.expire_all()
    drafted = db.scalar(select(Offering).where(Offering.slug == "kafka-topics-on-request"))
    assert drafted is not None and drafted.status == "draft"
    accepted = demand_service.open_demands(db)[0]
    assert (accepted.state, accepted.offering_id, accepted.votes) == ("accepted", drafted.id, 2)


def test_the_submit_journey_works_without_javascript(
    browser: Browser, portal_url: str, db: Session, sessions: sessionmaker[Session]
) -> None:
    team = make_team(db, "platform")
    lead = make_user(db, "pat", team=team, role=Role.LEAD)
    make_offering(db, team, lead, slug="ledger-db", name="Ledger database", form=CONDITIONAL_FORM)
    make_user(db, "casey", team=make_team(db, "payments"))
    db.commit()
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        sign_in(page, portal_url, "casey")
        page.get_by_label("Search the catalog").fill("ledger")
        page.get_by_role("button", name="Search").click()
        page.get_by_role("link", name="Ledger database").click()
        page.get_by_label("Database name").fill("ledger")
        page.get_by_label("Size").select_option("large")
        page.get_by_role("button", name="Submit request").click()
        expect(page.get_by_text("Why a large one? is required")).to_be_visible()
        page.get_by_label("Why a large one?").fill("Audit season")
        page.get_by_role("button", name="Submit request").click()
        page.wait_for_url(re.compile(r".*/requests/\d+$"))
        request_id = int(page.url.rsplit("/", 1)[1])
        wait_until(lambda: status_of(sessions, request_id) == "completed")
        page.reload()
        expect(page.locator(".status-line")).to_have_attribute("data-status", "completed")
        page.get_by_label("Add a comment").fill("Thanks, works.")
        page.get_by_role("button", name="Post comment").click()
        expect(page.locator(".comments")).to_contain_text("Thanks, works.")
        page.get_by_label("4 of 5").check()
        page.get_by_role("button", name="Rate").click()
        expect(page.locator(".flash")).to_contain_text("Thank you for rating")
        screenshot(page, "journey-no-javascript")
    finally:
        context.close()
