"""Receivers that accept work report back through the run's callback URL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from servicebay.core import clock
from servicebay.core.settings import Settings
from servicebay.requests.fulfilment.worker import Worker
from tests.factories import token_for
from tests.receiver import Receiver
from tests.requests.support import (
    SECRET,
    attempts_of,
    fast,
    log_of,
    owner_and_offering,
    requester,
    runs_of,
    status_of,
    submit,
    work_until,
)

ACCEPTED = (202, {"status": "accepted"})


def accepted_request(
    db: Session, sessions: sessionmaker[Session], settings: Settings, hook: Receiver, count: int = 1
) -> list[tuple[int, dict[str, Any]]]:
    """Submit ``count`` requests that the receiver accepts; return (request id, callback)."""
    _, _, offering = owner_and_offering(db, fulfilment={"kind": "webhook", "url": hook.url})
    who = requester(db)
    ids = [submit(db, who, offering) for _ in range(count)]
    Worker(sessions, fast(settings), concurrency=count).run_once()
    by_request = {
        d.body["data"]["request"]["id"]: d.body["data"]["callback"] for d in hook.deliveries
    }
    return [(request_id, by_request[request_id]) for request_id in ids]


def post(client: TestClient, callback: dict[str, Any], token: str | None = None, **body: Any):
    path = callback["url"].removeprefix("http://testserver")
    headers = {"Authorization": f"Bearer {token or callback['token']}"}
    return client.post(path, headers=headers, json=body)


def test_accepted_work_waits_shows_progress_and_completes_with_the_callbacks_outputs(
    client: TestClient, db: Session, sessions: sessionmaker[Session], settings: Settings
) -> None:
    with Receiver(secret=SECRET, default=ACCEPTED) as hook:
        ((request_id, callback),) = accepted_request(db, sessions, settings, hook)
    assert status_of(sessions, request_id) == "in_fulfilment"
    run = runs_of(db, request_id)[0]
    run_id = run.status == "waiting" and run.id
    db.rollback()
    assert run_id

    progress = post(client, callback, status="progress", message="VM is booting")
    assert progress.status_code == 200, progress.text
    done = post(client, callback, status="succeeded", outputs={"host": "vm-1"})
    assert done.json()["status"] == "succeeded"

    assert status_of(sessions, request_id) == "completed"
    with sessions() as session:
        assert "progress: VM is booting" in log_of(session, run_id)
        assert runs_of(session, request_id)[0].request.outputs == {"host": "vm-1"}


def test_callback_tokens_are_checked_and_ended_runs_refuse_late_callbacks(
    client: TestClient, db: Session, sessions: sessionmaker[Session], settings: Settings
) -> None:
    with Receiver(secret=SECRET, default=ACCEPTED) as hook:
        (first, callback), (_, other) = accepted_request(db, sessions, settings, hook, count=2)
    someone = token_for(db, requester(db))
    db.commit()

    assert post(client, callback, token="not-the-token", status="succeeded").status_code == 401
    assert post(client, callback, token=other["token"], status="succeeded").status_code == 401
    personal = client.post(
        callback["url"].removeprefix("http://testserver"),
        headers=someone,
        json={"status": "succeeded"},
    )
    assert personal.status_code == 401
    assert (
        client.post(
            callback["url"].removeprefix("http://testserver"), json={"status": "succeeded"}
        ).status_code
        == 401
    )
    assert status_of(sessions, first) == "in_fulfilment"

    assert post(client, callback, status="succeeded", outputs={"n": 1}).status_code == 200
    again = post(client, callback, status="succeeded", outputs={"n": 2})
    assert again.status_code == 409
    failed_late = post(client, callback, status="failed", message="oops")
    assert failed_late.status_code == 409
    progress_late = post(client, callback, status="progress", message="still here")
    assert progress_late.status_code == 409
    with sessions() as session:
        assert status_of(sessions, first) == "completed"
        assert runs_of(session, first)[0].request.outputs == {"n": 1}
    assert (
        client.post(
            "/api/v1/runs/999999/callback",
            headers={"Authorization": "Bearer x"},
            json={"status": "progress"},
        ).status_code
        == 404
    )


def test_failed_callback_ends_the_run_and_the_request_fails(
    client: TestClient, db: Session, sessions: sessionmaker[Session], settings: Settings
) -> None:
    with Receiver(secret=SECRET, default=ACCEPTED) as hook:
        ((request_id, callback),) = accepted_request(db, sessions, settings, hook)
    db.rollback()
    answer = post(client, callback, status="failed", message="quota exhausted upstream")
    assert answer.json()["status"] == "dead"
    assert status_of(sessions, request_id) == "failed"
    with sessions() as session:
        run = runs_of(session, request_id)[0]
        assert any("quota exhausted upstream" in line for line in log_of(session, run.id))


def test_run_waiting_past_its_callback_timeout_fails_and_is_retried(
    db: Session, sessions: sessionmaker[Session], settings: Settings
) -> None:
    with Receiver(secret=SECRET, replies=[ACCEPTED], default=(200, {"second": True})) as hook:
        _, _, offering = owner_and_offering(db, fulfilment={"kind": "webhook", "url": hook.url})
        request_id = submit(db, requester(db), offering)
        worker = Worker(sessions, fast(settings, callback_timeout_seconds=60))
        worker.run_once()
        assert runs_of(db, request_id)[0].status == "waiting"
        db.rollback()
        clock.advance(timedelta(seconds=61))
        work_until(worker, lambda: status_of(sessions, request_id) == "completed")
    run = runs_of(db, request_id)[0]
    assert [a.status for a in attempts_of(db, run.id)] == ["failed", "succeeded"]
    assert any("no callback came" in line for line in log_of(db, run.id))
