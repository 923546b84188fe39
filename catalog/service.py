"""Catalog operations: create, publish and find offerings."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from servicebay.catalog import policies
from servicebay.catalog.errors import (
    CatalogPermissionDenied,
    InvalidOffering,
    OfferingConflict,
    OfferingNotFound,
)
from servicebay.catalog.models import Offering, OfferingVersion
from servicebay.catalog.schemas import OfferingIn, OfferingStatus, RequestForm
from servicebay.core import clock, events
from servicebay.core.identity import Team, User


def create_offering(session: Session, *, actor: User, definition: OfferingIn) -> Offering:
    """Create a draft offering with its first version."""
    team = session.scalar(select(Team).where(Team.slug == definition.owner_team))
    if team is None:
        raise InvalidOffering({"owner_team": f"no team {definition.owner_team!r}"})
    if not policies.can_create_offering_for(actor, team.id):
        raise CatalogPermissionDenied("only members of the owner team may create its offerings")
    if session.scalar(select(Offering.id).where(Offering.slug == definition.slug)):
        raise OfferingConflict(f"an offering with slug {definition.slug!r} exists already")
    now = clock.now()
    offering = Offering(
        slug=definition.slug,
        name=definition.name,
        summary=definition.summary,
        description=definition.description,
        category=definition.category,
        tags=definition.tags,
        owner_team_id=team.id,
        contact=definition.contact,
        runbook_url=definition.runbook_url,
        work_kind=definition.work_kind.value,
        status=OfferingStatus.DRAFT.value,
        created_at=now,
        updated_at=now,
    )
    session.add(offering)
    session.flush()
    version = _new_version(offering, definition, number=1)
    session.add(version)
    session.flush()
    offering.current_version = version
    events.record(
        session,
        type="offering.created",
        actor_id=actor.id,
        offering_id=offering.id,
        data={"slug": offering.slug},
    )
    return offering


def _new_version(offering: Offering, definition: OfferingIn, *, number: int) -> OfferingVersion:
    return OfferingVersion(
        offering_id=offering.id,
        number=number,
        status="draft",
        form=definition.form.model_dump(mode="json", by_alias=True, exclude_defaults=True),
        approval_policy=definition.approval_policy.model_dump(mode="json", exclude_none=True),
        fulfilment=definition.fulfilment.model_dump(mode="json"),
        webhook_secret=definition.webhook_secret,
        sle_percent=definition.sle.percent if definition.sle else None,
        sle_hours=definition.sle.within_hours if definition.sle else None,
        cost=definition.cost,
        manual_effort_minutes=definition.manual_effort_minutes,
        created_at=clock.now(),
    )


def publish(session: Session, *, actor: User, offering: Offering) -> Offering:
    if not policies.can_publish_offering(actor, offering):
        raise CatalogPermissionDenied("only leads of the owner team may publish its offerings")
    version = offering.current_version
    if version is None:
        raise OfferingConflict("the offering has no version to publish")
    if offering.status == OfferingStatus.RETIRED.value:
        raise OfferingConflict("a retired offering cannot be published again")
    now = clock.now()
    if version.status == "draft":
        version.status = "published"
        version.published_at = now
    offering.status = OfferingStatus.PUBLISHED.value
    offering.updated_at = now
    events.record(
        session,
        type="offering.published",
        actor_id=actor.id,
        offering_id=offering.id,
        data={"version": version.number},
    )
    return offering


def get_offering(session: Session, *, slug: str, viewer: User | None) -> Offering:
    """The offering if it exists and the viewer may see it; otherwise OfferingNotFound."""
    offering = session.scalar(select(Offering).where(Offering.slug == slug))
    if offering is None or not policies.can_see_offering(viewer, offering):
        raise OfferingNotFound(slug)
    return offering


def list_published(session: Session, *, query: str = "") -> list[Offering]:
    statement = select(Offering).where(Offering.status == OfferingStatus.PUBLISHED.value)
    if query:
        pattern = f"%{query.strip().lower()}%"
        statement = statement.where(
            or_(
                Offering.name.ilike(pattern),
                Offering.summary.ilike(pattern),
                Offering.category.ilike(pattern),
            )
        )
    return list(session.scalars(statement.order_by(Offering.category, Offering.name)))


def form_of(version: OfferingVersion) -> RequestForm:
    return RequestForm.model_validate(version.form)


def record_view(session: Session, *, offering: Offering, viewer: User | None) -> None:
    events.record(
        session,
        type="offering.viewed",
        actor_id=viewer.id if viewer else None,
        offering_id=offering.id,
    )
