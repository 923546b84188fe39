"""Submitting requests: idempotency keys, quotas, refusals, and concurrency."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from servicebay.core import clock
from servicebay.core.identity import Role, User
from servicebay.core.settings import Settings
from servicebay.portal.app import create_app
from servicebay.requests import service
from servicebay.requests.models import Request
from tests.factories import make_offering, make_team, make_user, token_for
from tests.requests.support import INPUTS


def offering_and_requester(db: Session, **overrides: Any) -> tuple[str, dict[str, str], int]:
    owner_team = make_team(db)
    lead = make_user(db, team=owner_team, role=Role.LEAD)
    offering = make_offering(db, owner_team, lead, **overrides)
    casey = make_user(db, team=make_team(db))
    headers = token_for(db, casey)
    db.commit()
    return offering.slug, headers, casey.id


def post(
    client: TestClient, headers: dict[str, str], slug: str, key: str | None = None, **inputs: Any
):
    extra = {"Idempotency-Key": key} if key else {}
    return client.post(
        "/api/v1/requests",
        headers={**headers, **extra},
        json={"offering": slug, "inputs": {**INPUTS, **inputs}},
    )


def count_with_status(sessions: sessionmaker[Session], status: str) -> int:
    with sessions() as session:
        statement = select(func.count(Request.id)).where(Request.status == status)
        return session.scalar(statement) or 0


def count_requests(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count(Request.id))) or 0


def test_same_idempotency_key_and_body_returns_the_same_request(
    client: TestClient, db: Session, sessions: sessionmaker[Session]
) -> None:
    slug, headers, _ = offering_and_requester(db)
    first = post(client, headers, slug, key="order-42")
    again = post(client, headers, slug, key="order-42")
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert count_requests(sessions) == 1


def test_same_idempotency_key_with_another_body_is_refused(
    client: TestClient, db: Session, sessions: sessionmaker[Session]
) -> None:
    slug, headers, _ = offering_and_requester(db)
    assert post(client, headers, slug, key="k1").status_code == 201
    other = post(client, headers, slug, key="k1", size="large")
    assert other.status_code == 422
    assert "different request body" in other.json()["detail"]
    assert count_requests(sessions) == 1


def test_a_repeat_sent_while_the_first_call_runs_waits_for_it_and_answers_its_request(
    client: TestClient, db: Session, sessions: sessionmaker[Session], database_url: str
) -> None:
    slug, headers, user_id = offering_and_requester(db)
    with sessions() as first, ThreadPoolExecutor(max_workers=1) as pool:
        made, replayed = service.submit_once(
            first,
            actor=first.get_one(User, user_id),
            key="k2",
            offering_slug=slug,
            inputs=dict(INPUTS),
        )  # a first call that has not committed yet
        repeat = pool.submit(post, client, headers, slug, "k2")
        if database_url.startswith("postgresql"):
            wait_for_a_lock_waiter(first)
        first.commit()
        answer = repeat.result(timeout=30)
    assert not replayed
    assert answer.status_code == 201
    assert answer.json()["id"] == made.id
    assert answer.headers.get("Idempotent-Replayed") == "true"
    assert count_requests(sessions) == 1


def wait_for_a_lock_waiter(session: Session) -> None:
    """Until another connection waits for a lock this session holds."""
    deadline = time.monotonic() + 30
    waiting = text("SELECT count(*) FROM pg_locks WHERE NOT granted")
    while not session.connection().execute(waiting).scalar():
        assert time.monotonic() < deadline, "the repeat never waited for the first call"
        time.sleep(0.02)


def test_idempotency_keys_are_per_user_kept_a_day_and_freed_by_failed_calls(
    client: TestClient, db: Session, sessions: sessionmaker[Session]
) -> None:
    slug, headers, _ = offering_and_requester(db)
    other_user = token_for(db, make_user(db, team=make_team(db)))
    db.commit()
    mine = post(client, headers, slug, key="same").json()["id"]
    theirs = post(client, other_user, slug, key="same").json()["id"]
    assert mine != theirs

    assert post(client, headers, slug, key="bad", size="huge").status_code == 422
    assert post(client, headers, slug, key="bad").status_code == 201  # the failed call kept nothing

    clock.advance(timedelta(hours=23))
    assert post(client, headers, slug, key="same").json()["id"] == mine
    clock.advance(timedelta(hours=2))
    assert post(client, headers, slug, key="same", size="large").status_code == 201


@pytest.mark.parametrize("status", ["deprecated", "retired"])
def test_offerings_that_take_no_requests_refuse_them_with_the_reason(
    client: TestClient, db: Session, status: str
) -> None:
    slug, headers, _ = offering_and_requester(db)
    db.execute(
        text("UPDATE catalog_offering SET status = :s WHERE slug = :slug"),
        {"s": status, "slug": slug},
    )
    db.commit()
    answer = post(client, headers, slug)
    assert answer.status_code == 409
    assert f"is {status}" in answer.json()["detail"]


def test_offerings_the_requester_cannot_see_are_not_found(client: TestClient, db: Session) -> None:
    slug, headers, _ = offering_and_requester(db)
    db.execute(
        text("UPDATE catalog_offering SET status = 'draft' WHERE slug = :slug"), {"slug": slug}
    )
    db.commit()
    answer = post(client, headers, slug)
    assert answer.status_code == 404
    assert slug in answer.json()["detail"]


def test_quota_holds_when_twenty_submit_at_once_against_a_quota_of_five(
    client: TestClient, db: Session, sessions: sessionmaker[Session]
) -> None:
    slug, _, _ = offering_and_requester(db, quota={"count": 5, "period_days": 30})
    team = make_team(db)
    members = [token_for(db, make_user(db, team=team)) for _ in range(20)]
    db.commit()
    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda h: post(client, h, slug), members))
    codes = sorted(a.status_code for a in answers)
    assert codes == [201] * 5 + [409] * 15
    assert all("quota" in a.json()["detail"] for a in answers if a.status_code == 409)
    assert count_requests(sessions) == 5


def test_sqlite_journey_with_the_in_process_worker_and_fifty_concurrent_submissions(
    database_url: str, settings: Settings, db: Session, sessions: sessionmaker[Session]
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("the embedded single-process mode is SQLite's")
    slug, _, _ = offering_and_requester(db)
    team = make_team(db)
    people = [token_for(db, make_user(db, team=team)) for _ in range(50)]
    db.commit()
    app = create_app(settings.model_copy(update={"worker_poll_seconds": 0.05}), run_worker=True)
    with TestClient(app) as client, ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(lambda h: post(client, h, slug), people))
        assert [a.status_code for a in answers] == [201] * 50, [
            a.text for a in answers if a.status_code != 201
        ]
        deadline = time.monotonic() + 30
        while count_with_status(sessions, "completed") < 50:
            assert time.monotonic() < deadline, "the in-process worker did not finish"
            time.sleep(0.1)


def test_a_field_left_out_of_an_api_submission_takes_the_forms_default(
    client: TestClient, db: Session
) -> None:
    form = {
        "fields": [
            {"name": "name", "label": "Database name", "required": True},
            {
                "name": "size",
                "label": "Size",
                "type": "select",
                "options": ["small", "large"],
                "required": True,
                "default": "small",
            },
        ]
    }
    slug, headers, _ = offering_and_requester(db, form=form)
    answer = client.post(
        "/api/v1/requests", headers=headers, json={"offering": slug, "inputs": {"name": "ledger"}}
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["inputs"] == {"name": "ledger", "size": "small"}
    chosen = post(client, headers, slug, size="large")
    assert chosen.json()["inputs"]["size"] == "large"


def test_the_api_lists_my_requests_with_the_pages_filters(client: TestClient, db: Session) -> None:
    slug, headers, _ = offering_and_requester(db)
    first = post(client, headers, slug).json()["id"]
    clock.advance(timedelta(minutes=1))
    second = post(client, headers, slug).json()["id"]
    client.post(f"/api/v1/requests/{second}/cancel", headers=headers, json={})

    def ids(**params: str) -> list[int]:
        answer = client.get("/api/v1/requests", headers=headers, params=params)
        assert answer.status_code == 200, answer.text
        return [found["id"] for found in answer.json()]

    assert ids() == [second, first]
    assert ids(sort="oldest") == [first, second]
    assert ids(status="closed") == [second]
    assert ids(status="cancelled") == [second]
    assert ids(status="open") == [first]
    assert ids(q="nothing like it") == []
