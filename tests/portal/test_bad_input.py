"""Bad input gets a clear 4xx answer, never a 500."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from servicebay.core.identity import Role
from tests.factories import make_offering, make_team, make_user, token_for


def test_unknown_offering_is_404(client: TestClient, db: Session) -> None:
    headers = token_for(db, make_user(db))
    db.commit()
    response = client.post(
        "/api/v1/requests", headers=headers, json={"offering": "nope", "inputs": {}}
    )
    assert response.status_code == 404
    assert "nope" in response.json()["detail"]
    assert client.get("/api/v1/offerings/nope", headers=headers).status_code == 404


def test_inputs_failing_the_form_are_422_naming_each_field(client: TestClient, db: Session) -> None:
    team = make_team(db)
    lead = make_user(db, team=team, role=Role.LEAD)
    make_offering(db, team, lead, slug="db")
    headers = token_for(db, make_user(db))
    db.commit()
    response = client.post(
        "/api/v1/requests",
        headers=headers,
        json={"offering": "db", "inputs": {"name": "Bad Name!", "colour": "red"}},
    )
    assert response.status_code == 422
    problems = {item["field"]: item["message"] for item in response.json()["detail"]}
    assert problems == {
        "name": "does not have the expected format",
        "size": "is required",
        "colour": "is not a field of this form",
    }


def test_malformed_body_is_422_not_500(client: TestClient, db: Session) -> None:
    headers = token_for(db, make_user(db))
    db.commit()
    response = client.post("/api/v1/requests", headers=headers, json={"inputs": []})
    assert response.status_code == 422
    fields = {item["field"] for item in response.json()["detail"]}
    assert {"offering", "inputs"} <= fields


def test_missing_or_wrong_token_is_401(client: TestClient, db: Session) -> None:
    assert client.get("/api/v1/requests").status_code == 401
    wrong = {"Authorization": "Bearer sb_not-a-real-token"}
    response = client.get("/api/v1/requests", headers=wrong)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {"detail": "invalid, expired or revoked token"}


def test_other_peoples_request_is_not_found(client: TestClient, db: Session) -> None:
    team = make_team(db)
    lead = make_user(db, team=team, role=Role.LEAD)
    make_offering(db, team, lead, slug="db")
    owner_headers = token_for(db, make_user(db))
    stranger_headers = token_for(db, make_user(db))
    db.commit()
    created = client.post(
        "/api/v1/requests",
        headers=owner_headers,
        json={"offering": "db", "inputs": {"name": "ledger", "size": "small"}},
    ).json()
    assert (
        client.get(f"/api/v1/requests/{created['id']}", headers=stranger_headers).status_code == 404
    )
    assert client.get(f"/api/v1/requests/{created['id']}", headers=owner_headers).status_code == 200


def test_token_without_ops_scope_cannot_create_offerings(client: TestClient, db: Session) -> None:
    team = make_team(db, "platform")
    lead = make_user(db, team=team, role=Role.LEAD)
    headers = token_for(db, lead, scopes=["read", "request"])
    db.commit()
    response = client.post(
        "/api/v1/offerings",
        headers=headers,
        json={
            "slug": "x",
            "name": "X",
            "owner_team": "platform",
            "fulfilment": {"kind": "plugin", "plugin": "echo"},
        },
    )
    assert response.status_code == 403
    assert "ops" in response.json()["detail"]
