"""An ops lead builds, tests and publishes an offering in the editor, in Chromium."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy.orm import Session

from servicebay.core.identity import Role
from servicebay.core.settings import Settings
from servicebay.portal.app import create_app
from tests.factories import PASSWORD, make_team, make_user
from tests.receiver import Receiver
from tests.servers import app_on_thread, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
SECRET = "whsec_c2VydmljZWJheS10ZXN0LXNlY3JldA=="


@pytest.fixture
def live_url(settings: Settings, sessions: object) -> Iterator[str]:
    port = free_port()
    app = create_app(settings.model_copy(update={"base_url": f"http://127.0.0.1:{port}"}))
    with app_on_thread(app, port) as url:
        yield url


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    # The session's one browser: a second Playwright in the same process would clash with it.
    context = browser.new_context()
    yield context.new_page()
    context.close()


def _row(page: Page, index: int, **values: str) -> None:
    for key, value in values.items():
        target = page.locator(f"#field-{index}-{key}")
        if key == "type":
            target.select_option(value)
        else:
            target.fill(value)


def test_ops_lead_builds_a_conditional_form_tests_the_hook_and_publishes(
    live_url: str, page: Page, db: Session
) -> None:
    make_user(db, "pat", team=make_team(db, "platform"), role=Role.LEAD)
    db.commit()
    page.goto(f"{live_url}/login?next=/ops/offerings/new")
    page.fill("#username", "pat")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_contain_text("New offering")

    with Receiver(secret=SECRET) as hook:
        page.fill("#slug", "vm")
        page.fill("#name", "Virtual machine")
        page.locator("#fulfilment_kind").select_option("webhook")
        page.fill("#webhook_url", hook.url)
        page.fill("#webhook_secret", SECRET)
        preview = page.locator("#preview")
        _row(page, 0, name="hostname", label="Host name")
        expect(preview.locator("#field-hostname")).to_be_visible()
        _row(page, 1, name="size", label="Size", type="select", options="small, large")
        expect(preview.locator("select#field-size")).to_be_visible()
        page.click("#save")
        expect(page.locator(".flash")).to_contain_text("Created draft version 1")

        # The third field only shows when a large machine is asked for.
        _row(page, 2, name="reason", label="Why large?", type="textarea")
        _row(page, 2, show_if_field="size", show_if_value="large")
        reason = preview.locator("#field-reason")
        expect(reason).to_be_attached()
        expect(reason).to_be_hidden()
        preview.locator("select#field-size").select_option("large")
        expect(reason).to_be_visible()
        preview.locator("select#field-size").select_option("small")
        expect(reason).to_be_hidden()
        page.click("#save")
        expect(page.locator("#field-2-name")).to_have_value("reason")

        expect(page.locator("#publish")).to_be_disabled()
        expect(page.locator("#publish-blocked")).to_contain_text("Successful test fulfilment")
        expect(page.locator('#scorecard [data-check="dry_run"]')).to_have_class("failed")

        page.fill("#description", "A Linux virtual machine with **backups**.")
        page.fill("#contact", "#platform-help")
        page.fill("#runbook_url", "https://runbooks.example.com/vm")
        page.fill("#sle_percent", "85")
        page.fill("#sle_hours", "48")
        page.click("#save")
        page.click("#test-fulfilment")
        expect(page.locator(".flash")).to_contain_text("Test fulfilment passed")
        assert [d.body["type"] for d in hook.deliveries] == ["test"]
        assert hook.deliveries[0].signature_valid

        expect(page.locator("#publish")).to_be_enabled()
        page.click("#publish")
        expect(page.locator(".flash")).to_contain_text("Published version 1")
        expect(page.locator("h1 .badge")).to_have_text("published")
    assert SECRET not in page.content()
