"""Slow and large receivers are contained: the timeout bounds the whole call, an answer is
read up to a limit, and the run goes on (retried) instead of holding a worker or storing
whatever the receiver sent. Real receivers on 127.0.0.1, real sockets."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from socket import socket

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from servicebay.catalog import dry_run
from servicebay.catalog import service as catalog_service
from servicebay.catalog.fulfilment import webhook
from servicebay.catalog.fulfilment.context import FulfilmentContext
from servicebay.catalog.schemas import WebhookFulfilment
from servicebay.core import events
from servicebay.core.identity import Role
from servicebay.core.outbound import OutboundPolicy
from servicebay.core.settings import Settings
from servicebay.portal.render import happened
from servicebay.requests.fulfilment.engine import ClaimedRun
from servicebay.requests.fulfilment.worker import Leases, Worker
from servicebay.requests.models import FulfilmentRun, Request
from tests.factories import make_offering, make_team, make_user
from tests.misbehaving_receiver import MiB, MisbehavingReceiver, drip, large, slow_headers
from tests.receiver import Delivery, Receiver, Reply
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

LOCAL = OutboundPolicy.from_lists(["127.0.0.0/8"], [])
# Long enough that a call not bounded by its timeout would stand out at once.
FOR_A_MINUTE = 200


def context() -> FulfilmentContext:
    return FulfilmentContext(
        run_id=7,
        attempt=1,
        request_id=1,
        offering_slug="db",
        offering_version=1,
        inputs={},
        requester={},
        spec={},
        secret=SECRET,
        callback_url="",
        callback_token="",
    )


def delivered(url: str, *, timeout: float = 1.0, policy: OutboundPolicy = LOCAL):
    spec = WebhookFulfilment(url=url, timeout_seconds=timeout)
    with webhook.Connections() as connections:
        return webhook.deliver(context(), spec, policy=policy, connections=connections)


@pytest.mark.parametrize(
    "answer",
    [drip(0.3, FOR_A_MINUTE), slow_headers(0.3, FOR_A_MINUTE)],
    ids=["dripping body", "slow headers"],
)
def test_a_receiver_answering_a_byte_at_a_time_fails_the_attempt_as_timed_out_at_the_timeout(
    answer: Callable[[socket], None],
) -> None:
    with MisbehavingReceiver(answer) as hook:
        started = time.monotonic()
        outcome = delivered(hook.url, timeout=1.0)
        took = time.monotonic() - started

    assert outcome.kind == "retry"
    assert "no complete answer" in outcome.message and "within 1 s" in outcome.message
    assert took < 5, f"the call took {took:.1f} s; the receiver would have gone on for a minute"


@pytest.mark.parametrize("declared", [True, False], ids=["declared", "undeclared"])
def test_a_50_mib_answer_fails_the_attempt_saying_so_without_reading_it(declared: bool) -> None:
    with MisbehavingReceiver(large(50 * MiB, declared=declared)) as hook:
        outcome = delivered(hook.url, timeout=30.0)

    assert outcome.kind == "retry"
    assert f"larger than {MiB} bytes" in outcome.message
    assert "SERVICEBAY_FULFILMENT_MAX_RESPONSE_BYTES" in outcome.message
    assert outcome.outputs == {}


def test_an_answer_within_the_configured_limit_is_read(settings: Settings) -> None:
    policy = OutboundPolicy.from_settings(
        settings.model_copy(update={"fulfilment_max_response_bytes": 2 * MiB})
    )
    with Receiver(secret=SECRET, default=(200, {"blob": "x" * (MiB + 10)})) as hook:
        outcome = delivered(hook.url, policy=policy)

    assert outcome.kind == "succeeded" and len(outcome.outputs["blob"]) == MiB + 10


def test_a_50_mib_answer_is_retried_and_never_stored(
    db: Session, sessions: sessionmaker[Session], settings: Settings
) -> None:
    with MisbehavingReceiver(large(50 * MiB, declared=False)) as hook:
        _, _, offering = owner_and_offering(
            db, fulfilment={"kind": "webhook", "url": hook.url, "max_attempts": 2}
        )
        request_id = submit(db, requester(db), offering)
        work_until(
            Worker(sessions, fast(settings)), lambda: status_of(sessions, request_id) == "failed"
        )

    assert hook.requests == 2
    assert db.get_one(Request, request_id).outputs in ({}, None)
    run = runs_of(db, request_id)[0]
    assert [a.status for a in attempts_of(db, run.id)] == ["failed", "failed"]
    assert all(len(line) < 1000 for line in log_of(db, run.id))


def test_a_2xx_that_is_not_json_succeeds_with_no_outputs_and_says_so_in_the_run_log(
    db: Session, sessions: sessionmaker[Session], settings: Settings
) -> None:
    with Receiver(secret=SECRET, default=(200, "OK, on it")) as hook:
        _, _, offering = owner_and_offering(db, fulfilment={"kind": "webhook", "url": hook.url})
        request_id = submit(db, requester(db), offering)
        work_until(
            Worker(sessions, fast(settings)),
            lambda: status_of(sessions, request_id) == "completed",
        )

    assert db.get_one(Request, request_id).outputs == {}
    run = runs_of(db, request_id)[0]
    assert any("not JSON; no outputs stored" in line for line in log_of(db, run.id))


def test_each_failed_attempt_shows_in_the_requests_timeline(
    db: Session, sessions: sessionmaker[Session], settings: Settings
) -> None:
    with Receiver(secret=SECRET, replies=[(500, "boom"), (503, "down")]) as hook:
        _, _, offering = owner_and_offering(db, fulfilment={"kind": "webhook", "url": hook.url})
        request_id = submit(db, requester(db), offering)
        work_until(
            Worker(sessions, fast(settings)),
            lambda: status_of(sessions, request_id) == "completed",
        )

    timeline = events.for_request(db, request_id=request_id)
    failed = [event for event in timeline if event.type == "run.attempt_failed"]
    assert [happened(event) for event in failed] == [
        "Automation attempt 1 failed",
        "Automation attempt 2 failed",
    ]
    assert "receiver answered 500: boom" in failed[0].data["reason"]
    assert all(event.offering_id == offering.id for event in failed)


def test_the_lease_of_a_call_stuck_past_its_timeout_is_not_renewed(
    db: Session, sessions: sessionmaker[Session], settings: Settings
) -> None:
    _, _, offering = owner_and_offering(db, fulfilment={"kind": "plugin", "plugin": "echo"})
    for _ in range(2):
        submit(db, requester(db), offering)
    worker = Worker(sessions, fast(settings, run_lease_seconds=0.3))
    stuck, alive = (run for run, _ in worker._claim(2))
    expires = dict(db.execute(select(FulfilmentRun.id, FulfilmentRun.lease_expires_at)).all())
    db.rollback()
    leases = Leases(sessions, worker.lease)

    leases.hold(stuck, for_at_most=0.0)
    leases.hold(alive)
    renewed_at = _after_renewals(sessions, alive, expires[alive.id])
    leases.release(alive)

    with sessions() as session:
        assert session.get_one(FulfilmentRun, stuck.id).lease_expires_at == expires[stuck.id]
        assert session.get_one(FulfilmentRun, alive.id).lease_expires_at == renewed_at


def _after_renewals(
    sessions: sessionmaker[Session], run: ClaimedRun, was: datetime | None
) -> datetime | None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with sessions() as session:
            now = session.get_one(FulfilmentRun, run.id).lease_expires_at
        if now != was:
            return now
        time.sleep(0.05)
    raise AssertionError("the held run's lease was never renewed")


def test_the_dry_run_judges_a_receiver_as_the_real_delivery_does(db: Session) -> None:
    team = make_team(db)
    lead = make_user(db, team=team, role=Role.LEAD)
    answers = {
        "dripping body": drip(0.3, FOR_A_MINUTE),
        "50 MiB": large(50 * MiB, declared=False),
    }
    for name, answer in answers.items():
        with MisbehavingReceiver(answer) as hook:
            offering = make_offering(
                db,
                team,
                lead,
                publish=False,
                fulfilment={"kind": "webhook", "url": hook.url, "timeout_seconds": 1},
            )
            version = catalog_service.head_version(db, offering)
            spec = catalog_service.fulfilment_of(version)
            assert isinstance(spec, WebhookFulfilment)
            tried = dry_run.run(offering, version, spec, outbound=LOCAL)
            real = delivered(hook.url, timeout=1.0)

        assert not real.went_well, name
        assert tried.passed is False, f"{name}: the dry run passed where the delivery fails"
        assert real.message in tried.message, name


def test_a_receiver_that_reads_real_events_passes_the_dry_run(db: Session) -> None:
    """The test event has a real event's shape: a receiver that reads ``data.request`` and
    ``data.run`` (and fails without them) passes the dry run as it serves real requests."""

    def strict(delivery: Delivery) -> Reply:
        data = delivery.body["data"]
        if not {"request", "run", "callback"} <= data.keys():
            return (400, {"error": "not an event I know"})
        return (200, {"seen": sorted(data["request"]["inputs"])})

    team = make_team(db)
    lead = make_user(db, team=team, role=Role.LEAD)
    with Receiver(secret=SECRET, default=strict) as hook:
        offering = make_offering(
            db, team, lead, publish=False, fulfilment={"kind": "webhook", "url": hook.url}
        )
        version = catalog_service.head_version(db, offering)
        tried = dry_run.run(
            offering, version, catalog_service.fulfilment_of(version), outbound=LOCAL
        )

    assert tried.passed, tried.message
    (delivery,) = hook.deliveries
    assert delivery.body["type"] == "test" and delivery.headers["webhook-id"].startswith("test_")
    assert delivery.body["data"]["run"] == {"id": 0, "attempt": 1}
