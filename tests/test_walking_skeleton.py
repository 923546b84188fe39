"""One request carried end to end through catalog, portal, requests and analytics."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from servicebay.core.events import Event
from servicebay.core.identity import Role
from servicebay.core.settings import Settings
from servicebay.requests.fulfilment.worker import Worker
from tests.factories import make_team, make_user, token_for
from tests.receiver import Receiver

SECRET = "whsec_c2VydmljZWJheS10ZXN0LXNlY3JldA=="


def test_offering_published_requested_fulfilled_by_webhook_and_counted(
    client: TestClient, db: Session, settings: Settings, sessions
) -> None:
    platform = make_team(db, "platform")
    lead = make_user(db, "pat", team=platform, role=Role.LEAD)
    consumer = make_user(db, "casey", team=make_team(db, "payments"))
    ops_headers = token_for(db, lead)
    consumer_headers = token_for(db, consumer)
    db.commit()

    with Receiver(secret=SECRET, default=(200, {"outputs": {"host": "db-7.internal"}})) as hook:
        created = client.post(
            "/api/v1/offerings",
            headers=ops_headers,
            json={
                "slug": "postgres",
                "name": "PostgreSQL database",
                "description": "A managed database.",
                "contact": "#platform-help",
                "runbook_url": "https://runbooks.example.com/postgres",
                "sle": {"percent": 85, "within_hours": 48},
                "owner_team": "platform",
                "form": {
                    "fields": [
                        {"name": "name", "label": "Name", "required": True},
                        {
                            "name": "size",
                            "label": "Size",
                            "type": "select",
                            "options": ["small", "large"],
                            "required": True,
                        },
                    ]
                },
                "fulfilment": {"kind": "webhook", "url": hook.url},
                "webhook_secret": SECRET,
            },
        )
        assert created.status_code == 201, created.text
        assert "webhook_secret" not in created.text and SECRET not in created.text
        tested = client.post("/api/v1/offerings/postgres/test-fulfilment", headers=ops_headers)
        assert tested.json()["passed"], tested.text
        published = client.post("/api/v1/offerings/postgres/publish", headers=ops_headers)
        assert published.json()["status"] == "published"

        home = client.get("/", cookies=_sign_in(client, "casey"))
        assert "PostgreSQL database" in home.text

        submitted = client.post(
            "/api/v1/requests",
            headers=consumer_headers,
            json={"offering": "postgres", "inputs": {"name": "ledger", "size": "small"}},
        )
        assert submitted.status_code == 201, submitted.text
        request_id = submitted.json()["id"]
        assert submitted.json()["status"] == "in_fulfilment"

        assert Worker(sessions, settings).run_until_idle() == 1

        assert [d.body["type"] for d in hook.deliveries] == ["test", "request.fulfil"]
        delivery = hook.deliveries[1]
        assert delivery.signature_valid
        assert delivery.body["data"]["request"]["inputs"] == {"name": "ledger", "size": "small"}
        assert delivery.body["data"]["request"]["requester"]["username"] == "casey"

    done = client.get(f"/api/v1/requests/{request_id}", headers=consumer_headers).json()
    assert done["status"] == "completed"
    assert done["outputs"] == {"host": "db-7.internal"}

    # Insights are for the owner team (and analysts), not for consumers.
    adoption = client.get("/api/v1/analytics/adoption", headers=ops_headers).json()
    assert adoption[0]["offering"] == "postgres"
    assert (adoption[0]["submitted"], adoption[0]["completed"]) == (1, 1)
    insights = client.get("/insights", cookies=_sign_in(client, "pat"))
    assert "PostgreSQL database" in insights.text

    types = [e.type for e in db.scalars(select(Event).order_by(Event.id))]
    db.rollback()  # end the read: on SQLite an open transaction holds the write lock
    for expected in (
        "offering.created",
        "offering.published",
        "request.submitted",
        "request.in_fulfilment",
        "request.completed",
    ):
        assert expected in types
    timeline = client.get(f"/api/v1/requests/{request_id}/events", headers=consumer_headers)
    assert [e["type"] for e in timeline.json()] == [
        "request.submitted",
        "request.in_fulfilment",
        "request.completed",
    ]
    assert timeline.json()[0]["actor"] == "casey"


def _sign_in(client: TestClient, username: str) -> dict[str, str]:
    client.cookies.clear()
    page = client.get("/login")
    csrf = page.cookies.get("sb_csrf") or client.cookies.get("sb_csrf")
    response = client.post(
        "/login",
        data={"username": username, "password": "correct-horse-battery", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return dict(client.cookies)
