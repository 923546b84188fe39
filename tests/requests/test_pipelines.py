"""Fulfilment pipelines: ordered steps, outputs into later steps, conditions, retry from
the failed step, cancel told to the running step, and a cancel racing a step's success."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from servicebay.catalog.fulfilment.outcome import Outcome
from servicebay.catalog.schemas import OfferingIn
from servicebay.core.settings import Settings
from servicebay.requests import service, tasks
from servicebay.requests.errors import TransitionNotAllowed
from servicebay.requests.fulfilment import engine
from servicebay.requests.fulfilment.worker import Worker
from servicebay.requests.models import Request, Task
from tests.factories import offering_definition, sign_in, token_for
from tests.receiver import Receiver
from tests.requests.support import (
    SECRET,
    fast,
    owner_and_offering,
    requester,
    runs_of,
    status_of,
    submit,
    work_until,
)


def three_steps(provision: str, register: str, *, cancel_url: str = "") -> dict[str, Any]:
    return {
        "kind": "pipeline",
        "steps": [
            {
                "name": "provision",
                "kind": "webhook",
                "url": provision,
                "outputs": ["host"],
                "params": {"database": "db-{{ inputs.name }}"},
                "cancel_url": cancel_url,
            },
            {
                "name": "register",
                "kind": "webhook",
                "url": register,
                "max_attempts": 1,
                "outputs": ["ci"],
                "params": {"host": "{{ steps.provision.outputs.host }}"},
            },
            {
                "name": "hand_over",
                "kind": "manual",
                "checklist": ["Send the credentials of {{ steps.provision.outputs.host }}"],
            },
        ],
    }


def test_three_steps_run_in_order_each_seeing_the_outputs_of_the_earlier_ones(
    db: Session, sessions: sessionmaker[Session], settings: Settings
) -> None:
    with (
        Receiver(secret=SECRET, default=(200, {"outputs": {"host": "db1.internal"}})) as first,
        Receiver(secret=SECRET, default=(200, {"outputs": {"ci": "CI-7"}})) as second,
    ):
        _, lead, offering = owner_and_offering(db, fulfilment=three_steps(first.url, second.url))
        request_id = submit(db, requester(db), offering)
        worker = Worker(sessions, fast(settings))
        work_until(worker, lambda: _tasks_of(sessions, request_id) == 1)

    (provision,) = first.deliveries
    assert provision.signature_valid
    assert provision.body["data"]["step"] == {
        "name": "provision",
        "position": 0,
        "params": {"database": "db-ledger"},
    }
    (register,) = second.deliveries
    assert register.body["data"]["step"]["params"] == {"host": "db1.internal"}
    assert register.body["data"]["outputs"] == {"provision": {"host": "db1.internal"}}
    assert [(run.step_name, run.status) for run in runs_of(db, request_id)] == [
        ("provision", "succeeded"),
        ("register", "succeeded"),
    ]
    task = db.scalars(select(Task).where(Task.request_id == request_id)).one()
    assert task.checklist[0]["item"] == "Send the credentials of db1.internal"
    assert _status(db, request_id) == "in_fulfilment"
    tasks.advance(db, actor=lead, task_id=task.id)
    tasks.advance(db, actor=lead, task_id=task.id, outputs={"vault": "kv/db1"})
    db.commit()
    assert _status(db, request_id) == "completed"
    outputs = db.get_one(Request, request_id).outputs
    assert outputs == {"host": "db1.internal", "ci": "CI-7", "vault": "kv/db1"}


def test_a_step_whose_condition_is_false_is_skipped(
    db: Session, sessions: sessionmaker[Session], settings: Settings
) -> None:
    with Receiver(secret=SECRET) as first, Receiver(secret=SECRET) as second:
        spec = {
            "kind": "pipeline",
            "steps": [
                {
                    "name": "big_only",
                    "kind": "webhook",
                    "url": first.url,
                    "when": 'size == "large"',
                },
                {"name": "always", "kind": "webhook", "url": second.url},
            ],
        }
        _, _, offering = owner_and_offering(db, fulfilment=spec)
        request_id = submit(db, requester(db), offering, {"name": "x", "size": "small"})
        work_until(
            Worker(sessions, fast(settings)),
            lambda: status_of(sessions, request_id) == "completed",
        )
    assert first.deliveries == []
    assert len(second.deliveries) == 1


def test_a_template_naming_an_output_no_earlier_step_declares_is_refused_with_step_and_name(
    db: Session,
) -> None:
    team_spec = three_steps("https://a.example/hook", "https://b.example/hook")
    team_spec["steps"][1]["params"] = {"host": "{{ steps.provision.outputs.hostname }}"}
    with pytest.raises(ValidationError) as refused:
        OfferingIn.model_validate(_definition(db, team_spec))
    message = str(refused.value)
    assert "step 2 (register)" in message
    assert "'hostname'" in message and "'provision'" in message

    team_spec["steps"][1]["params"] = {"host": "{{ steps.hand_over.outputs.x }}"}
    with pytest.raises(ValidationError, match="not an earlier step"):
        OfferingIn.model_validate(_definition(db, team_spec))


def test_a_single_fulfilments_checklist_naming_what_no_step_gives_is_refused_at_save(
    db: Session,
) -> None:
    """A manual checklist item is a template too: naming anything but the inputs and
    earlier steps is a problem of the definition, said under "fulfilment", never a crash."""
    from servicebay.catalog import service as catalog_service
    from servicebay.catalog.errors import InvalidOffering

    definition = _definition(db, {"kind": "manual", "checklist": ["Grant {{ request.owner }}"]})
    with pytest.raises(InvalidOffering) as refused:
        catalog_service.create_offering(
            db, actor=None, definition=OfferingIn.model_validate(definition)
        )
    assert "'request'" in refused.value.problems["fulfilment"]
    assert "only inputs and steps are known" in refused.value.problems["fulfilment"]


def _definition(db: Session, fulfilment: dict[str, Any]) -> dict[str, Any]:
    from tests.factories import make_team

    return offering_definition(make_team(db), fulfilment=fulfilment)


def test_a_failed_step_is_retried_without_running_the_steps_that_succeeded(
    db: Session, sessions: sessionmaker[Session], settings: Settings
) -> None:
    with (
        Receiver(secret=SECRET, default=(200, {"outputs": {"host": "db1"}})) as first,
        Receiver(secret=SECRET, replies=[(400, "no such network")], default=(200, {})) as second,
    ):
        _, lead, offering = owner_and_offering(db, fulfilment=three_steps(first.url, second.url))
        request_id = submit(db, requester(db), offering)
        worker = Worker(sessions, fast(settings))
        work_until(worker, lambda: status_of(sessions, request_id) == "failed")
        failed = runs_of(db, request_id)[-1]
        assert failed.step_name == "register"
        assert "no such network" in (failed.last_error or "")
        db.commit()

        service.retry(db, actor=lead, request_id=request_id)
        db.commit()
        work_until(worker, lambda: _tasks_of(sessions, request_id) == 1)

    assert len(first.deliveries) == 1  # the receiver's ledger: step 1 ran once
    assert len(second.deliveries) == 2
    db.expire_all()
    assert [(run.step_name, run.status) for run in runs_of(db, request_id)] == [
        ("provision", "succeeded"),
        ("register", "dead"),
        ("register", "succeeded"),
    ]
    assert second.deliveries[1].body["data"]["outputs"] == {"provision": {"host": "db1"}}


def test_cancelling_during_a_webhook_step_sends_a_signed_cancel_call_and_no_later_step_starts(
    db: Session, sessions: sessionmaker[Session], settings: Settings
) -> None:
    accepted = (202, {"status": "accepted"})
    with (
        Receiver(secret=SECRET, default=accepted) as first,
        Receiver(secret=SECRET) as second,
        Receiver(secret=SECRET, default=(200, {})) as cancels,
    ):
        spec = three_steps(first.url, second.url, cancel_url=cancels.url)
        _, lead, offering = owner_and_offering(db, fulfilment=spec)
        request_id = submit(db, requester(db), offering)
        worker = Worker(sessions, fast(settings))
        work_until(worker, lambda: len(first.deliveries) == 1)
        run_id = runs_of(db, request_id)[0].id
        db.commit()

        service.cancel(db, actor=lead, request_id=request_id, reason="not needed")
        db.commit()
        work_until(worker, lambda: len(cancels.deliveries) == 1)
        worker.run_until_idle()

    (told,) = cancels.deliveries
    assert told.signature_valid
    assert told.body["type"] == "request.cancel"
    assert told.body["data"] == {
        "request": {"id": request_id},
        "run": {"id": run_id, "attempt": 1},
        "step": {"name": "provision", "position": 0},
        "reason": "not needed",
    }
    assert second.deliveries == []
    assert _status(db, request_id) == "cancelled"
    assert [(run.step_name, run.status) for run in runs_of(db, request_id)] == [
        ("provision", "cancelled")
    ]


def test_a_plugin_sees_the_cancellation_signal_once_its_request_is_cancelled(
    db: Session, sessions: sessionmaker[Session], settings: Settings
) -> None:
    spec = {"kind": "plugin", "plugin": "echo", "settings": {"message": "hi"}}
    _, lead, offering = owner_and_offering(db, fulfilment=spec)
    request_id = submit(db, requester(db), offering)
    worker = Worker(sessions, fast(settings))
    ((_, attempt),) = worker._claim(1)
    assert attempt is not None and not isinstance(attempt, str)
    assert attempt.context.cancelled() is False
    service.cancel(db, actor=lead, request_id=request_id)
    db.commit()
    assert attempt.context.cancelled() is True


def test_a_cancel_before_a_steps_success_is_recorded_and_the_success_is_not(
    db: Session, sessions: sessionmaker[Session]
) -> None:
    request_id, lead = _two_webhook_steps(db)
    with sessions.begin() as session:
        (claimed,) = engine.claim(session, worker_id="w1", limit=1, lease=timedelta(seconds=30))
    service.cancel(db, actor=lead, request_id=request_id)
    db.commit()
    with sessions.begin() as session:
        assert not engine.finish(session, run=claimed, outcome=Outcome.succeeded({"host": "h"}))
    assert _status(db, request_id) == "cancelled"
    assert [run.status for run in runs_of(db, request_id)] == ["cancelled"]
    assert db.get_one(Request, request_id).outputs == {}


def test_a_steps_success_before_a_cancel_is_recorded_and_the_cancel_stops_what_follows(
    db: Session, sessions: sessionmaker[Session]
) -> None:
    request_id, lead = _two_webhook_steps(db)
    with sessions.begin() as session:
        (claimed,) = engine.claim(session, worker_id="w1", limit=1, lease=timedelta(seconds=30))
    with sessions.begin() as session:
        assert engine.finish(session, run=claimed, outcome=Outcome.succeeded({"host": "h"}))
    service.cancel(db, actor=lead, request_id=request_id)
    db.commit()
    db.expire_all()
    assert [(run.step_name, run.status) for run in runs_of(db, request_id)] == [
        ("provision", "succeeded"),
        ("register", "cancelled"),
    ]
    assert _status(db, request_id) == "cancelled"


def test_cancelling_after_the_last_step_succeeded_is_refused(
    db: Session, sessions: sessionmaker[Session]
) -> None:
    spec = {"kind": "webhook", "url": "https://hooks.example/one"}
    _, lead, offering = owner_and_offering(db, fulfilment=spec)
    request_id = submit(db, requester(db), offering)
    with sessions.begin() as session:
        (claimed,) = engine.claim(session, worker_id="w1", limit=1, lease=timedelta(seconds=30))
    with sessions.begin() as session:
        assert engine.finish(session, run=claimed, outcome=Outcome.succeeded({"x": 1}))
    with pytest.raises(TransitionNotAllowed):
        service.cancel(db, actor=lead, request_id=request_id)
    db.rollback()
    assert _status(db, request_id) == "completed"


def _two_webhook_steps(db: Session) -> tuple[int, Any]:
    spec = three_steps("https://hooks.example/a", "https://hooks.example/b")
    _, lead, offering = owner_and_offering(db, fulfilment=spec)
    return submit(db, requester(db), offering), lead


def _tasks_of(sessions: sessionmaker[Session], request_id: int) -> int:
    with sessions() as session:
        return len(list(session.scalars(select(Task.id).where(Task.request_id == request_id))))


def _status(db: Session, request_id: int) -> str:
    db.expire_all()
    return db.get_one(Request, request_id).status


def test_the_api_retries_the_failed_step_and_the_request_page_shows_each_step(
    client: TestClient, db: Session, sessions: sessionmaker[Session], settings: Settings
) -> None:
    with (
        Receiver(secret=SECRET, default=(200, {"outputs": {"host": "db1"}})) as first,
        Receiver(secret=SECRET, replies=[(400, "quota of the CMDB exceeded")]) as second,
    ):
        _, lead, offering = owner_and_offering(db, fulfilment=three_steps(first.url, second.url))
        request_id = submit(db, requester(db), offering)
        headers = token_for(db, lead)
        db.commit()
        worker = Worker(sessions, fast(settings))
        work_until(worker, lambda: status_of(sessions, request_id) == "failed")

        sign_in(client, lead.username)
        page = client.get(f"/requests/{request_id}").text
        assert "Step 1: provision" in page and "Step 2: register" in page
        assert "quota of the CMDB exceeded" in page

        answer = client.post(f"/api/v1/requests/{request_id}/retry", headers=headers)
        assert answer.status_code == 200, answer.text
        work_until(worker, lambda: _tasks_of(sessions, request_id) == 1)
        runs = client.get(f"/api/v1/requests/{request_id}/runs", headers=headers).json()

    assert len(first.deliveries) == 1
    assert [(run["step_name"], run["status"]) for run in runs] == [
        ("provision", "succeeded"),
        ("register", "dead"),
        ("register", "succeeded"),
    ]
    assert runs[0]["outputs"] == {"host": "db1"}
    assert "quota of the CMDB exceeded" in runs[1]["last_error"]


def test_a_cancel_racing_a_steps_success_records_exactly_one_of_the_two(
    db: Session, sessions: sessionmaker[Session]
) -> None:
    spec = {"kind": "webhook", "url": "https://hooks.example/one"}
    _, lead, offering = owner_and_offering(db, fulfilment=spec)
    for _ in range(4):
        _race_once(db, sessions, lead, submit(db, requester(db), offering))


def _race_once(db: Session, sessions: sessionmaker[Session], lead: Any, request_id: int) -> None:
    with sessions.begin() as session:
        (claimed,) = engine.claim(session, worker_id="w1", limit=1, lease=timedelta(seconds=30))
    start = threading.Barrier(2)
    finished: list[bool] = []
    refused: list[Exception] = []

    def succeed() -> None:
        start.wait()
        with sessions.begin() as session:
            finished.append(engine.finish(session, run=claimed, outcome=Outcome.succeeded({})))

    def cancel() -> None:
        start.wait()
        try:
            with sessions.begin() as session:
                service.cancel(session, actor=session.merge(lead), request_id=request_id)
        except TransitionNotAllowed as error:
            refused.append(error)

    threads = [threading.Thread(target=succeed), threading.Thread(target=cancel)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    status = _status(db, request_id)
    (run,) = runs_of(db, request_id)
    db.commit()
    if finished == [True]:
        assert (status, run.status, len(refused)) == ("completed", "succeeded", 1)
    else:
        assert finished == [False]
        assert (status, run.status, refused) == ("cancelled", "cancelled", [])
