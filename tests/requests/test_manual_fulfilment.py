"""Manual fulfilment on the owner team's board, WIP limits, and retrying failed requests."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from servicebay.core.identity import Role
from servicebay.core.settings import Settings
from servicebay.requests.fulfilment.worker import Worker
from tests.factories import make_offering, make_team, make_user, token_for
from tests.receiver import Receiver
from tests.requests.support import (
    INPUTS,
    SECRET,
    fast,
    owner_and_offering,
    requester,
    runs_of,
    status_of,
    submit,
    work_until,
)

MANUAL = {"kind": "manual", "checklist": ["Create account", "Send welcome mail"]}


def manual_setting(db: Session):
    team = make_team(db, "it-ops")
    lead = make_user(db, team=team, role=Role.LEAD)
    offering = make_offering(db, team, lead, fulfilment=MANUAL)
    casey = make_user(db, team=make_team(db))
    ops, customer = token_for(db, lead), token_for(db, casey)
    db.commit()
    return offering.slug, ops, customer


def request_it(client: TestClient, headers: dict[str, str], slug: str) -> int:
    answer = client.post(
        "/api/v1/requests", headers=headers, json={"offering": slug, "inputs": INPUTS}
    )
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def board(client: TestClient, headers: dict[str, str]) -> dict:
    answer = client.get("/api/v1/teams/it-ops/board", headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


def advance(client: TestClient, headers: dict[str, str], task_id: int, **body):
    return client.post(f"/api/v1/tasks/{task_id}/advance", headers=headers, json=body)


def test_manual_task_goes_todo_doing_done_and_completes_the_request_with_outputs_and_notes(
    client: TestClient, db: Session, sessions: sessionmaker[Session]
) -> None:
    slug, ops, customer = manual_setting(db)
    request_id = request_it(client, customer, slug)
    assert status_of(sessions, request_id) == "in_fulfilment"
    (card,) = board(client, ops)["columns"]["todo"]
    assert [item["item"] for item in card["checklist"]] == MANUAL["checklist"]

    assert advance(client, ops, card["id"]).json()["status"] == "doing"
    doing = board(client, ops)["columns"]["doing"][0]
    assert doing["assignee"] is not None
    # The requester cannot see the owner team's board, so its task is not found for them.
    assert advance(client, customer, card["id"]).status_code == 404
    done = advance(client, ops, card["id"], outputs={"account": "casey7"}, notes="Welcome sent")
    assert done.json()["status"] == "done"

    finished = client.get(f"/api/v1/requests/{request_id}", headers=customer).json()
    assert finished["status"] == "completed"
    assert finished["outputs"] == {"account": "casey7", "notes": "Welcome sent"}
    assert advance(client, ops, card["id"]).status_code == 409


def test_exceeding_a_wip_limit_needs_an_override_that_is_recorded(
    client: TestClient, db: Session, sessions: sessionmaker[Session]
) -> None:
    slug, ops, customer = manual_setting(db)
    first, second = request_it(client, customer, slug), request_it(client, customer, slug)
    limits = client.put("/api/v1/teams/it-ops/wip-limits", headers=ops, json={"doing": 1})
    assert limits.json() == {"doing": 1}
    cards = board(client, ops)["columns"]["todo"]
    assert advance(client, ops, cards[0]["id"]).status_code == 200
    refused = advance(client, ops, cards[1]["id"])
    assert refused.status_code == 409
    assert "override" in refused.json()["detail"]
    assert advance(client, ops, cards[1]["id"], override_wip=True).status_code == 200
    timeline = client.get(f"/api/v1/requests/{second}/events", headers=ops).json()
    override = [e for e in timeline if e["type"] == "task.wip_override"]
    assert len(override) == 1 and override[0]["actor"] and override[0]["data"]["limit"] == 1
    assert first != second


def test_failed_request_shows_on_the_owner_board_and_retry_starts_a_new_attempt(
    client: TestClient, db: Session, sessions: sessionmaker[Session], settings: Settings
) -> None:
    with Receiver(secret=SECRET, replies=[(503, "down")], default=(200, {"ok": 1})) as hook:
        team, lead, offering = owner_and_offering(
            db, fulfilment={"kind": "webhook", "url": hook.url, "max_attempts": 1}
        )
        casey = requester(db)
        ops, customer = token_for(db, lead), token_for(db, casey)
        request_id = submit(db, casey, offering)
        worker = Worker(sessions, fast(settings))
        work_until(worker, lambda: status_of(sessions, request_id) == "failed")

        shown = client.get(f"/api/v1/teams/{team.slug}/board", headers=ops).json()["failed"]
        assert [r["id"] for r in shown] == [request_id]
        # The requester sees their own request, so being refused the retry reveals nothing.
        refused = client.post(f"/api/v1/requests/{request_id}/retry", headers=customer)
        assert refused.status_code == 403
        assert refused.json() == {"detail": "only the owner team retries a failed request"}
        retried = client.post(f"/api/v1/requests/{request_id}/retry", headers=ops)
        assert retried.json()["status"] == "in_fulfilment"
        work_until(worker, lambda: status_of(sessions, request_id) == "completed")

    with sessions() as session:
        assert [(r.status, r.attempt) for r in runs_of(session, request_id)] == [
            ("dead", 1),
            ("succeeded", 1),
        ]
    runs = client.get(f"/api/v1/requests/{request_id}/runs", headers=customer).json()
    assert [len(r["attempts"]) for r in runs] == [1, 1]
    assert runs[0]["attempts"][0]["error"].startswith("receiver answered 503")


def test_owner_team_assigns_tasks_and_ticks_their_checklist(
    client: TestClient, db: Session, sessions: sessionmaker[Session]
) -> None:
    slug, ops, customer = manual_setting(db)
    request_it(client, customer, slug)
    (card,) = board(client, ops)["columns"]["todo"]
    me = client.get("/api/v1/teams/it-ops/board", headers=ops).json()["team"]
    assert me == "it-ops"
    outsider = client.post(
        f"/api/v1/tasks/{card['id']}/assign", headers=ops, json={"assignee": "nobody-here"}
    )
    assert outsider.status_code == 422
    ticked = client.put(f"/api/v1/tasks/{card['id']}/checklist/1", headers=ops, json={"done": True})
    assert [item["done"] for item in ticked.json()["checklist"]] == [False, True]
    missing = client.put(
        f"/api/v1/tasks/{card['id']}/checklist/5", headers=ops, json={"done": True}
    )
    assert (missing.status_code, missing.json()) == (404, {"detail": "no checklist item 5"})
    unassigned = client.post(
        f"/api/v1/tasks/{card['id']}/assign", headers=ops, json={"assignee": None}
    )
    assert unassigned.json()["assignee"] is None
