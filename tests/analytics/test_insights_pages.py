"""/insights: charts with the same numbers as tables beside them, filters, drill-down."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from servicebay.catalog.models import Offering
from servicebay.core import clock, identity
from servicebay.core.identity import Role, User
from servicebay.requests.history import Case, LoggedEvent, import_cases
from tests.analytics.history import make_history
from tests.factories import make_offering, make_team, make_user, sign_in


def _arrange(db: Session) -> int:
    platform = make_team(db, "platform")
    pat = make_user(db, "pat", team=platform, role=Role.LEAD)
    security = make_team(db, "security")
    sam = make_user(db, "sam", team=security, role=Role.LEAD)
    make_user(db, "ana", analyst=True)
    postgres = make_offering(db, platform, pat, slug="postgres", name="PostgreSQL database")
    make_offering(db, security, sam, slug="pentest", name="Penetration test")
    casey = make_user(db, "casey", team=make_team(db, "payments"))
    start = clock.now() - timedelta(days=3)
    done = make_history(
        db,
        postgres,
        casey,
        [
            ("submitted", start),
            ("in_fulfilment", start + timedelta(hours=1)),
            ("completed", start + timedelta(days=1)),
        ],
    )
    db.commit()
    return done.id


def test_analyst_sees_every_section_with_a_chart_and_its_table(
    client: TestClient, db: Session
) -> None:
    request_id = _arrange(db)
    sign_in(client, "ana")

    adoption = client.get("/insights")
    assert adoption.status_code == 200
    assert "PostgreSQL database" in adoption.text and "pentest" in adoption.text
    chart = re.search(
        r'<script type="application/json" id="chart-adoption">(.*?)</script>', adoption.text
    )
    assert chart is not None
    spec = json.loads(chart.group(1))
    submitted = next(d for d in spec["datasets"] if d["label"] == "Submitted")
    assert dict(zip(spec["labels"], submitted["data"], strict=True))["PostgreSQL database"] == 1
    assert "Zero uptake" in adoption.text and "no submission" in adoption.text
    assert "unused" not in adoption.text and "Class" not in adoption.text

    flow = client.get("/insights/flow")
    assert flow.status_code == 200
    assert 'id="chart-lead-times"' in flow.text and 'id="chart-cumulative-flow"' in flow.text
    assert f'href="/requests/{request_id}"' in flow.text
    for section in ("value", "demand"):
        assert client.get(f"/insights/{section}").status_code == 200
    assert client.get("/insights/nothing").status_code == 404


def test_team_lead_sees_only_the_teams_offerings_and_filters_narrow_further(
    client: TestClient, db: Session
) -> None:
    _arrange(db)
    sign_in(client, "sam")

    page = client.get("/insights")
    assert "pentest" in page.text and "postgres" not in page.text

    sign_in(client, "ana")
    narrowed = client.get("/insights?team=security")
    assert "pentest" in narrowed.text and ">postgres<" not in narrowed.text


def test_a_number_leads_to_the_requests_behind_it(client: TestClient, db: Session) -> None:
    request_id = _arrange(db)
    sign_in(client, "pat")

    page = client.get("/insights")
    link = re.search(r'href="(/insights/requests\?[^"]*metric=completed[^"]*)"', page.text)
    assert link is not None
    behind = client.get(link.group(1).replace("&amp;", "&"))

    assert behind.status_code == 200
    assert f"#{request_id}" in behind.text
    assert "1 request." in behind.text


def test_forecast_answers_for_the_number_of_requests_and_days_asked(
    client: TestClient, db: Session
) -> None:
    _arrange(db)
    sign_in(client, "pat")

    page = client.get("/insights/demand?items=5&days=7")

    assert page.status_code == 200
    assert "Forecast: 5 open requests, and the next 7 days" in page.text
    assert 'name="items"' in page.text and 'value="7"' in page.text


def test_a_drill_down_cut_at_1000_requests_says_how_many_it_counted(
    client: TestClient, db: Session
) -> None:
    platform = make_team(db, "platform")
    pat = make_user(db, "pat", team=platform, role=Role.LEAD)
    make_offering(db, platform, pat, slug="postgres", name="PostgreSQL database")
    db.commit()
    day = clock.now().replace(hour=9, minute=0, second=0, microsecond=0) - timedelta(days=1)
    cases = [
        Case(str(n), (LoggedEvent(day, "open"), LoggedEvent(day + timedelta(minutes=n), "done")))
        for n in range(1001)
    ]
    import_cases(db, offering_slug="postgres", cases=cases)
    db.commit()
    sign_in(client, "pat")

    page = client.get("/insights/requests?metric=completed")
    api = client.get("/api/v1/analytics/requests?metric=completed")

    assert page.status_code == 200
    assert "1001 requests." in page.text
    assert "Showing the first 1000 of 1001, earliest first." in page.text
    assert page.text.count("<tr>") == 1000 + 1  # and the heading row
    assert api.headers["X-Total-Count"] == "1001" and len(api.json()) == 1000


def test_a_team_in_rome_counts_a_completion_after_its_midnight_on_the_next_day(
    client: TestClient, db: Session
) -> None:
    _arrange(db)
    identity.set_reporting_timezone(db, slug="platform", zone="Europe/Rome")
    postgres = db.scalars(select(Offering).where(Offering.slug == "postgres")).one()
    casey = db.scalars(select(User).where(User.username == "casey")).one()
    # 23:30 UTC on 10 November is 00:30 on 11 November in Rome.
    late = make_history(
        db,
        postgres,
        casey,
        [
            ("submitted", datetime(2026, 11, 10, 9, 0, tzinfo=UTC)),
            ("completed", datetime(2026, 11, 10, 23, 30, tzinfo=UTC)),
        ],
    )
    request_id = late.id
    db.commit()
    sign_in(client, "ana")
    period = "team=platform&since=2026-11-01&until=2026-11-20"

    page = client.get(f"/insights/flow?{period}")
    on_the_11th = client.get(f"/insights/requests?{period}&metric=completed&day=2026-11-11")
    on_the_10th = client.get(f"/insights/requests?{period}&metric=completed&day=2026-11-10")

    assert "2026-11-01 to 2026-11-20 (Europe/Rome)" in page.text
    assert f"#{request_id}" in on_the_11th.text
    assert f"#{request_id}" not in on_the_10th.text
