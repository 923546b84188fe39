"""Leases of instances: reminders before expiry, extensions within the offering's policy,
and at expiry the decommission requested on the owner's behalf (a worker chore).

Nothing is deleted by servicebay itself: expiry asks for the offering's retiring
operation, which goes through its approvals and fulfilment like any other. An expiry
that passed while no worker ran is acted on once, by the first sweep after they return.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from servicebay.catalog import service as catalog_service
from servicebay.catalog.schemas import Lifetime
from servicebay.core import clock, events
from servicebay.core.identity import Role, User
from servicebay.requests import instances, notifications
from servicebay.requests import service as requests_service
from servicebay.requests.errors import InstanceNotOperable, NotPermitted
from servicebay.requests.models import Instance, InstanceState, Request

TOPIC = "expiry"
SWEPT_AT_ONCE = 200


def lifetime_of(instance: Instance) -> Lifetime | None:
    spec = catalog_service.instances_of(instance.version)
    return spec.lifetime if spec is not None else None


def may_extend(viewer: User, instance: Instance) -> bool:
    """The owner, the leads of the instance's team, the ops team and administrators."""
    if viewer.is_admin or instance.owner_id == viewer.id:
        return True
    if instance.team_id is not None and viewer.role_in(instance.team_id) is Role.LEAD:
        return True
    return viewer.role_in(instance.offering.owner_team_id) is not None


def latest_expiry(instance: Instance, lifetime: Lifetime) -> datetime | None:
    """The furthest an instance may be extended to: ``max_days`` from its creation."""
    if lifetime.max_days is None:
        return None
    return instance.created_at + timedelta(days=lifetime.max_days)


def extension_refused(viewer: User, instance: Instance) -> str | None:
    """Why the viewer cannot extend the instance now; None when they can."""
    if not may_extend(viewer, instance):
        return "only its owner, its team's leads and the ops team extend an instance"
    lifetime = lifetime_of(instance)
    if instance.expires_at is None or lifetime is None:
        return "this instance does not expire"
    if lifetime.extend_days is None:
        return "this offering's instances cannot be extended"
    if instance.state != InstanceState.ACTIVE.value or instance.expiry_requested_at is not None:
        return f"the instance is {instance.state}; only an active, unexpired one is extended"
    latest = latest_expiry(instance, lifetime)
    if latest is not None and instance.expires_at >= latest:
        return f"it already expires at the latest its offering allows ({lifetime.max_days} days)"
    return None


def extend(session: Session, *, actor: User, instance_id: int) -> Instance:
    """Push the expiry on by the lifetime's ``extend_days``, never past ``max_days`` from
    creation; the reminders start again for the new date."""
    instance = instances.get_for_viewer(session, instance_id=instance_id, viewer=actor)
    instances.lock(session, instance)
    refused = extension_refused(actor, instance)
    if refused is not None:
        if not may_extend(actor, instance):
            raise NotPermitted(refused)
        raise InstanceNotOperable(refused)
    lifetime = lifetime_of(instance)
    assert lifetime is not None and lifetime.extend_days is not None and instance.expires_at
    before = instance.expires_at
    after = before + timedelta(days=lifetime.extend_days)
    latest = latest_expiry(instance, lifetime)
    if latest is not None:
        after = min(after, latest)
    instance.expires_at = after
    instance.reminders_sent = []
    instance.updated_at = clock.now()
    events.record(
        session,
        type="instance.extended",
        actor_id=actor.id,
        offering_id=instance.offering_id,
        instance_id=instance.id,
        data={"from": before.isoformat(), "to": after.isoformat()},
    )
    return instance


def send_due(session: Session) -> None:
    """The worker's chore: remind owners whose instance expires soon, and ask for the
    decommission of each instance whose expiry has passed (once)."""
    now = clock.now()
    for instance in _due(session, before=now + timedelta(days=366)):
        lifetime = lifetime_of(instance)
        if lifetime is None or instance.expires_at is None:
            continue
        if instance.expires_at <= now:
            _expire(session, instance)
        else:
            _remind(session, instance, lifetime, now)


def _due(session: Session, *, before: datetime) -> list[Instance]:
    """Active instances expiring before ``before`` whose expiry has not been acted on,
    locked so that two workers sweeping at once act on each one once."""
    statement = (
        select(Instance)
        .where(
            Instance.state == InstanceState.ACTIVE.value,
            Instance.expires_at.is_not(None),
            Instance.expires_at <= before,
            Instance.expiry_requested_at.is_(None),
        )
        .order_by(Instance.expires_at)
        .limit(SWEPT_AT_ONCE)
        .with_for_update(of=Instance, skip_locked=True)
    )
    return list(session.scalars(statement).unique())


def _remind(session: Session, instance: Instance, lifetime: Lifetime, now: datetime) -> None:
    """One reminder for the nearest mark passed; marks passed together (workers were
    down) are sent as one."""
    assert instance.expires_at is not None
    sent = set(instance.reminders_sent or [])
    passed = [
        days
        for days in lifetime.remind_days_before
        if instance.expires_at - timedelta(days=days) <= now and days not in sent
    ]
    if not passed:
        return
    instance.reminders_sent = sorted(sent | set(passed), reverse=True)
    left = instance.expires_at - now
    when = f"{instance.expires_at:%Y-%m-%d %H:%M} UTC"
    what = (
        f"{instance.name} ({instance.offering.name}) expires on {when}, in "
        f"{_in_words(left)}; extend it or let it be decommissioned."
    )
    made_by = session.get(Request, instance.request_id)
    notice = notifications.Notice(
        TOPIC,
        made_by,
        what,
        (notifications.Link("Open the instance", f"/instances/{instance.id}"),),
        (("Expires", when),),
    )
    notifications.tell_people(session, notice, user_ids=[instance.owner_id])
    events.record(
        session,
        type="instance.reminded",
        actor_id=None,
        offering_id=instance.offering_id,
        instance_id=instance.id,
        data={"days_before": min(passed), "expires_at": instance.expires_at.isoformat()},
    )


def _in_words(left: timedelta) -> str:
    days = left.days
    if days >= 1:
        return f"{days} day{'s' if days != 1 else ''}"
    hours = max(1, int(left.total_seconds() // 3600))
    return f"{hours} hour{'s' if hours != 1 else ''}"


def _expire(session: Session, instance: Instance) -> None:
    """Ask for the decommission; an instance another operation holds is asked for at the
    next sweep, once that operation has closed."""
    if instance.busy_request_id is not None:
        return
    asked = requests_service.request_on_expiry(session, instance=instance)
    instance.expiry_requested_at = clock.now()
    events.record(
        session,
        type="instance.expired",
        actor_id=None,
        offering_id=instance.offering_id,
        instance_id=instance.id,
        data={"request": asked.id if asked is not None else None},
    )
