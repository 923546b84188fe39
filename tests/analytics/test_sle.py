"""One service-level attainment: the offering page and the flow summary count it alike,
against the promise of the version each request was made under."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from servicebay.catalog import service as catalog_service
from servicebay.catalog.schemas import OfferingIn
from servicebay.core import clock
from servicebay.core.identity import Role
from tests.analytics.history import make_history
from tests.factories import (
    PASSWORD,
    make_offering,
    make_team,
    make_user,
    offering_definition,
    pass_dry_run,
    token_for,
)


def test_after_an_sle_change_the_offering_page_and_the_flow_summary_agree(
    client: TestClient, db: Session
) -> None:
    team = make_team(db, "platform")
    pat = make_user(db, "pat", team=team, role=Role.LEAD)
    offering = make_offering(db, team, pat, sle={"percent": 80, "within_hours": 4})
    casey = make_user(db, "casey")
    start = clock.now() - timedelta(days=3)
    # Made under the 4-hour promise, done in 3 hours: kept.
    make_history(
        db, offering, casey, [("submitted", start), ("completed", start + timedelta(hours=3))]
    )
    faster = offering_definition(team, slug=offering.slug, sle={"percent": 80, "within_hours": 2})
    catalog_service.update_offering(
        db, actor=pat, offering=offering, definition=OfferingIn.model_validate(faster)
    )
    pass_dry_run(db, offering)
    catalog_service.publish(db, actor=pat, offering=offering)
    later = start + timedelta(days=1)
    # Made under the 2-hour promise, done in 3 hours: missed.
    make_history(
        db, offering, casey, [("submitted", later), ("completed", later + timedelta(hours=3))]
    )
    headers = token_for(db, pat)
    db.commit()

    client.get("/login")
    client.post(
        "/login",
        data={"username": "casey", "password": PASSWORD, "csrf_token": client.cookies["sb_csrf"]},
    )
    page = client.get(f"/offerings/{offering.slug}").text
    [summary] = client.get(
        f"/api/v1/analytics/flow?offering={offering.slug}", headers=headers
    ).json()

    assert "80 % within 2 hours" in page, "the promise shown is the current one"
    assert "last 30 days: 50 %" in page and "of 2 completed" in page
    assert summary["sle_hit_rate"] == 0.5
