"""Approval steps decided in order by whom each names, through the inbox and decision API."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from servicebay.core import clock
from servicebay.core.identity import Role
from tests.factories import make_offering, make_team, make_user, token_for
from tests.requests.support import INPUTS, runs_of, status_of
from tests.requests.test_pages import sign_in

POLICY = {
    "steps": [
        {"name": "Owner check", "decider": "owner_leads"},
        {"name": "Security review", "decider": "team", "team": "security"},
        {"name": "Big spend", "decider": "requester_lead", "condition": 'size == "large"'},
    ]
}


def setting(db: Session):
    platform = make_team(db)
    owner = make_user(db, team=platform, role=Role.LEAD)
    security = make_team(db, "security")
    reviewer = make_user(db, team=security)
    payments = make_team(db)
    payments_lead = make_user(db, team=payments, role=Role.LEAD)
    casey = make_user(db, team=payments)
    offering = make_offering(db, platform, owner, approval_policy=POLICY)
    headers = {
        name: token_for(db, user)
        for name, user in {
            "owner": owner,
            "reviewer": reviewer,
            "payments_lead": payments_lead,
            "casey": casey,
        }.items()
    }
    db.commit()
    return offering.slug, headers


def submit(client: TestClient, headers: dict[str, str], slug: str, **inputs: str) -> int:
    answer = client.post(
        "/api/v1/requests", headers=headers, json={"offering": slug, "inputs": {**INPUTS, **inputs}}
    )
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def inbox(client: TestClient, headers: dict[str, str]) -> list[dict[str, object]]:
    answer = client.get("/api/v1/approvals", headers=headers)
    assert answer.status_code == 200
    return list(answer.json())


def decide(
    client: TestClient,
    headers: dict[str, str],
    approval_id: object,
    decision: str,
    reason: str = "",
):
    return client.post(
        f"/api/v1/approvals/{approval_id}/decision",
        headers=headers,
        json={"decision": decision, "reason": reason},
    )


def test_steps_are_decided_in_order_by_whom_they_name_and_then_fulfilment_starts(
    client: TestClient, db: Session, sessions: sessionmaker[Session]
) -> None:
    slug, h = setting(db)
    request_id = submit(client, h["casey"], slug, size="large")
    assert status_of(sessions, request_id) == "pending_approval"

    assert inbox(client, h["reviewer"]) == []  # not their step yet
    (first,) = inbox(client, h["owner"])
    assert first["step"] == "Owner check" and first["requester"] != "owner"
    assert decide(client, h["reviewer"], first["id"], "approve").status_code == 403
    assert decide(client, h["owner"], first["id"], "approve").status_code == 200

    notices = client.get("/api/v1/notifications", headers=h["reviewer"]).json()
    assert any("waits for your approval: Security review" in n["message"] for n in notices)
    (second,) = inbox(client, h["reviewer"])
    assert second["step"] == "Security review"
    assert decide(client, h["reviewer"], second["id"], "approve").status_code == 200
    assert status_of(sessions, request_id) == "pending_approval"

    (third,) = inbox(client, h["payments_lead"])
    assert third["step"] == "Big spend"
    assert decide(client, h["payments_lead"], third["id"], "approve").status_code == 200

    assert status_of(sessions, request_id) == "in_fulfilment"
    with sessions() as session:
        assert [run.status for run in runs_of(session, request_id)] == ["queued"]
    timeline = client.get(f"/api/v1/requests/{request_id}/events", headers=h["casey"]).json()
    decided = [(e["type"], e["actor"]) for e in timeline if e["type"].startswith("approval.")]
    assert [t for t, _ in decided] == ["approval.approved"] * 3
    assert all(actor for _, actor in decided)


def test_steps_whose_condition_does_not_hold_are_skipped(
    client: TestClient, db: Session, sessions: sessionmaker[Session]
) -> None:
    slug, h = setting(db)
    request_id = submit(client, h["casey"], slug, size="small")
    for who in ("owner", "reviewer"):
        (step,) = inbox(client, h[who])
        assert decide(client, h[who], step["id"], "approve").status_code == 200
    assert status_of(sessions, request_id) == "in_fulfilment"
    steps = client.get(f"/api/v1/requests/{request_id}/approvals", headers=h["casey"]).json()
    assert [s["status"] for s in steps] == ["approved", "approved", "skipped"]


def test_rejection_needs_a_reason_and_ends_the_request(
    client: TestClient, db: Session, sessions: sessionmaker[Session]
) -> None:
    slug, h = setting(db)
    request_id = submit(client, h["casey"], slug)
    (step,) = inbox(client, h["owner"])
    refused = decide(client, h["owner"], step["id"], "reject", reason="  ")
    assert refused.status_code == 422
    assert "reason" in refused.json()["detail"]
    assert decide(client, h["owner"], step["id"], "reject", "no budget").status_code == 200

    assert status_of(sessions, request_id) == "rejected"
    assert inbox(client, h["reviewer"]) == []
    assert decide(client, h["owner"], step["id"], "approve").status_code == 409
    events = client.get(f"/api/v1/requests/{request_id}/events", headers=h["casey"]).json()
    rejected = next(e for e in events if e["type"] == "request.rejected")
    assert rejected["data"]["reason"] == "no budget" and rejected["actor"]


def test_approvers_never_decide_their_own_requests(
    client: TestClient, db: Session, sessions: sessionmaker[Session]
) -> None:
    slug, h = setting(db)
    own = submit(client, h["owner"], slug)
    assert inbox(client, h["owner"]) == []
    with sessions() as session:
        from sqlalchemy import select

        from servicebay.requests.models import Approval

        step_id = session.scalar(
            select(Approval.id).where(Approval.request_id == own, Approval.position == 0)
        )
    answer = decide(client, h["owner"], step_id, "approve")
    assert answer.status_code == 403
    assert "own request" in answer.json()["detail"]
    assert status_of(sessions, own) == "pending_approval"


def test_a_step_of_a_request_the_caller_cannot_see_answers_as_one_that_does_not_exist(
    client: TestClient, db: Session, sessions: sessionmaker[Session]
) -> None:
    slug, h = setting(db)
    outsider = token_for(db, make_user(db, team=make_team(db)))
    db.commit()
    submit(client, h["casey"], slug)
    (step,) = inbox(client, h["owner"])
    hidden = decide(client, outsider, step["id"], "approve")
    missing = decide(client, outsider, 999_999, "approve")
    assert (hidden.status_code, missing.status_code) == (404, 404)
    assert hidden.json()["detail"] == f"no approval {step['id']} is waiting for you"
    assert missing.json()["detail"] == "no approval 999999 is waiting for you"
    assert "Owner check" not in hidden.text


def test_approval_cards_show_only_the_requests_made_before_the_one_decided(
    client: TestClient, db: Session
) -> None:
    platform = make_team(db)
    owner = make_user(db, team=platform, role=Role.LEAD)
    offering = make_offering(
        db,
        platform,
        owner,
        approval_policy={"steps": [{"name": "Check", "decider": "owner_leads"}]},
    )
    casey = token_for(db, make_user(db, team=make_team(db)))
    owner_name = owner.username
    db.commit()
    first = submit(client, casey, offering.slug)
    clock.advance(timedelta(minutes=5))
    later = submit(client, casey, offering.slug)

    sign_in(client, owner_name)
    page = client.get("/approvals").text
    cards = {
        request_id: card
        for card in page.split('<li class="card approval"')[1:]
        for request_id in (first, later)
        if f"#{request_id} " in card
    }
    assert "First request from this person." in cards[first]
    assert "1 earlier request:" in cards[later]


def test_a_rejected_request_tells_its_rejection_once_in_the_timeline(
    client: TestClient, db: Session
) -> None:
    platform = make_team(db)
    owner = make_user(db, team=platform, role=Role.LEAD)
    offering = make_offering(
        db,
        platform,
        owner,
        approval_policy={"steps": [{"name": "Owner check", "decider": "owner_leads"}]},
    )
    casey = make_user(db, team=make_team(db))
    headers, casey_name = token_for(db, casey), casey.username
    owner_headers = token_for(db, owner)
    db.commit()
    request_id = submit(client, headers, offering.slug)
    (step,) = inbox(client, owner_headers)
    assert decide(client, owner_headers, step["id"], "reject", "no budget this quarter").is_success

    sign_in(client, casey_name)
    page = client.get(f"/requests/{request_id}").text
    timeline = page[page.index('id="timeline-heading"') :]
    assert timeline.count("no budget this quarter") == 1
    assert "Rejected at step “Owner check”" in timeline
    assert 'data-status="rejected"' in page
