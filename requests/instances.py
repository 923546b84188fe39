"""Instances: what a fulfilled request made, who owns it, and how its state follows the
requests on it (the one that made it, then its day-2 operations).

An instance is made when its request goes into fulfilment (``provisioning``), becomes
``active`` with the fulfilment's outputs when that request completes, and ``failed`` when
it fails. A day-2 operation is a request on the instance: from submission until it closes
it holds the instance, so a second operation is refused with the first one's number; while
it is fulfilled the instance is ``updating`` (``retiring`` for the operation that
decommissions it). A completed operation merges its inputs, then the ``spec`` its
fulfilment returned, into the instance's spec; a failed one leaves the instance as it
was, marked with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from servicebay.catalog import forms
from servicebay.catalog import policies as catalog_policies
from servicebay.catalog import service as catalog_service
from servicebay.catalog.models import Offering
from servicebay.catalog.schemas import Operation, OperationRunner
from servicebay.core import clock, events, questions
from servicebay.core.identity import Role, User
from servicebay.requests.errors import (
    InstanceBusy,
    InstanceNotFound,
    InstanceNotOperable,
    NotPermitted,
    OperationNotFound,
)
from servicebay.requests.models import Instance, InstanceState, Request, RequestStatus
from servicebay.requests.schemas import (
    EventOut,
    InstanceOut,
    InstanceStoryOut,
    OperationOut,
    RequestOut,
)

S = InstanceState
STATES = tuple(state.value for state in InstanceState)
LIVE = (S.PROVISIONING.value, S.ACTIVE.value, S.UPDATING.value, S.FAILED.value, S.RETIRING.value)


# --- reading ------------------------------------------------------------------


def readable(viewer: User) -> Select[Instance]:
    """The instances the viewer may see: their own, their teams', the ones made by an
    offering their team owns; every one for administrators and analysts."""
    statement = select(Instance)
    if viewer.is_admin or viewer.is_analyst:
        return statement
    teams = viewer.team_ids
    return statement.where(
        or_(
            Instance.owner_id == viewer.id,
            Instance.team_id.in_(teams),
            Instance.offering.has(Offering.owner_team_id.in_(teams)),
        )
    )


def list_mine(session: Session, *, viewer: User, state: str = "") -> list[Instance]:
    """The instances the viewer owns, newest first; ``state`` narrows to one state, or
    ``live`` to those not retired."""
    return _listed(session, select(Instance).where(Instance.owner_id == viewer.id), state)


def list_for_teams(session: Session, *, viewer: User, state: str = "") -> list[Instance]:
    """The instances of the viewer's teams, newest first."""
    statement = select(Instance).where(Instance.team_id.in_(viewer.team_ids))
    return _listed(session, statement, state)


def _listed(session: Session, statement: Select[Instance], state: str) -> list[Instance]:
    if state == "live":
        statement = statement.where(Instance.state.in_(LIVE))
    elif state in STATES:
        statement = statement.where(Instance.state == state)
    statement = statement.order_by(Instance.created_at.desc(), Instance.id.desc()).limit(500)
    return list(session.scalars(statement).unique())


def has_any_question(viewer: User) -> questions.Question:
    """Whether the viewer owns an instance or one of their teams has one, to be asked with
    other questions in one query."""
    mine = or_(Instance.owner_id == viewer.id, Instance.team_id.in_(viewer.team_ids))
    return questions.any_row(select(Instance.id).where(mine))


def get_for_viewer(session: Session, *, instance_id: int, viewer: User) -> Instance:
    """The instance if the viewer may see it; anyone else's is 'not found', never 403."""
    instance = session.get(Instance, instance_id)
    if instance is None or not can_view(viewer, instance):
        raise InstanceNotFound(f"no instance {instance_id}")
    return instance


def can_view(viewer: User, instance: Instance) -> bool:
    if viewer.is_admin or viewer.is_analyst or instance.owner_id == viewer.id:
        return True
    if instance.team_id is not None and viewer.role_in(instance.team_id) is not None:
        return True
    return viewer.role_in(instance.offering.owner_team_id) is not None


def may_run(viewer: User, instance: Instance, operation: Operation) -> bool:
    """Whether the operation's ``allowed`` list names someone the viewer is."""
    allowed = set(operation.allowed)
    if viewer.is_admin:
        return True
    if OperationRunner.OWNER in allowed and instance.owner_id == viewer.id:
        return True
    role = viewer.role_in(instance.team_id) if instance.team_id is not None else None
    if OperationRunner.TEAM in allowed and role is not None:
        return True
    if OperationRunner.TEAM_LEADS in allowed and role is Role.LEAD:
        return True
    return (
        OperationRunner.OPS in allowed
        and viewer.role_in(instance.offering.owner_team_id) is not None
    )


def operations_of(instance: Instance) -> list[Operation]:
    spec = catalog_service.instances_of(instance.version)
    return list(spec.operations) if spec is not None else []


def operation(instance: Instance, name: str) -> Operation:
    """The operation of that name of the instance's version (the one it was made with)."""
    found = catalog_service.operation_of(instance.version, name)
    if found is None:
        raise OperationNotFound(f"{instance.offering.name} has no operation {name!r}")
    return found


@dataclass(frozen=True)
class OperationOffered:
    """One operation as the instance page lists it for one viewer."""

    operation: Operation
    allowed: bool
    why_not: str  # empty when it can be run now


def offered_to(viewer: User, instance: Instance) -> list[OperationOffered]:
    offered = []
    for each in operations_of(instance):
        allowed = may_run(viewer, instance, each)
        why_not = "" if allowed else "you may not run this operation"
        if allowed:
            why_not = refusal(instance) or ""
        offered.append(OperationOffered(each, allowed, why_not))
    return offered


def refusal(instance: Instance) -> str | None:
    """Why no operation can be run on the instance now; None when one can."""
    if instance.busy_request_id is not None:
        return (
            f"request #{instance.busy_request_id} is still open on this instance; "
            "one operation runs at a time"
        )
    if instance.state != S.ACTIVE.value:
        return f"the instance is {instance.state}; operations run on active instances only"
    return None


def prefilled(instance: Instance, operation: Operation) -> dict[str, Any]:
    """The operation's form answers taken from the instance's spec, where a field has the
    name of a spec entry; the field's default otherwise."""
    answers: dict[str, Any] = {}
    for field in operation.form.fields:
        if field.name in (instance.spec or {}):
            answers[field.name] = instance.spec[field.name]
        elif field.default is not None:
            answers[field.name] = field.default
    return answers


def cleaned_inputs(
    instance: Instance, operation: Operation, inputs: dict[str, Any]
) -> dict[str, Any]:
    """The inputs of an operation as its form accepts them (a field left out takes the
    prefilled answer), or the form's errors."""
    return forms.validate_inputs(operation.form, {**prefilled(instance, operation), **inputs})


@dataclass(frozen=True)
class EventShown:
    """An Event of an instance as one viewer reads it (a copy: the log never changes)."""

    id: int
    type: str
    occurred_at: datetime
    actor: User | None
    request_id: int | None
    data: dict[str, Any]


def timeline(session: Session, *, viewer: User, instance: Instance) -> list[EventShown]:
    """Everything that happened to the instance and the requests on it, in order; reasons
    that name a webhook's address are shown without it to whoever may not read it."""
    hides = not catalog_policies.can_read_fulfilment(viewer, instance.offering)
    addresses = _addresses(instance) if hides else []
    return [
        EventShown(
            id=event.id,
            type=event.type,
            occurred_at=event.occurred_at,
            actor=event.actor,
            request_id=event.request_id or (event.data or {}).get("request"),
            data={
                key: _without(value, addresses) if isinstance(value, str) else value
                for key, value in (event.data or {}).items()
            },
        )
        for event in events.for_instance(session, instance_id=instance.id)
    ]


def _addresses(instance: Instance) -> list[str]:
    specs = [
        instance.version.fulfilment,
        *(op.fulfilment.model_dump() for op in operations_of(instance)),
    ]
    return [str(spec["url"]) for spec in specs if spec.get("url")]


def _without(text: str, addresses: list[str]) -> str:
    for address in addresses:
        text = text.replace(address, "the fulfilment service")
    return text


def requests_on(session: Session, *, instance: Instance) -> list[Request]:
    """The requests on the instance, the one that made it first."""
    statement = select(Request).where(Request.instance_id == instance.id).order_by(Request.id)
    return list(session.scalars(statement))


# --- holding the instance for an operation --------------------------------------


def lock(session: Session, instance: Instance) -> Instance:
    """Lock the instance's row for this transaction and reread it."""
    session.execute(select(Instance.id).where(Instance.id == instance.id).with_for_update())
    session.refresh(instance)
    return instance


def check_runnable(viewer: User, instance: Instance, operation: Operation) -> None:
    """Refuse, with the reason, an operation the viewer may not run or the instance
    cannot take now (the caller holds the instance's lock for the second check)."""
    if not may_run(viewer, instance, operation):
        raise NotPermitted(
            f"only {', '.join(r.value.replace('_', ' ') for r in operation.allowed)} "
            f"may run {operation.name} on this instance"
        )
    if instance.busy_request_id is not None:
        raise InstanceBusy(refusal(instance) or "the instance is busy")
    if instance.state != S.ACTIVE.value:
        raise InstanceNotOperable(refusal(instance) or f"the instance is {instance.state}")


def hold(session: Session, instance: Instance, request: Request) -> None:
    """The operation request holds the instance until it closes."""
    instance.busy_request_id = request.id
    instance.updated_at = clock.now()
    _record(session, instance, "instance.operation_requested", request, {})


# --- following the requests ------------------------------------------------------


def follow(session: Session, request: Request, to: RequestStatus, data: dict[str, Any]) -> None:
    """Move the instance the request made, or runs on, with the request's step (called by
    the lifecycle in the same transaction)."""
    if request.operation is not None:
        _follow_operation(session, request, to, data)
    else:
        _follow_creation(session, request, to, data)


def _follow_creation(
    session: Session, request: Request, to: RequestStatus, data: dict[str, Any]
) -> None:
    if request.instance_id is None:
        spec = catalog_service.instances_of(request.version)
        if spec is None or to is not RequestStatus.IN_FULFILMENT:
            return
        _create(session, request, name_field=spec.name_field)
        return
    instance = session.get(Instance, request.instance_id)
    if instance is None:
        return
    if to is RequestStatus.IN_FULFILMENT:
        _set_state(session, instance, S.PROVISIONING, request, {})
    elif to is RequestStatus.COMPLETED:
        instance.outputs = dict(request.outputs or {})
        instance.last_failure = None
        instance.expires_at = lease_end(instance, request)
        _set_state(session, instance, S.ACTIVE, request, {})
    elif to is RequestStatus.FAILED:
        instance.last_failure = str(data.get("reason") or "fulfilment failed")[:2000]
        _set_state(session, instance, S.FAILED, request, {"reason": instance.last_failure})
    elif to is RequestStatus.CANCELLED:
        instance.retired_at = clock.now()
        _set_state(session, instance, S.RETIRED, request, {"reason": "its request was cancelled"})


def lease_end(instance: Instance, request: Request) -> datetime | None:
    """When the instance expires, counted from now: the lifetime's days, or the days chosen
    on the form (at most its ``max_days``); None when the offering gives no lifetime."""
    spec = catalog_service.instances_of(request.version)
    lifetime = spec.lifetime if spec is not None else None
    if lifetime is None:
        return None
    days = lifetime.days
    chosen = (request.inputs or {}).get(lifetime.field) if lifetime.field else None
    if isinstance(chosen, int | float) and chosen > 0:
        days = int(chosen)
    if lifetime.max_days is not None:
        days = min(days, lifetime.max_days)
    return clock.now() + timedelta(days=days)


def _create(session: Session, request: Request, *, name_field: str | None) -> Instance:
    now = clock.now()
    named = (request.inputs or {}).get(name_field) if name_field else None
    instance = Instance(
        name=str(named or f"{request.offering.name} #{request.id}")[:200],
        offering_id=request.offering_id,
        offering_version_id=request.offering_version_id,
        owner_id=request.requester_id,
        team_id=request.team_id,
        request_id=request.id,
        outputs={},
        spec=dict(request.inputs or {}),
        state=S.PROVISIONING.value,
        reminders_sent=[],
        created_at=now,
        updated_at=now,
    )
    session.add(instance)
    session.flush()
    request.instance_id = instance.id
    _record(session, instance, "instance.provisioning", request, {"name": instance.name})
    return instance


def _follow_operation(
    session: Session, request: Request, to: RequestStatus, data: dict[str, Any]
) -> None:
    instance = session.get(Instance, request.instance_id)
    if instance is None:
        return
    operation_ = catalog_service.operation_of(request.version, request.operation or "")
    retires = bool(operation_ and operation_.retires)
    if to is RequestStatus.IN_FULFILMENT:
        lock(session, instance)
        if instance.busy_request_id not in (None, request.id) or instance.state != S.ACTIVE.value:
            raise InstanceBusy(refusal(instance) or "the instance cannot take this operation now")
        instance.busy_request_id = request.id
        _set_state(session, instance, S.RETIRING if retires else S.UPDATING, request, {})
    elif to is RequestStatus.COMPLETED:
        outputs = dict(request.outputs or {})
        changed = outputs.pop("spec", None)
        before = dict(instance.spec or {})
        instance.spec = {**before, **(request.inputs or {}), **(changed or {})}
        instance.outputs = {**(instance.outputs or {}), **outputs}
        instance.last_failure = None
        instance.busy_request_id = None
        if retires:
            instance.retired_at = clock.now()
        after = S.RETIRED if retires else S.ACTIVE
        _set_state(
            session, instance, after, request, {"spec_before": before, "spec": instance.spec}
        )
    elif to is RequestStatus.FAILED:
        reason = str(data.get("reason") or "the operation failed")[:1500]
        instance.last_failure = f"{request.operation} failed: {reason}"
        instance.busy_request_id = None
        _set_state(session, instance, S.ACTIVE, request, {"reason": instance.last_failure})
    elif to in (RequestStatus.REJECTED, RequestStatus.CANCELLED):
        if instance.busy_request_id == request.id:
            instance.busy_request_id = None
        if instance.state in (S.UPDATING.value, S.RETIRING.value):
            _set_state(session, instance, S.ACTIVE, request, {})
        else:
            _record(session, instance, "instance.operation_closed", request, {"as": to.value})


def _set_state(
    session: Session,
    instance: Instance,
    state: InstanceState,
    request: Request,
    data: dict[str, Any],
) -> None:
    instance.state = state.value
    instance.updated_at = clock.now()
    _record(session, instance, f"instance.{state.value}", request, data)


def _record(
    session: Session, instance: Instance, type: str, request: Request, data: dict[str, Any]
) -> None:
    events.record(
        session,
        type=type,
        actor_id=None,
        offering_id=instance.offering_id,
        instance_id=instance.id,
        data={"request": request.id, "operation": request.operation, **data},
    )


# --- what the faces show ----------------------------------------------------------


def operations_shown(viewer: User, instance: Instance) -> list[OperationOut]:
    """The instance's operations as the viewer may run them, each with its form (as JSON
    Schema) and the answers prefilled from the spec."""
    return [
        OperationOut(
            name=offered.operation.name,
            title=offered.operation.title,
            description=offered.operation.description,
            retires=offered.operation.retires,
            allowed=offered.allowed,
            refused_because=offered.why_not,
            form_schema=forms.json_schema(offered.operation.form, title=offered.operation.title),
            prefilled=prefilled(instance, offered.operation),
        )
        for offered in offered_to(viewer, instance)
    ]


def story_of(session: Session, *, viewer: User, instance_id: int) -> InstanceStoryOut:
    """An instance the viewer may see, its operations, its timeline and its requests."""
    instance = get_for_viewer(session, instance_id=instance_id, viewer=viewer)
    return InstanceStoryOut(
        instance=InstanceOut.model_validate(instance),
        operations=operations_shown(viewer, instance),
        timeline=[
            EventOut.model_validate(e) for e in timeline(session, viewer=viewer, instance=instance)
        ],
        requests=[RequestOut.model_validate(r) for r in requests_on(session, instance=instance)],
    )
