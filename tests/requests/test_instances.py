"""Instances and their day-2 operations: made by a fulfilled request, changed by operations
that are requests on the instance, one at a time, never on a retired instance."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from servicebay.catalog.errors import InputsInvalid, InvalidOffering
from servicebay.core.identity import Role, Team, User
from servicebay.core.settings import Settings
from servicebay.requests import approvals, instances, service
from servicebay.requests.errors import (
    InstanceBusy,
    InstanceNotFound,
    InstanceNotOperable,
    NotPermitted,
    OperationNotFound,
)
from servicebay.requests.fulfilment.worker import Worker
from servicebay.requests.models import Instance, Request
from tests.factories import make_offering, make_team, make_user
from tests.receiver import Receiver
from tests.requests.support import SECRET, fast, status_of, submit, work_until

SIZE = {"name": "size", "label": "Size", "type": "select", "options": ["small", "large"]}
ECHO = {"kind": "plugin", "plugin": "echo"}


def database_offering(
    db: Session, team: Team, lead: User, *, resize: dict[str, Any] | None = None, **more: Any
) -> Any:
    """An offering whose requests make a database, with resize and decommission."""
    operations = [
        {
            "name": "resize",
            "form": {"fields": [{**SIZE, "required": True}]},
            "fulfilment": ECHO,
            **(resize or {}),
        },
        {"name": "decommission", "retires": True, "fulfilment": ECHO},
    ]
    return make_offering(
        db,
        team,
        lead,
        fulfilment=ECHO,
        webhook_secret=SECRET,
        instances={"name_field": "name", "operations": operations},
        **more,
    )


def active_instance(
    db: Session,
    sessions: sessionmaker[Session],
    settings: Settings,
    *,
    resize: dict[str, Any] | None = None,
) -> tuple[Instance, User, User]:
    """A live instance, its owner (a member of the consumer team) and the ops lead."""
    ops = make_team(db)
    lead = make_user(db, team=ops, role=Role.LEAD)
    offering = database_offering(db, ops, lead, resize=resize)
    owner = make_user(db, team=make_team(db))
    request_id = submit(db, owner, offering, {"name": "ledger", "size": "small"})
    work_until(
        Worker(sessions, fast(settings)), lambda: status_of(sessions, request_id) == "completed"
    )
    db.expire_all()
    instance = db.scalars(select(Instance).where(Instance.request_id == request_id)).one()
    return instance, owner, lead


def operate(db: Session, who: User, instance: Instance, name: str, **inputs: Any) -> Request:
    request = service.run_operation(
        db, actor=who, instance_id=instance.id, operation=name, inputs=inputs
    )
    db.commit()
    return request


def count_requests(db: Session) -> int:
    return int(db.scalar(select(func.count(Request.id))) or 0)


def test_a_fulfilled_request_makes_an_active_instance_named_by_its_form_with_outputs_and_spec(
    db: Session, sessions: sessionmaker[Session], settings: Settings
) -> None:
    instance, owner, _ = active_instance(db, sessions, settings)

    assert instance.name == "ledger"
    assert instance.state == "active"
    assert instance.owner_id == owner.id
    assert instance.team_id == owner.team_ids[0]
    assert instance.spec == {"name": "ledger", "size": "small"}
    assert instance.outputs["echo_name"] == "ledger"
    made_by = db.get_one(Request, instance.request_id)
    assert made_by.instance_id == instance.id and made_by.operation is None
    told = [e.type for e in instances.timeline(db, viewer=owner, instance=instance)]
    assert set(told[:2]) == {"request.in_fulfilment", "instance.provisioning"}
    assert set(told[-2:]) == {"request.completed", "instance.active"}
    assert [i.id for i in instances.list_mine(db, viewer=owner)] == [instance.id]


def test_an_offering_without_instances_makes_none(
    db: Session, sessions: sessionmaker[Session], settings: Settings
) -> None:
    ops = make_team(db)
    lead = make_user(db, team=ops, role=Role.LEAD)
    offering = make_offering(db, ops, lead)
    request_id = submit(db, make_user(db, team=make_team(db)), offering)
    work_until(
        Worker(sessions, fast(settings)), lambda: status_of(sessions, request_id) == "completed"
    )
    assert db.scalar(select(func.count(Instance.id))) == 0


def test_resize_goes_through_the_engine_its_webhook_gets_the_instance_and_its_outputs_set_the_spec(
    db: Session, sessions: sessionmaker[Session], settings: Settings
) -> None:
    reply = (200, {"spec": {"size": "large", "storage_gb": 50}, "endpoint": "db-2.example"})
    with Receiver(secret=SECRET, default=reply) as hook:
        resize = {"fulfilment": {"kind": "webhook", "url": hook.url}}
        instance, owner, _ = active_instance(db, sessions, settings, resize=resize)
        request = operate(db, owner, instance, "resize", size="large")
        assert db.get_one(Instance, instance.id).busy_request_id == request.id
        work_until(
            Worker(sessions, fast(settings)), lambda: status_of(sessions, request.id) == "completed"
        )

    delivery = hook.deliveries[0]
    assert delivery.signature_valid
    assert delivery.body["type"] == "instance.operation"
    data = delivery.body["data"]
    assert data["request"]["operation"] == "resize"
    assert data["request"]["inputs"] == {"size": "large"}
    assert data["instance"]["id"] == instance.id
    assert data["instance"]["state"] == "updating"
    assert data["instance"]["spec"] == {"name": "ledger", "size": "small"}
    db.expire_all()
    changed = db.get_one(Instance, instance.id)
    assert changed.state == "active" and changed.busy_request_id is None
    assert changed.spec == {"name": "ledger", "size": "large", "storage_gb": 50}
    assert changed.outputs["endpoint"] == "db-2.example"
    assert changed.outputs["echo_name"] == "ledger"  # what provisioning returned stays
    story = db.get_one(Request, request.id)
    assert (story.instance_id, story.operation) == (instance.id, "resize")


def test_a_failed_operation_leaves_the_instance_as_it_was_marked_with_the_reason(
    db: Session, sessions: sessionmaker[Session], settings: Settings
) -> None:
    with Receiver(secret=SECRET, default=(422, "no capacity in this region")) as hook:
        resize = {"fulfilment": {"kind": "webhook", "url": hook.url, "max_attempts": 1}}
        instance, owner, _ = active_instance(db, sessions, settings, resize=resize)
        request = operate(db, owner, instance, "resize", size="large")
        work_until(
            Worker(sessions, fast(settings)), lambda: status_of(sessions, request.id) == "failed"
        )

    db.expire_all()
    after = db.get_one(Instance, instance.id)
    assert after.state == "active"
    assert after.spec == {"name": "ledger", "size": "small"}
    assert after.busy_request_id is None
    assert after.last_failure is not None and after.last_failure.startswith("resize failed:")
    # Marked, and still open to the next operation.
    again = operate(db, owner, after, "decommission")
    assert again.status == "in_fulfilment"


def test_a_second_operation_while_the_first_is_open_is_refused_naming_the_first(
    db: Session, sessions: sessionmaker[Session], settings: Settings
) -> None:
    waits = {"approval_policy": {"steps": [{"name": "ops", "decider": "owner_leads"}]}}
    instance, owner, _ = active_instance(db, sessions, settings, resize=waits)
    first = operate(db, owner, instance, "resize", size="large")
    assert first.status == "pending_approval"
    before = count_requests(db)

    with pytest.raises(InstanceBusy, match=f"request #{first.id} is still open"):
        service.run_operation(
            db, actor=owner, instance_id=instance.id, operation="decommission", inputs={}
        )
    db.rollback()
    assert count_requests(db) == before


def test_the_operations_own_approval_policy_decides_and_a_rejection_frees_the_instance(
    db: Session, sessions: sessionmaker[Session], settings: Settings
) -> None:
    waits = {"approval_policy": {"steps": [{"name": "ops", "decider": "owner_leads"}]}}
    instance, owner, lead = active_instance(db, sessions, settings, resize=waits)
    request = operate(db, owner, instance, "resize", size="large")
    step = approvals.steps_of(db, request_id=request.id)[0]
    approvals.decide(db, actor=lead, approval_id=step.id, approve=False, reason="too big")
    db.commit()

    db.expire_all()
    after = db.get_one(Instance, instance.id)
    assert (after.state, after.busy_request_id, after.spec["size"]) == ("active", None, "small")
    assert operate(db, owner, after, "decommission").status == "in_fulfilment"


def test_decommission_retires_the_instance_and_no_operation_runs_on_it_after(
    db: Session, sessions: sessionmaker[Session], settings: Settings
) -> None:
    instance, owner, _ = active_instance(db, sessions, settings)
    request = operate(db, owner, instance, "decommission")
    work_until(
        Worker(sessions, fast(settings)), lambda: status_of(sessions, request.id) == "completed"
    )
    db.expire_all()
    retired = db.get_one(Instance, instance.id)
    assert retired.state == "retired" and retired.retired_at is not None
    before = count_requests(db)

    with pytest.raises(InstanceNotOperable, match="the instance is retired"):
        service.run_operation(
            db, actor=owner, instance_id=instance.id, operation="resize", inputs={"size": "large"}
        )
    db.rollback()
    assert count_requests(db) == before
    assert db.get_one(Instance, instance.id).spec["size"] == "small"


def test_someone_elses_instance_is_not_found_and_a_member_not_allowed_is_refused(
    db: Session, sessions: sessionmaker[Session], settings: Settings
) -> None:
    instance, owner, lead = active_instance(db, sessions, settings)
    stranger = make_user(db, team=make_team(db))
    db.commit()
    with pytest.raises(InstanceNotFound):
        service.run_operation(
            db, actor=stranger, instance_id=instance.id, operation="resize", inputs={}
        )
    db.rollback()
    colleague = make_user(db, team=db.get_one(Team, owner.team_ids[0]))  # a member, not a lead
    db.commit()
    with pytest.raises(NotPermitted, match="only owner, team leads, ops may run resize"):
        service.run_operation(
            db, actor=colleague, instance_id=instance.id, operation="resize", inputs={}
        )
    db.rollback()
    with pytest.raises(OperationNotFound):
        service.run_operation(
            db, actor=lead, instance_id=instance.id, operation="rotate", inputs={}
        )
    db.rollback()
    assert db.get_one(Instance, instance.id).busy_request_id is None
    assert [i.id for i in instances.list_for_teams(db, viewer=colleague)] == [instance.id]
    assert instances.list_for_teams(db, viewer=stranger) == []


def test_inputs_the_operations_form_refuses_change_nothing_and_left_out_ones_come_from_the_spec(
    db: Session, sessions: sessionmaker[Session], settings: Settings
) -> None:
    instance, owner, _ = active_instance(db, sessions, settings)
    before = count_requests(db)
    with pytest.raises(InputsInvalid):
        service.run_operation(
            db, actor=owner, instance_id=instance.id, operation="resize", inputs={"size": "huge"}
        )
    db.rollback()
    assert count_requests(db) == before
    assert db.get_one(Instance, instance.id).busy_request_id is None

    offered = instances.prefilled(instance, instances.operation(instance, "resize"))
    assert offered == {"size": "small"}


def test_operations_do_not_count_against_the_offerings_request_quota(
    db: Session, sessions: sessionmaker[Session], settings: Settings
) -> None:
    ops = make_team(db)
    lead = make_user(db, team=ops, role=Role.LEAD)
    offering = database_offering(db, ops, lead, quota={"count": 1, "period_days": 30})
    owner = make_user(db, team=make_team(db))
    request_id = submit(db, owner, offering, {"name": "ledger", "size": "small"})
    work_until(
        Worker(sessions, fast(settings)), lambda: status_of(sessions, request_id) == "completed"
    )
    instance = db.scalars(select(Instance).where(Instance.request_id == request_id)).one()
    assert operate(db, owner, instance, "resize", size="large").status == "in_fulfilment"


def test_an_operation_naming_an_unknown_plugin_or_a_name_field_not_on_the_form_is_refused(
    db: Session,
) -> None:
    ops = make_team(db)
    lead = make_user(db, team=ops, role=Role.LEAD)
    unknown = [{"name": "resize", "fulfilment": {"kind": "plugin", "plugin": "nowhere"}}]
    with pytest.raises(InvalidOffering) as refused:
        make_offering(db, ops, lead, instances={"operations": unknown})
    assert "instances.operations.0.fulfilment.settings" in refused.value.problems
    db.rollback()
    with pytest.raises(ValueError, match="name_field names unknown field 'title'"):
        make_offering(db, ops, lead, instances={"name_field": "title"})
