"""A three-step request fails at step 2, is retried from the owner team's board, and
completes without step 1 running again (the receiver's ledger proves it)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from servicebay.core.identity import Role
from tests.e2e.conftest import screenshot
from tests.e2e.portal_support import portal_url, sign_in
from tests.factories import make_offering, make_team, make_user
from tests.receiver import Receiver
from tests.requests.support import SECRET

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
__all__ = ["portal_url"]


def test_a_request_failing_at_step_2_is_retried_from_the_board_and_step_1_never_runs_again(
    page: Page, portal_url: str, db: Session
) -> None:
    with (
        Receiver(secret=SECRET, default=(200, {"outputs": {"host": "db1.internal"}})) as first,
        Receiver(
            secret=SECRET,
            replies=[(400, "the CMDB refused: unknown network")],
            default=(200, {"outputs": {"ci": "CI-7"}}),
        ) as second,
        Receiver(secret=SECRET, default=(200, {"outputs": {"handed_over": "yes"}})) as third,
    ):
        team = make_team(db, "platform")
        lead = make_user(db, "pat", team=team, role=Role.LEAD)
        steps = [
            {"name": "provision", "kind": "webhook", "url": first.url, "outputs": ["host"]},
            {
                "name": "register",
                "kind": "webhook",
                "url": second.url,
                "max_attempts": 1,
                "params": {"host": "{{ steps.provision.outputs.host }}"},
            },
            {"name": "hand_over", "kind": "webhook", "url": third.url},
        ]
        make_offering(
            db,
            team,
            lead,
            slug="team-db",
            name="Team database",
            fulfilment={"kind": "pipeline", "steps": steps},
            webhook_secret=SECRET,
        )
        make_user(db, "casey", team=make_team(db, "payments"))
        db.commit()

        sign_in(page, portal_url, "casey")
        page.goto(f"{portal_url}/offerings/team-db")
        page.get_by_label("Database name").fill("ledger")
        page.get_by_label("Size").select_option("small")
        page.get_by_role("button", name="Submit request").click()
        page.wait_for_url(re.compile(r".*/requests/\d+$"))
        request_url = page.url
        expect(page.locator(".status-line")).to_have_attribute(
            "data-status", "failed", timeout=15_000
        )
        page.reload()
        steps_list = page.locator(".pipeline-steps")
        expect(steps_list).to_contain_text("Step 2: register")
        expect(steps_list).to_contain_text("the CMDB refused: unknown network")
        screenshot(page, "pipeline-failed-at-step-2")

        sign_in(page, portal_url, "pat")
        page.goto(f"{portal_url}/ops")
        card = page.locator(".failed-lane .card")
        expect(card).to_contain_text("step 2 (register)")
        card.get_by_role("button", name=re.compile(r"Retry #\d+")).click()
        page.goto(request_url)
        expect(page.locator(".status-line")).to_have_attribute(
            "data-status", "completed", timeout=15_000
        )
        page.reload()
        expect(page.locator(".pipeline-steps")).to_contain_text("Step 3: hand over")
        screenshot(page, "pipeline-completed-after-retry")

    assert len(first.deliveries) == 1
    assert len(second.deliveries) == 2
    assert second.deliveries[1].body["data"]["step"]["params"] == {"host": "db1.internal"}
    assert len(third.deliveries) == 1
