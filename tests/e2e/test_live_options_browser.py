"""Live form options in Chromium: changing a field refreshes the options of the field that
depends on it, from a real local source; a source that is down is said so in place."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect
from sqlalchemy.orm import Session

from servicebay.catalog import live_options
from servicebay.core.identity import Role
from servicebay.core.settings import Settings
from servicebay.portal.app import create_app
from tests.catalog.test_live_options import live_form
from tests.factories import PASSWORD, make_offering, make_team, make_user
from tests.options_source import OptionsSource, clusters
from tests.servers import app_on_thread, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def live_url(settings: Settings, sessions: object) -> Iterator[str]:
    live_options.for_policy.cache_clear()
    port = free_port()
    app = create_app(settings.model_copy(update={"base_url": f"http://127.0.0.1:{port}"}))
    with app_on_thread(app, port) as url:
        yield url


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and "Failed to load resource" not in message.text:
            errors.append(message.text)  # a script the CSP refused shows up here

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert errors == [], f"the browser reported errors: {errors}"


def choose_environment(page: Page, environment: str) -> None:
    """Choose, and wait for the cluster field drawn again for the choice."""
    with page.expect_response("**/fields/cluster/options?*"):
        page.get_by_label("Environment").select_option(environment)


def test_changing_a_field_refreshes_the_options_of_the_field_that_depends_on_it(
    live_url: str, page: Page, db: Session
) -> None:
    with OptionsSource(answer=clusters) as source:
        owners = make_team(db, "owners")
        lead = make_user(db, team=owners, role=Role.LEAD)
        make_offering(
            db, owners, lead, slug="namespace", form=live_form(source.base, cache_seconds=0)
        )
        make_user(db, "casey", team=make_team(db, "payments"))
        db.commit()

        page.goto(f"{live_url}/login?next=/offerings/namespace")
        page.fill("#username", "casey")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        cluster = page.get_by_label("Cluster")
        expect(page.locator("#field-cluster-state")).to_have_text(
            "Choose Environment first to see the options."
        )

        choose_environment(page, "production")
        expect(cluster.locator("option")).to_have_text(
            ["Choose…", "prod-eu (payments)", "prod-us (payments)"]
        )
        choose_environment(page, "staging")
        expect(cluster.locator("option")).to_have_text(["Choose…", "stage-1 (payments)"])
        cluster.select_option("stage-1-payments")

        source.answer = lambda asked: (503, {"detail": "maintenance"})
        choose_environment(page, "production")
        expect(page.locator("#field-cluster-state")).to_contain_text(
            "The options cannot be loaded now: the options source at 127.0.0.1 answered 503"
        )
        # The chosen cluster went with the answer it came from: nothing stale can be sent.
        expect(page.get_by_label("Cluster")).to_have_value("")
        page.get_by_role("button", name="Submit request").click()
        expect(page.get_by_label("Cluster")).to_have_value("")
        assert page.url == f"{live_url}/offerings/namespace"

        source.answer = clusters
        choose_environment(page, "staging")
        expect(cluster.locator("option")).to_have_text(["Choose…", "stage-1 (payments)"])
        cluster.select_option("stage-1-payments")
        page.get_by_role("button", name="Submit request").click()
        page.wait_for_url(f"{live_url}/requests/*")
        expect(page.get_by_text("stage-1-payments")).to_be_visible()
