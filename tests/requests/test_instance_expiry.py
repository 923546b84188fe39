"""Leases: an instance's lifetime, reminders before it ends (moved clock), extensions
within policy, and at expiry its decommission requested once, through its approvals."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from servicebay.core import clock
from servicebay.core.identity import Role, User
from servicebay.requests import expiry, service, tasks
from servicebay.requests.errors import InstanceNotFound, InstanceNotOperable, NotPermitted
from servicebay.requests.models import Instance, Notification, Request
from tests.factories import make_offering, make_team, make_user

MANUAL = {"kind": "manual"}
DAYS = {"name": "days", "label": "Days", "type": "number", "min": 1, "max": 365}


def leased(
    db: Session, *, lifetime: dict[str, Any], decommission: dict[str, Any] | None = None
) -> tuple[Instance, User, User]:
    """An active instance of an offering with that lifetime; its owner and the ops lead."""
    ops = make_team(db)
    lead = make_user(db, team=ops, role=Role.LEAD)
    operations = [{"name": "decommission", "retires": True, **(decommission or {})}]
    offering = make_offering(
        db,
        ops,
        lead,
        fulfilment=MANUAL,
        form={"fields": [{"name": "name", "label": "Name"}, DAYS]},
        instances={"name_field": "name", "operations": operations, "lifetime": lifetime},
    )
    owner = make_user(db, team=make_team(db))
    made = service.submit(
        db, actor=owner, offering_slug=offering.slug, inputs={"name": "ledger", "days": 60}
    )
    db.flush()
    (task,) = tasks.board(db, team_id=ops.id)["todo"]
    tasks.advance(db, actor=lead, task_id=task.id)
    tasks.advance(db, actor=lead, task_id=task.id)
    db.commit()
    assert made.instance_id is not None
    return db.get_one(Instance, made.instance_id), owner, lead


def sweep(db: Session) -> None:
    expiry.send_due(db)
    db.commit()


def reminders_of(db: Session, user: User) -> list[str]:
    statement = select(Notification.message).where(Notification.user_id == user.id)
    return [m for m in db.scalars(statement.order_by(Notification.id)) if "expires on" in m]


def operation_requests(db: Session, instance: Instance) -> list[Request]:
    statement = select(Request).where(
        Request.instance_id == instance.id, Request.operation.is_not(None)
    )
    return list(db.scalars(statement))


def test_a_fixed_lifetime_reminds_once_per_mark_and_expiry_requests_the_decommission_once(
    db: Session,
) -> None:
    start = clock.now()
    instance, owner, _ = leased(db, lifetime={"days": 30, "remind_days_before": [7, 1]})
    assert instance.expires_at is not None
    assert abs((instance.expires_at - start) - timedelta(days=30)) < timedelta(minutes=5)

    clock.freeze(start + timedelta(days=10))
    sweep(db)
    assert reminders_of(db, owner) == []
    clock.freeze(start + timedelta(days=23, hours=1))
    sweep(db)
    sweep(db)  # a second sweep (or a second worker) sends nothing more
    (first,) = reminders_of(db, owner)
    assert "ledger" in first and "in 6 days" in first
    clock.freeze(start + timedelta(days=29, hours=1))
    sweep(db)
    assert len(reminders_of(db, owner)) == 2

    clock.freeze(start + timedelta(days=45))  # the workers were down past the expiry
    sweep(db)
    sweep(db)
    db.expire_all()
    (asked,) = operation_requests(db, instance)
    assert (asked.operation, asked.requester_id, asked.status) == (
        "decommission",
        owner.id,
        "in_fulfilment",
    )
    expired = db.get_one(Instance, instance.id)
    assert expired.state == "retiring" and expired.expiry_requested_at is not None


def test_expiry_goes_through_the_decommissions_approval_when_its_policy_says_so(
    db: Session,
) -> None:
    start = clock.now()
    confirm = {"approval_policy": {"steps": [{"name": "ops", "decider": "owner_leads"}]}}
    instance, _, _ = leased(db, lifetime={"days": 5}, decommission=confirm)
    clock.freeze(start + timedelta(days=6))
    sweep(db)
    (asked,) = operation_requests(db, instance)
    assert asked.status == "pending_approval"
    assert db.get_one(Instance, instance.id).state == "active"  # nothing deleted yet


def test_the_owner_extends_within_policy_and_reminders_start_again(db: Session) -> None:
    start = clock.now()
    lifetime = {"days": 30, "extend_days": 30, "max_days": 45, "remind_days_before": [7]}
    instance, owner, _ = leased(db, lifetime=lifetime)
    clock.freeze(start + timedelta(days=24))
    sweep(db)
    assert len(reminders_of(db, owner)) == 1

    extended = expiry.extend(db, actor=owner, instance_id=instance.id)
    db.commit()
    assert extended.expires_at is not None
    # 30 more days would pass the longest lifetime: it stops at 45 days from creation.
    assert extended.expires_at == extended.created_at + timedelta(days=45)
    assert extended.reminders_sent == []
    with pytest.raises(InstanceNotOperable, match="at the latest its offering allows"):
        expiry.extend(db, actor=owner, instance_id=instance.id)
    db.rollback()

    clock.freeze(start + timedelta(days=39))
    sweep(db)
    assert len(reminders_of(db, owner)) == 2  # the new date's reminder
    clock.freeze(start + timedelta(days=31))
    sweep(db)
    assert operation_requests(db, instance) == []  # not expired: it was extended


def test_a_lifetime_chosen_on_the_form_is_kept_within_its_limit(db: Session) -> None:
    start = clock.now()
    instance, _, _ = leased(db, lifetime={"days": 7, "field": "days", "max_days": 45})
    assert instance.expires_at is not None
    # 60 days were asked for; the offering allows 45 at most.
    assert abs((instance.expires_at - start) - timedelta(days=45)) < timedelta(minutes=5)


def test_extending_is_refused_to_others_and_for_what_cannot_be_extended(db: Session) -> None:
    instance, owner, _ = leased(db, lifetime={"days": 30})
    before = instance.expires_at
    with pytest.raises(InstanceNotOperable, match="cannot be extended"):
        expiry.extend(db, actor=owner, instance_id=instance.id)
    db.rollback()
    stranger = make_user(db, team=make_team(db))
    db.commit()
    with pytest.raises(InstanceNotFound):
        expiry.extend(db, actor=stranger, instance_id=instance.id)
    db.rollback()
    analyst = make_user(db, analyst=True)
    db.commit()
    with pytest.raises(NotPermitted):
        expiry.extend(db, actor=analyst, instance_id=instance.id)
    db.rollback()
    assert db.get_one(Instance, instance.id).expires_at == before
    assert int(db.scalar(select(func.count(Request.id))) or 0) == 1
