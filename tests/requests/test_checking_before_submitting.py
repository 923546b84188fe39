"""Before asking: what a submission would refuse, and how much quota the team has left."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from servicebay.catalog.errors import InputsInvalid
from servicebay.core.events import Event
from servicebay.core.identity import Role, User
from servicebay.requests import service
from servicebay.requests.errors import OfferingNotRequestable, QuotaExceeded
from servicebay.requests.models import Request
from tests.factories import make_offering, make_team, make_user
from tests.requests.support import INPUTS


def test_checking_inputs_refuses_what_submitting_would_and_writes_nothing(db: Session) -> None:
    owners = make_team(db)
    lead = make_user(db, team=owners, role=Role.LEAD)
    make_offering(db, owners, lead, slug="postgres", quota={"count": 1, "period_days": 30})
    make_offering(db, owners, lead, slug="draft-only", publish=False)
    casey = make_user(db, team=make_team(db, "payments"))
    db.commit()
    events_before = db.scalar(select(func.count(Event.id)))

    with pytest.raises(InputsInvalid) as checked:
        service.check_inputs(db, actor=casey, offering_slug="postgres", inputs={"name": "A B"})
    with pytest.raises(InputsInvalid) as submitted:
        service.submit(db, actor=casey, offering_slug="postgres", inputs={"name": "A B"})
    assert checked.value.problems == submitted.value.problems
    assert set(checked.value.problems) == {"name", "size"}
    with pytest.raises(OfferingNotRequestable):
        service.check_inputs(db, actor=lead, offering_slug="draft-only", inputs=INPUTS)

    cleaned = service.check_inputs(db, actor=casey, offering_slug="postgres", inputs=INPUTS)
    assert cleaned == INPUTS
    assert db.scalar(select(func.count(Request.id))) == 0
    assert db.scalar(select(func.count(Event.id))) == events_before

    service.submit(db, actor=casey, offering_slug="postgres", inputs=INPUTS)
    with pytest.raises(QuotaExceeded):
        service.check_inputs(db, actor=casey, offering_slug="postgres", inputs=INPUTS)


def test_the_quota_left_is_the_requesting_teams_and_ignores_rejected_and_cancelled(
    db: Session,
) -> None:
    owners = make_team(db)
    lead = make_user(db, team=owners, role=Role.LEAD)
    make_offering(db, owners, lead, slug="postgres", quota={"count": 3, "period_days": 30})
    make_offering(db, owners, lead, slug="unlimited")
    payments = make_team(db, "payments")
    casey = make_user(db, team=payments)
    robin = make_user(db, team=payments)
    outsider = make_user(db, team=make_team(db))
    teamless = make_user(db)
    db.commit()

    def left(slug: str = "postgres", user: User = casey) -> int | None:
        return service.describe(db, viewer=user, slug=slug).quota_left

    assert left() == 3
    first = service.submit(db, actor=casey, offering_slug="postgres", inputs=INPUTS)
    service.submit(db, actor=robin, offering_slug="postgres", inputs=INPUTS)
    assert (left(), left(user=robin), left(user=outsider)) == (1, 1, 3)
    service.cancel(db, actor=casey, request_id=first.id)
    assert left() == 2
    described = service.describe(db, viewer=casey, slug="postgres")
    assert described.requesting_team == "payments"
    assert described.offering.quota is not None and described.offering.quota.count == 3
    assert described.form_schema["required"] == ["name", "size"]
    assert left("unlimited") is None and left(user=teamless) is None
