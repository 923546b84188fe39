"""Demand: people ask for what the catalog lacks, vote, and team leads triage it;
insights rank unmet needs and group searches that found nothing."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from servicebay.analytics import demand as demand_analytics
from servicebay.analytics.scope import period_of_days
from servicebay.core import clock, events
from servicebay.core.identity import Role
from tests.factories import make_offering, make_team, make_user, token_for


def test_people_ask_vote_once_and_the_addressed_lead_triages(
    client: TestClient, db: Session
) -> None:
    platform = make_team(db, "platform")
    lead = make_user(db, team=platform, role=Role.LEAD)
    make_offering(db, platform, lead, slug="kafka-topic")
    asker, voter = make_user(db, team=make_team(db)), make_user(db, team=make_team(db))
    other_lead = make_user(db, team=make_team(db), role=Role.LEAD)
    headers = {u: token_for(db, u) for u in (asker, voter, lead, other_lead)}
    db.commit()

    created = client.post(
        "/api/v1/demands",
        json={"title": "Kafka topics", "urgency": "high", "team": "platform"},
        headers=headers[asker],
    )
    assert created.status_code == 201, created.text
    demand_id = created.json()["id"]
    assert created.json()["votes"] == 1  # the author's own vote
    for _ in range(2):
        voted = client.post(f"/api/v1/demands/{demand_id}/vote", headers=headers[voter])
    assert voted.json()["votes"] == 2

    refused = client.post(
        f"/api/v1/demands/{demand_id}/triage",
        json={"state": "accepted"},
        headers=headers[other_lead],
    )
    assert refused.status_code == 403
    no_reason = client.post(
        f"/api/v1/demands/{demand_id}/triage", json={"state": "declined"}, headers=headers[lead]
    )
    assert no_reason.status_code == 422
    for state in ("accepted", "planned"):
        moved = client.post(
            f"/api/v1/demands/{demand_id}/triage", json={"state": state}, headers=headers[lead]
        )
        assert moved.json()["state"] == state
    shipped = client.post(
        f"/api/v1/demands/{demand_id}/triage",
        json={"state": "shipped", "offering": "kafka-topic"},
        headers=headers[lead],
    )
    assert shipped.json()["state"] == "shipped" and shipped.json()["offering_id"] is not None
    backwards = client.post(
        f"/api/v1/demands/{demand_id}/triage", json={"state": "accepted"}, headers=headers[lead]
    )
    assert backwards.status_code == 409
    assert client.get("/api/v1/demands/999999", headers=headers[lead]).status_code == 404
    assert (
        client.post("/api/v1/demands", json={"title": ""}, headers=headers[asker]).status_code
        == 422
    )


def test_unmet_needs_rank_by_votes_then_age_and_leave_out_shipped_ones(
    client: TestClient, db: Session
) -> None:
    ops = make_team(db)
    lead = make_user(db, team=ops, role=Role.LEAD, analyst=True)
    make_offering(db, ops, lead)  # so that its lead may triage needs addressed to no team
    people = [make_user(db, team=make_team(db)) for _ in range(3)]
    headers = [token_for(db, p) for p in people]
    lead_headers = token_for(db, lead)
    db.commit()

    def ask(title: str, who: int) -> int:
        return int(
            client.post("/api/v1/demands", json={"title": title}, headers=headers[who]).json()["id"]
        )

    old = ask("GPU machines", 0)
    popular = ask("Kafka topics", 0)
    client.post(f"/api/v1/demands/{popular}/vote", headers=headers[1])
    client.post(f"/api/v1/demands/{popular}/vote", headers=headers[2])
    newer = ask("Feature flags", 1)
    declined = ask("Fax machines", 2)
    client.post(
        f"/api/v1/demands/{declined}/triage",
        json={"state": "declined", "reason": "no"},
        headers=lead_headers,
    )

    rows = client.get("/api/v1/analytics/unmet-needs", headers=lead_headers).json()
    assert [row["demand_id"] for row in rows] == [popular, old, newer]
    assert rows[0]["votes"] == 3 and rows[0]["age_days"] == 1


def test_searches_that_found_nothing_are_grouped_by_normalised_query(db: Session) -> None:
    user = make_user(db)
    now = clock.now()
    for query, results in [
        ("Kafka  topic", 0),
        ("kafka topic ", 0),
        ("GPU", 0),
        ("postgres", 3),
        ("kafka topic", 0),
    ]:
        events.record(
            db,
            type="catalog.searched",
            actor_id=user.id,
            data={"query": query, "results": results},
            at=now - timedelta(hours=1),
        )
    db.flush()

    found = demand_analytics.empty_searches(db, period=period_of_days(None, None))

    assert [(row.query, row.searches) for row in found] == [("kafka topic", 3), ("gpu", 1)]
