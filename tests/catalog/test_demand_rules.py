"""Demand rules hold the same on the page and in the API: who reads a declined demand,
who triages a demand addressed to no team, and what accepting into a draft does."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from servicebay.catalog import demand as demand_service
from servicebay.catalog.models import Demand, Offering
from servicebay.core.identity import Role
from tests.factories import PASSWORD, make_offering, make_team, make_user, token_for


def _sign_in(client: TestClient, username: str) -> None:
    client.cookies.clear()
    client.get("/login")
    client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "csrf_token": client.cookies["sb_csrf"]},
    )


def test_another_persons_declined_demand_is_hidden_in_the_api_as_on_the_page(
    client: TestClient, db: Session
) -> None:
    platform = make_team(db, "platform")
    lead = make_user(db, "pat", team=platform, role=Role.LEAD)
    make_offering(db, platform, lead)
    author = make_user(db, "casey", team=make_team(db))
    stranger = make_user(db, "dana", team=make_team(db))
    need = demand_service.create(db, actor=author, title="Fax machines", team_slug="platform")
    demand_service.triage(
        db, actor=lead, demand=need, state="declined", reason="Nobody sends faxes here"
    )
    open_need = demand_service.create(db, actor=author, title="Kafka topics")
    strangers, authors = token_for(db, stranger), token_for(db, author)
    need_id, open_id = need.id, open_need.id
    db.commit()

    listed = client.get("/api/v1/demands", headers=strangers).json()
    assert [row["id"] for row in listed] == [open_id]
    assert client.get(f"/api/v1/demands/{need_id}", headers=strangers).status_code == 404
    assert "Nobody sends faxes here" not in client.get("/api/v1/demands", headers=strangers).text
    _sign_in(client, "dana")
    assert "Fax machines" not in client.get("/demand").text

    own = client.get(f"/api/v1/demands/{need_id}", headers=authors).json()
    assert own["decline_reason"] == "Nobody sends faxes here"
    assert {row["id"] for row in client.get("/api/v1/demands", headers=authors).json()} == {
        need_id,
        open_id,
    }


def test_only_leads_of_teams_that_own_offerings_triage_a_demand_addressed_to_no_team(
    client: TestClient, db: Session
) -> None:
    platform = make_team(db, "platform")
    owner_lead = make_user(db, team=platform, role=Role.LEAD)
    make_offering(db, platform, owner_lead)
    consumer_lead = make_user(db, team=make_team(db, "payments"), role=Role.LEAD)
    asker = make_user(db, team=make_team(db))
    need = demand_service.create(db, actor=asker, title="GPU machines")
    consumer, owner = token_for(db, consumer_lead), token_for(db, owner_lead)
    need_id = need.id
    db.commit()

    refused = client.post(
        f"/api/v1/demands/{need_id}/triage", json={"state": "accepted"}, headers=consumer
    )
    assert refused.status_code == 403
    accepted = client.post(
        f"/api/v1/demands/{need_id}/triage", json={"state": "accepted"}, headers=owner
    )
    assert accepted.status_code == 200 and accepted.json()["state"] == "accepted"


def test_accepting_through_the_api_starts_the_answering_draft_as_the_page_does(
    client: TestClient, db: Session
) -> None:
    platform = make_team(db, "platform")
    lead = make_user(db, team=platform, role=Role.LEAD)
    make_offering(db, platform, lead, slug="kafka-topics")  # the slug the title makes is taken
    asker = make_user(db, team=make_team(db))
    need = demand_service.create(
        db, actor=asker, title="Kafka topics", description="Topics on request, with ACLs."
    )
    headers, need_id = token_for(db, lead), need.id
    db.commit()

    accepted = client.post(
        f"/api/v1/demands/{need_id}/triage",
        json={"state": "accepted", "draft_team": "platform"},
        headers=headers,
    )

    assert accepted.status_code == 200, accepted.text
    db.expire_all()
    draft = db.scalar(select(Offering).where(Offering.slug == "kafka-topics-2"))
    assert draft is not None and draft.status == "draft" and draft.owner_team_id == platform.id
    assert draft.name == "Kafka topics" and draft.summary == "Topics on request, with ACLs."
    assert accepted.json()["offering_id"] == draft.id and accepted.json()["state"] == "accepted"
    assert db.get_one(Demand, need_id).offering_id == draft.id


def test_the_triage_page_lives_apart_from_the_board_and_refuses_a_lead_of_no_owner_team(
    client: TestClient, db: Session
) -> None:
    make_team(db, "platform")
    make_user(db, "lee", team=make_team(db, "payments"), role=Role.LEAD)
    asker = make_user(db, team=make_team(db))
    need = demand_service.create(db, actor=asker, title="GPU machines")
    need_id = need.id
    db.commit()
    _sign_in(client, "lee")

    page = client.get("/ops/demand").text
    assert "GPU machines" in page and "its leads triage it" in page
    refused = client.post(
        f"/ops/demand/{need_id}/decline",
        data={"csrf_token": client.cookies["sb_csrf"], "reason": "No"},
    )
    assert refused.status_code == 403
