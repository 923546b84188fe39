"""Adoption per offering, counted from the Event log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from servicebay.catalog.models import Offering
from servicebay.core.events import Event
from servicebay.core.identity import Team

COUNTED = ("offering.viewed", "request.submitted", "request.completed")


@dataclass(frozen=True)
class AdoptionRow:
    offering_slug: str
    offering_name: str
    owner_team: str
    views: int
    submitted: int
    completed: int
    unique_requesters: int


def adoption(
    session: Session, *, since: datetime | None = None, until: datetime | None = None
) -> list[AdoptionRow]:
    """One row per offering that is or was in the catalog, most submitted first."""
    conditions: list[ColumnElement[bool]] = [Event.type.in_(COUNTED)]
    if since is not None:
        conditions.append(Event.occurred_at >= since)
    if until is not None:
        conditions.append(Event.occurred_at < until)

    def count_of(event_type: str):  # type: ignore[no-untyped-def]
        return func.count(case((Event.type == event_type, 1)))

    counts = (
        select(
            Event.offering_id.label("offering_id"),
            count_of("offering.viewed").label("views"),
            count_of("request.submitted").label("submitted"),
            count_of("request.completed").label("completed"),
            func.count(
                func.distinct(case((Event.type == "request.submitted", Event.actor_id)))
            ).label("unique_requesters"),
        )
        .where(*conditions)
        .group_by(Event.offering_id)
        .subquery()
    )
    statement = (
        select(
            Offering.slug,
            Offering.name,
            Team.name,
            func.coalesce(counts.c.views, 0),
            func.coalesce(counts.c.submitted, 0),
            func.coalesce(counts.c.completed, 0),
            func.coalesce(counts.c.unique_requesters, 0),
        )
        .join(Team, Team.id == Offering.owner_team_id)
        .outerjoin(counts, counts.c.offering_id == Offering.id)
        .where(Offering.status != "draft")
        .order_by(func.coalesce(counts.c.submitted, 0).desc(), Offering.name)
    )
    return [AdoptionRow(*row) for row in session.execute(statement).all()]
