"""Every main page passes axe-core without serious or critical violations, at desktop and
phone width, and never scrolls sideways; screenshots of each land in test-artifacts/ for
people to look at."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page
from sqlalchemy.orm import Session, sessionmaker

from servicebay.catalog import demand as demand_service
from servicebay.core.identity import Role
from servicebay.core.settings import Settings
from servicebay.requests import service as requests_service
from servicebay.requests.fulfilment.worker import Worker
from tests.e2e.conftest import screenshot
from tests.e2e.portal_support import AXE, portal_url, sign_in
from tests.factories import make_offering, make_team, make_user

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
__all__ = ["portal_url"]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def _arrange(db: Session, sessions: sessionmaker[Session], settings: Settings) -> dict[str, int]:
    platform = make_team(db, "platform")
    pat = make_user(db, "pat", team=platform, role=Role.LEAD)
    make_user(db, "mo", team=platform)
    casey = make_user(db, "casey", team=make_team(db, "payments"))
    make_user(db, "root", admin=True)
    policy = {"steps": [{"name": "Lead check", "decider": "owner_leads"}]}
    database = make_offering(db, platform, pat, slug="postgres", name="PostgreSQL database")
    gated = make_offering(
        db, platform, pat, slug="firewall", name="Firewall rule", approval_policy=policy
    )
    manual = make_offering(
        db, platform, pat, slug="laptop", name="New laptop", fulfilment={"kind": "manual"}
    )
    make_offering(db, platform, pat, slug="draft-thing", name="Draft thing", publish=False)
    inputs = {"name": "ledger", "size": "small"}
    done = requests_service.submit(db, actor=casey, offering_slug=database.slug, inputs=inputs)
    waiting = requests_service.submit(db, actor=casey, offering_slug=gated.slug, inputs=inputs)
    requests_service.submit(db, actor=casey, offering_slug=manual.slug, inputs=inputs)
    need = demand_service.create(db, actor=casey, title="Kafka topics on request", urgency="high")
    db.commit()
    Worker(sessions, settings).run_until_idle()
    with sessions() as session:
        requests_service.add_comment(
            session, actor=pat, request_id=done.id, body="Your database is ready."
        )
        session.commit()
    return {"done": done.id, "waiting": waiting.id, "demand": need.id}


def _pages(ids: dict[str, int]) -> list[tuple[str, str, str]]:
    """(who, path, name) for every main page."""
    return [
        ("casey", "/", "home"),
        ("casey", "/?q=postgres", "search"),
        ("casey", "/offerings/postgres", "offering"),
        ("casey", "/requests", "my-requests"),
        ("casey", f"/requests/{ids['done']}", "request-completed"),
        ("casey", f"/requests/{ids['waiting']}", "request-waiting"),
        ("casey", "/demand", "demand"),
        ("casey", "/demand?title=Kafka+topic", "demand-similar"),
        ("casey", f"/demand/{ids['demand']}", "demand-detail"),
        ("casey", "/notifications", "notifications"),
        ("casey", "/account", "account"),
        ("casey", "/requests/999999", "not-found"),
        ("pat", "/approvals", "approvals"),
        ("pat", "/ops", "ops-board"),
        ("pat", "/ops/demand", "ops-demand"),
        ("pat", "/ops/offerings", "ops-offerings"),
        ("pat", "/ops/offerings/postgres", "ops-offering-editor"),
        ("pat", "/insights", "insights"),
        ("pat", "/insights/flow", "insights-flow"),
        ("pat", "/insights/value", "insights-value"),
        ("pat", "/insights/demand", "insights-demand"),
        ("pat", "/insights/digest?team=platform", "insights-digest"),
        ("pat", "/account", "account-lead"),
        ("root", "/admin/audit", "audit"),
        ("root", "/admin/people", "people"),
    ]


@pytest.fixture
def axe_context(browser: Browser) -> Iterator[BrowserContext]:
    # Injecting axe adds a script the page's Content-Security-Policy would refuse.
    context = browser.new_context(bypass_csp=True, viewport=DESKTOP)
    yield context
    context.close()


def _violations(page: Page) -> list[dict[str, Any]]:
    page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = page.evaluate(
        """async () => {
            const result = await axe.run(document, {resultTypes: ["violations"]});
            return result.violations
              .filter(v => v.impact === "serious" || v.impact === "critical")
              .map(v => ({id: v.id, impact: v.impact, help: v.help,
                          nodes: v.nodes.slice(0, 3).map(n => n.target.join(" "))}));
        }"""
    )
    return found


def test_every_main_page_has_no_serious_accessibility_violations(
    axe_context: BrowserContext,
    portal_url: str,
    db: Session,
    sessions: sessionmaker[Session],
    settings: Settings,
) -> None:
    ids = _arrange(db, sessions, settings)
    page = axe_context.new_page()
    problems: dict[str, list[dict[str, Any]]] = {}
    signed_in = ""
    for who, path, name in _pages(ids):
        if who != signed_in:
            sign_in(page, portal_url, who)
            signed_in = who
        for width, viewport in (("", DESKTOP), ("-phone", PHONE)):
            page.set_viewport_size(viewport)
            response = page.goto(portal_url + path)
            assert response is not None and response.status < 500, f"{path} answered badly"
            page.wait_for_load_state("networkidle")
            found = _violations(page)
            if found:
                problems[f"{path}{width}"] = found
            page_width = page.evaluate("document.documentElement.scrollWidth")
            if page_width > viewport["width"]:
                problems[f"{path}{width}"] = [{"scrolls sideways": page_width}]
            screenshot(page, f"page-{name}{width}")
    assert problems == {}, problems
