"""Workers are woken by the commit that enqueues their run: after it, never before, never
when it is rolled back, and from every face that starts fulfilment."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from servicebay.catalog.models import Offering
from servicebay.core.database import after_commit
from servicebay.core.identity import Role, Team, User
from servicebay.requests import service
from servicebay.requests.fulfilment import engine
from servicebay.requests.models import Approval, FulfilmentRun
from tests.factories import make_offering, make_team, make_user
from tests.requests.support import INPUTS
from tests.requests.test_pages import sign_in


class WakeRecorder:
    """Stands in for a worker: counts wake-ups and what another connection saw at each."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self.runs_visible: list[int] = []

    def wake(self) -> None:
        with self.sessions() as elsewhere:
            count = elsewhere.scalar(select(func.count()).select_from(FulfilmentRun))
            self.runs_visible.append(int(count or 0))


def listening(sessions: sessionmaker[Session]) -> WakeRecorder:
    recorder = WakeRecorder(sessions)
    engine.reach(sessions).workers.add(recorder)
    return recorder


def test_approving_on_the_page_wakes_the_worker_after_the_commit(
    app: FastAPI, client: TestClient, db: Session
) -> None:
    team = make_team(db)
    lead = make_user(db, team=team, role=Role.LEAD)
    policy = {"steps": [{"name": "Owner check", "decider": "owner_leads"}]}
    offering = make_offering(db, team, lead, approval_policy=policy)
    casey = make_user(db)
    request = service.submit(db, actor=casey, offering_slug=offering.slug, inputs=INPUTS)
    db.commit()
    step = db.scalars(select(Approval.id).where(Approval.request_id == request.id)).one()
    lead_name = lead.username
    db.commit()  # on SQLite every transaction holds the write lock
    recorder = listening(app.state.sessions)
    csrf = sign_in(client, lead_name)

    answer = client.post(
        f"/approvals/{step}",
        data={"csrf_token": csrf, "decision": "approve"},
        follow_redirects=False,
    )

    assert answer.status_code == 303
    assert recorder.runs_visible == [1], "woken once, when the run could be claimed"


def test_a_rolled_back_transaction_wakes_nothing(
    db: Session, sessions: sessionmaker[Session]
) -> None:
    offering, casey = _offering_and_requester(db)
    recorder = listening(sessions)

    service.submit(db, actor=casey, offering_slug=offering.slug, inputs=INPUTS)
    db.rollback()
    db.commit()  # a later, empty commit does not run the dropped wake-up either

    assert recorder.runs_visible == []


def test_the_wake_happens_only_after_the_outermost_commit(
    db: Session, sessions: sessionmaker[Session]
) -> None:
    offering, casey = _offering_and_requester(db)
    recorder = listening(sessions)

    with db.begin_nested():  # releasing a savepoint is not the commit
        service.submit(db, actor=casey, offering_slug=offering.slug, inputs=INPUTS)
        service.submit(db, actor=casey, offering_slug=offering.slug, inputs=INPUTS)
    db.flush()
    assert recorder.runs_visible == []

    db.commit()

    assert recorder.runs_visible == [2], "one wake-up for the transaction, both runs visible"


def test_a_failing_effect_neither_undoes_the_commit_nor_stops_the_others(
    db: Session, sessions: sessionmaker[Session]
) -> None:
    ran: list[str] = []

    def broken() -> None:
        raise RuntimeError("the effect failed")

    after_commit(db, broken)
    after_commit(db, lambda: ran.append("second"))
    make_team(db, "kept")
    db.commit()

    assert ran == ["second"]
    with sessions() as elsewhere:
        assert elsewhere.scalar(select(Team.id).where(Team.slug == "kept")) is not None


def _offering_and_requester(db: Session) -> tuple[Offering, User]:
    """A published offering of a team led by someone, and a requester outside the team."""
    team = make_team(db)
    offering = make_offering(db, team, make_user(db, team=team, role=Role.LEAD))
    casey = make_user(db)
    db.commit()
    return offering, casey
