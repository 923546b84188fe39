"""Small helpers for the requests tests: offerings with a given fulfilment, submitting, working."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from servicebay.catalog.models import Offering
from servicebay.core.identity import Role, Team, User
from servicebay.core.settings import Settings
from servicebay.requests import service
from servicebay.requests.fulfilment.worker import Worker
from servicebay.requests.models import FulfilmentRun, Request, RunAttempt, RunLogLine
from tests.factories import make_offering, make_team, make_user

SECRET = "whsec_c2VydmljZWJheS10ZXN0LXNlY3JldA=="
INPUTS = {"name": "ledger", "size": "small"}


def fast(settings: Settings, **overrides: Any) -> Settings:
    """The test settings with retries and polls short enough to watch."""
    values = {"retry_base_seconds": 0.05, "worker_poll_seconds": 0.05, **overrides}
    return settings.model_copy(update=values)


def owner_and_offering(
    db: Session, *, fulfilment: dict[str, Any], **overrides: Any
) -> tuple[Team, User, Offering]:
    team = make_team(db)
    lead = make_user(db, team=team, role=Role.LEAD)
    offering = make_offering(
        db, team, lead, fulfilment=fulfilment, webhook_secret=SECRET, **overrides
    )
    return team, lead, offering


def requester(db: Session, team: Team | None = None) -> User:
    return make_user(db, team=team or make_team(db))


def submit(db: Session, who: User, offering: Offering, inputs: dict[str, Any] | None = None) -> int:
    request = service.submit(db, actor=who, offering_slug=offering.slug, inputs=inputs or INPUTS)
    db.commit()
    return request.id


def work_until(
    worker: Worker, done: Callable[[], bool], *, timeout: float = 20.0, pause: float = 0.05
) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "the work did not finish in time"
        if worker.run_once() == 0:
            time.sleep(pause)


def status_of(sessions: sessionmaker[Session], request_id: int) -> str:
    with sessions() as session:
        return session.get_one(Request, request_id).status


def runs_of(session: Session, request_id: int) -> list[FulfilmentRun]:
    statement = select(FulfilmentRun).where(
        FulfilmentRun.request_id == request_id, FulfilmentRun.kind == "fulfil"
    )
    return list(session.scalars(statement.order_by(FulfilmentRun.id)))


def log_of(session: Session, run_id: int) -> list[str]:
    statement = select(RunLogLine.message).where(RunLogLine.run_id == run_id)
    return list(session.scalars(statement.order_by(RunLogLine.id)))


def attempts_of(session: Session, run_id: int) -> list[RunAttempt]:
    statement = select(RunAttempt).where(RunAttempt.run_id == run_id)
    return list(session.scalars(statement.order_by(RunAttempt.attempt)))
