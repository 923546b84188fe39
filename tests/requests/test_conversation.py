"""Cancelling, comments, ratings and notifications (in-app and by email through SMTP)."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from servicebay.core import clock
from servicebay.core.settings import Settings
from servicebay.portal.app import create_app
from servicebay.requests import notifications
from servicebay.requests.fulfilment import engine
from servicebay.requests.fulfilment.worker import Worker
from servicebay.requests.models import FulfilmentRun
from tests.factories import make_user, token_for
from tests.requests.support import (
    fast,
    owner_and_offering,
    requester,
    runs_of,
    status_of,
    submit,
    work_until,
)
from tests.servers import free_port

ECHO = {"kind": "plugin", "plugin": "echo"}


def people(db: Session, fulfilment: dict[str, Any] = ECHO):
    _, lead, offering = owner_and_offering(db, fulfilment=fulfilment)
    casey = requester(db)
    stranger = make_user(db)
    headers = {
        "ops": token_for(db, lead),
        "casey": token_for(db, casey),
        "stranger": token_for(db, stranger),
    }
    request_id = submit(db, casey, offering)
    return request_id, headers


def test_cancelling_stops_pending_runs_and_closed_requests_cannot_be_cancelled(
    client: TestClient, db: Session, sessions: sessionmaker[Session], settings: Settings
) -> None:
    request_id, h = people(db, {"kind": "webhook", "url": "http://127.0.0.1:9/never"})
    assert (
        client.post(
            f"/api/v1/requests/{request_id}/cancel", headers=h["stranger"], json={}
        ).status_code
        == 404
    )
    answer = client.post(
        f"/api/v1/requests/{request_id}/cancel", headers=h["casey"], json={"reason": "not needed"}
    )
    assert answer.json()["status"] == "cancelled"
    assert Worker(sessions, fast(settings)).run_once() == 0
    with sessions() as session:
        assert [run.status for run in runs_of(session, request_id)] == ["cancelled"]
    again = client.post(f"/api/v1/requests/{request_id}/cancel", headers=h["casey"], json={})
    assert again.status_code == 409


def test_a_worker_still_on_a_cancelled_run_cannot_complete_it(
    db: Session, sessions: sessionmaker[Session]
) -> None:
    request_id, _ = people(db)
    with sessions.begin() as session:
        (claimed,) = engine.claim(session, worker_id="w1", limit=1, lease=timedelta(seconds=30))
    with sessions.begin() as session:
        from servicebay.requests import service

        owner = session.scalars(select(FulfilmentRun)).one().request.requester
        service.cancel(session, actor=owner, request_id=request_id)
    with sessions.begin() as session:
        assert not engine.finish(session, run=claimed, outcome=engine.Outcome.succeeded({"x": 1}))
    assert status_of(sessions, request_id) == "cancelled"


def test_requester_and_owner_team_comment_on_a_request_and_others_cannot(
    client: TestClient, db: Session
) -> None:
    request_id, h = people(db)
    url = f"/api/v1/requests/{request_id}/comments"
    assert client.post(url, headers=h["casey"], json={"body": "Any news?"}).status_code == 201
    assert client.post(url, headers=h["ops"], json={"body": "On it."}).status_code == 201
    assert client.post(url, headers=h["stranger"], json={"body": "hi"}).status_code == 404
    assert client.post(url, headers=h["casey"], json={"body": ""}).status_code == 422
    bodies = [c["body"] for c in client.get(url, headers=h["casey"]).json()]
    assert bodies == ["Any news?", "On it."]


def test_requester_rates_a_completed_request_once_and_may_edit_it_for_14_days(
    client: TestClient, db: Session, sessions: sessionmaker[Session], settings: Settings
) -> None:
    request_id, h = people(db)
    url = f"/api/v1/requests/{request_id}/rating"
    assert client.put(url, headers=h["casey"], json={"score": 5}).status_code == 409  # not done yet
    work_until(
        Worker(sessions, fast(settings)), lambda: status_of(sessions, request_id) == "completed"
    )

    assert client.put(url, headers=h["casey"], json={"score": 6}).status_code == 422
    assert client.put(url, headers=h["ops"], json={"score": 1}).status_code == 403
    rated = client.put(url, headers=h["casey"], json={"score": 4, "comment": "Quick"})
    assert (rated.json()["rating"], rated.json()["rating_comment"]) == (4, "Quick")
    clock.advance(timedelta(days=13))
    assert client.put(url, headers=h["casey"], json={"score": 5}).json()["rating"] == 5
    clock.advance(timedelta(days=2))
    assert client.put(url, headers=h["casey"], json={"score": 1}).status_code == 409
    events = client.get(f"/api/v1/requests/{request_id}/events", headers=h["casey"]).json()
    assert [e["type"] for e in events].count("request.rated") == 1


def test_requester_is_notified_in_the_app_of_each_status_change(
    client: TestClient, db: Session, sessions: sessionmaker[Session], settings: Settings
) -> None:
    request_id, h = people(db)
    work_until(
        Worker(sessions, fast(settings)), lambda: status_of(sessions, request_id) == "completed"
    )
    messages = [
        n["message"] for n in client.get("/api/v1/notifications", headers=h["casey"]).json()
    ]
    assert any("is completed" in m for m in messages)
    assert any("is being fulfilled" in m for m in messages)
    assert client.get("/api/v1/notifications", headers=h["ops"]).json() == []


def email_runs(sessions: sessionmaker[Session]) -> list[FulfilmentRun]:
    with sessions() as session:
        return list(session.scalars(select(FulfilmentRun).where(FulfilmentRun.kind == "email")))


class Inbox:
    def __init__(self) -> None:
        self.messages: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope.content.decode(errors="replace"))
        return "250 OK"


def test_status_emails_survive_a_mail_server_that_is_down_and_arrive_once_it_is_up(
    db: Session, sessions: sessionmaker[Session], settings: Settings
) -> None:
    port = free_port()
    mail_settings = fast(settings, smtp_host="127.0.0.1", smtp_port=port)
    app = create_app(mail_settings)
    _, _, offering = owner_and_offering(db, fulfilment=ECHO)
    casey = requester(db)
    headers = token_for(db, casey)
    db.commit()
    notifications.configure(sessions, email=True)
    worker = Worker(sessions, mail_settings)
    with TestClient(app) as client:
        answer = client.post(
            "/api/v1/requests",
            headers=headers,
            json={"offering": offering.slug, "inputs": {"name": "ledger", "size": "small"}},
        )
        request_id = answer.json()["id"]
    work_until(worker, lambda: status_of(sessions, request_id) == "completed")
    work_until(worker, lambda: all(run.attempt >= 1 for run in email_runs(sessions)))
    waiting = email_runs(sessions)
    assert waiting and all(run.status == "queued" and run.attempt >= 1 for run in waiting)
    assert all("could not reach the mail server" in (run.last_error or "") for run in waiting)

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        deadline = time.monotonic() + 20
        while len(inbox.messages) < 2:
            assert time.monotonic() < deadline, "the emails never arrived"
            if worker.run_once() == 0:
                time.sleep(0.1)
    finally:
        controller.stop()
    subjects = [
        line for m in inbox.messages for line in m.splitlines() if line.startswith("Subject:")
    ]
    assert any("is completed" in s for s in subjects)
    assert any("is being fulfilled" in s for s in subjects)
    assert all("To: someone@example.com" in m for m in inbox.messages)
