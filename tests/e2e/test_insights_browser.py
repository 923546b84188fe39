"""In Chromium: insights charts draw under the CSP, and typing in a request form is
counted once as a form start."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi import FastAPI
from playwright.sync_api import Browser
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from servicebay.core import clock
from servicebay.core.events import Event
from servicebay.core.identity import Role
from tests.analytics.history import make_history
from tests.factories import PASSWORD, make_offering, make_team, make_user
from tests.servers import app_on_thread, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def live_url(app: FastAPI) -> Iterator[str]:
    with app_on_thread(app, free_port()) as url:
        yield url


def test_charts_draw_and_a_started_form_is_counted_once(
    live_url: str, db: Session, browser: Browser
) -> None:
    platform = make_team(db, "platform")
    pat = make_user(db, "pat", team=platform, role=Role.LEAD)
    offering = make_offering(db, platform, pat, slug="postgres", name="PostgreSQL database")
    casey = make_user(db, "casey", team=make_team(db, "payments"))
    start = clock.now() - timedelta(days=2)
    make_history(
        db,
        offering,
        casey,
        [("submitted", start), ("in_fulfilment", start), ("completed", start + timedelta(hours=3))],
    )
    db.commit()

    context = browser.new_context()
    page = context.new_page()
    problems: list[str] = []
    page.on(
        "console",
        lambda m: (
            problems.append(m.text)
            if m.type == "error" and "Failed to load resource" not in m.text
            else None
        ),
    )
    page.on(
        "response",
        lambda r: (
            problems.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico")
            else None
        ),
    )
    page.on("pageerror", lambda error: problems.append(str(error)))

    def sign_in(username: str) -> None:
        page.context.clear_cookies()
        page.goto(f"{live_url}/login")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_load_state()

    sign_in("casey")
    page.goto(f"{live_url}/offerings/postgres")
    with page.expect_response(lambda r: "form-started" in r.url) as answer:
        page.type("input[name=name]", "ledger")
    assert answer.value.status == 204
    page.type("input[name=name]", "_two")
    page.wait_for_timeout(300)

    sign_in("pat")
    page.goto(f"{live_url}/insights/flow")
    page.wait_for_function("document.querySelectorAll('canvas[data-drawn]').length >= 5")
    drawn = page.evaluate("document.querySelectorAll('canvas[data-drawn]').length")
    context.close()

    assert drawn >= 5
    assert not problems
    db.rollback()
    starts = select(func.count()).select_from(Event).where(Event.type == "offering.form_started")
    assert db.scalar(starts) == 1
