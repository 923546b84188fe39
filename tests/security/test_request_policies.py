"""An approver sees the request it decides on, but only the requester or owners stop it."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from servicebay.core.identity import Role
from tests.factories import make_offering, make_team, make_user, token_for
from tests.requests.test_pages import sign_in

POLICY = {"steps": [{"name": "Security review", "decider": "team", "team": "security"}]}
INPUTS = {"name": "ledger", "size": "small"}


def test_an_approver_from_another_team_reads_the_request_but_cannot_cancel_it(
    client: TestClient, db: Session
) -> None:
    owners, security = make_team(db), make_team(db, "security")
    lead = make_user(db, team=owners, role=Role.LEAD)
    offering = make_offering(db, owners, lead, approval_policy=POLICY)
    reviewer = token_for(db, make_user(db, team=security))
    casey = token_for(db, make_user(db, team=make_team(db)))
    db.commit()
    submitted = client.post(
        "/api/v1/requests", headers=casey, json={"offering": offering.slug, "inputs": INPUTS}
    )
    path = f"/api/v1/requests/{submitted.json()['id']}"

    assert client.get(path, headers=reviewer).status_code == 200
    refused = client.post(path + "/cancel", headers=reviewer, json={"reason": "no"})
    assert refused.status_code == 403
    assert client.get(path, headers=casey).json()["status"] == "pending_approval"
    assert client.post(path + "/cancel", headers=casey, json={}).json()["status"] == "cancelled"


def test_an_analyst_opens_any_request_behind_the_insights_but_changes_nothing_on_it(
    client: TestClient, db: Session
) -> None:
    owners = make_team(db)
    offering = make_offering(db, owners, make_user(db, team=owners, role=Role.LEAD))
    analyst = make_user(db, analyst=True)
    analyst_name = analyst.username
    reader = token_for(db, analyst)
    casey = token_for(db, make_user(db, team=make_team(db)))
    db.commit()
    submitted = client.post(
        "/api/v1/requests", headers=casey, json={"offering": offering.slug, "inputs": INPUTS}
    )
    request_id = submitted.json()["id"]
    path = f"/api/v1/requests/{request_id}"

    assert client.get(path, headers=reader).status_code == 200
    assert client.get(path + "/events", headers=reader).status_code == 200
    assert client.post(path + "/cancel", headers=reader, json={}).status_code == 403
    assert client.post(path + "/comments", headers=reader, json={"body": "hi"}).status_code == 403
    sign_in(client, analyst_name)
    page = client.get(f"/requests/{request_id}")
    assert page.status_code == 200
    assert "Cancel this request" not in page.text and "Post comment" not in page.text
