"""`servicebay demo` shows the whole product on first start: work waiting for people,
cards in every column, a failed run that a retry completes, demand in every state."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from servicebay.catalog.models import Demand, DemandState
from servicebay.core import identity
from servicebay.core.database import transaction
from servicebay.core.settings import Settings
from servicebay.portal import demo
from servicebay.requests import approvals, tasks
from servicebay.requests import service as requests_service
from servicebay.requests.fulfilment.worker import Worker
from servicebay.requests.models import Instance, Request, RequestStatus


def test_demo_shows_waiting_approvals_every_board_column_every_demand_state_and_a_retry(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    demo.load(sessions, settings, password="demo-password")
    with sessions() as db:
        pat = identity.get_user(db, username="pat")
        waiting = approvals.inbox(db, user=pat)
        assert len(waiting) >= 2
        assert {a.request.offering.slug for a in waiting} == {"ci-runner"}
        databases = {i.name: i for i in db.scalars(select(Instance))}
        assert databases["payments_ledger"].state == "active"
        assert databases["payments_reporting"].spec["size"] == "medium"  # resized
        assert databases["analytics_scratch"].state == "retired"  # decommissioned

        platform = identity.get_team(db, slug="platform")
        board = tasks.board(db, team_id=platform.id)
        assert {column: len(cards) > 0 for column, cards in board.items()} == {
            "todo": True,
            "doing": True,
            "done": True,
        }

        states = set(db.scalars(select(Demand.state)))
        assert states == {state.value for state in DemandState}

        casey = identity.get_user(db, username="casey")
        mine = requests_service.list_for_requester(db, requester=casey)
        rated = [r for r in mine if r.rating is not None]
        assert rated and rated[0].rating_comment
        assert any(requests_service.comments_of(db, request_id=r.id) for r in mine)

        # The failed lane holds one card until a retry completes it.
        failed = requests_service.failed_for_team(db, team_id=platform.id)
        assert [request.offering.slug for request, _ in failed] == ["dns-record"]
        request_id = failed[0][0].id
        assert "legacy zone" in (failed[0][1].last_error or "")

    with transaction(sessions) as db:
        pat = identity.get_user(db, username="pat")
        requests_service.retry(db, actor=pat, request_id=request_id)
    Worker(sessions, settings).run_until_idle()

    with sessions() as db:
        request = db.get(Request, request_id)
        assert request is not None
        assert request.status == RequestStatus.COMPLETED.value
        assert request.outputs["message"] == "DNS record created."
        assert requests_service.failed_for_team(db, team_id=platform.id) == []


def test_demo_personas_name_each_role_and_what_to_try() -> None:
    people = {persona.username: persona for persona in demo.personas()}
    assert people["admin"].role == "Administrator"
    assert people["pat"].role == "Lead of Platform Engineering"
    assert people["casey"].role == "Member of Payments"
    assert people["olive"].role == "Lead of Payments, analyst"
    assert all(persona.try_first for persona in people.values())
