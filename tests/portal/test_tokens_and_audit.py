"""Personal API tokens (scopes, expiry, revocation) and the audit trail."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from servicebay.core import clock
from tests.factories import make_team, make_user, token_for


def test_token_is_shown_once_and_works_until_revoked(client: TestClient, db: Session) -> None:
    headers = token_for(db, make_user(db, "casey"), scopes=["read", "request"])
    db.commit()
    created = client.post(
        "/api/v1/tokens", headers=headers, json={"name": "laptop script", "scopes": ["read"]}
    )
    assert created.status_code == 201
    value = created.json()["token"]
    listed = client.get("/api/v1/tokens", headers=headers).json()
    assert all("token" not in t for t in listed)
    assert value not in str(listed)

    new_headers = {"Authorization": f"Bearer {value}"}
    assert client.get("/api/v1/me", headers=new_headers).json()["username"] == "casey"
    assert client.get("/api/v1/tokens", headers=headers).json()[0]["last_used_at"] is not None
    client.delete(f"/api/v1/tokens/{created.json()['id']}", headers=headers)
    assert client.get("/api/v1/me", headers=new_headers).status_code == 401


def test_expired_token_is_refused(client: TestClient, db: Session) -> None:
    headers = token_for(db, make_user(db))
    db.commit()
    value = client.post(
        "/api/v1/tokens", headers=headers, json={"name": "short", "expires_in_days": 1}
    ).json()["token"]
    clock.advance(timedelta(days=1, minutes=1))
    answer = client.get("/api/v1/me", headers={"Authorization": f"Bearer {value}"})
    assert answer.status_code == 401


def test_token_cannot_mint_wider_scopes_or_admin(client: TestClient, db: Session) -> None:
    headers = token_for(db, make_user(db), scopes=["read", "request"])
    db.commit()
    wider = client.post("/api/v1/tokens", headers=headers, json={"name": "x", "scopes": ["ops"]})
    assert wider.status_code == 403
    admin = client.post("/api/v1/tokens", headers=headers, json={"name": "x", "scopes": ["admin"]})
    assert admin.status_code == 403


def test_read_only_token_cannot_submit(client: TestClient, db: Session) -> None:
    headers = token_for(db, make_user(db), scopes=["read"])
    db.commit()
    answer = client.post("/api/v1/requests", headers=headers, json={"offering": "x"})
    assert answer.status_code == 403


def test_someone_elses_token_cannot_be_revoked(client: TestClient, db: Session) -> None:
    owner = token_for(db, make_user(db))
    other = token_for(db, make_user(db))
    db.commit()
    mine = client.get("/api/v1/tokens", headers=owner).json()[0]["id"]
    assert client.delete(f"/api/v1/tokens/{mine}", headers=other).status_code == 404


def test_audit_trail_lists_events_with_filters_for_admins_only(
    client: TestClient, db: Session
) -> None:
    admin = token_for(db, make_user(db, "root", admin=True))
    consumer = token_for(db, make_user(db, "casey"))
    make_team(db, "platform")
    db.commit()
    assert client.get("/api/v1/audit/events", headers=consumer).status_code == 403
    page = client.get("/api/v1/audit/events", headers=admin, params={"type": "team."}).json()
    assert [e["type"] for e in page["events"]] == ["team.created"]
    first = client.get("/api/v1/audit/events", headers=admin, params={"limit": 2}).json()
    assert len(first["events"]) == 2 and first["next_before_id"] is not None
    rest = client.get(
        "/api/v1/audit/events", headers=admin, params={"before_id": first["next_before_id"]}
    ).json()
    assert all(e["id"] < first["next_before_id"] for e in rest["events"])
    by_actor = client.get("/api/v1/audit/events", headers=admin, params={"actor": "casey"})
    assert {e["type"] for e in by_actor.json()["events"]} == {"token.created"}


def test_events_cannot_be_changed_through_the_api(client: TestClient, db: Session) -> None:
    admin = token_for(db, make_user(db, "root", admin=True))
    db.commit()
    for method in ("PUT", "PATCH", "DELETE"):
        answer = client.request(method, "/api/v1/audit/events", headers=admin)
        assert answer.status_code == 405
