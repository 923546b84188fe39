"""What an insights view counts: a period and the offerings the viewer may see."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from servicebay.catalog.models import Offering
from servicebay.core import clock
from servicebay.core.identity import Team, User


@dataclass(frozen=True)
class Period:
    """The half-open interval [since, until)."""

    since: datetime
    until: datetime

    @property
    def length(self) -> timedelta:
        return self.until - self.since

    def previous(self) -> Period:
        return Period(self.since - self.length, self.since)


def start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, UTC)


def period_of_days(first: date | None, last: date | None, *, default_days: int = 30) -> Period:
    """Whole days first..last inclusive; by default the last 30 days up to today."""
    today = clock.now().date()
    last = last or today
    first = first or last - timedelta(days=default_days - 1)
    if first > last:
        first, last = last, first
    return Period(start_of(first), start_of(last) + timedelta(days=1))


def sees_everything(user: User) -> bool:
    return user.is_admin or user.is_analyst


def visible_offerings(
    session: Session,
    *,
    viewer: User,
    team_slug: str | None = None,
    offering_slug: str | None = None,
) -> list[Offering]:
    """Offerings whose numbers the viewer may read, narrowed by the filters.

    Analysts and administrators read every offering; others their own teams'.
    """
    statement = select(Offering).join(Team, Team.id == Offering.owner_team_id)
    if not sees_everything(viewer):
        statement = statement.where(Offering.owner_team_id.in_(viewer.team_ids or [-1]))
    if team_slug:
        statement = statement.where(Team.slug == team_slug)
    if offering_slug:
        statement = statement.where(Offering.slug == offering_slug)
    return list(session.scalars(statement.order_by(Offering.name)).unique())


def reads_insights(session: Session, *, viewer: User) -> bool:
    """Whether insights hold anything for the viewer: analysts and administrators read
    every team's, members of teams that own offerings their own teams'. A consumer's
    teams own no offerings, so the portal offers them no insights at all (its
    navigation asks this, and so does the page)."""
    return reads_searches(session, viewer=viewer)


def reads_searches(session: Session, *, viewer: User) -> bool:
    """Whether the viewer may read what people searched for (the searches that found
    nothing): analysts, administrators and members of teams that own offerings, the
    people whose catalog the searches are about. Consumers read no one's searches."""
    if sees_everything(viewer):
        return True
    if not viewer.team_ids:
        return False
    owning = select(Offering.id).where(Offering.owner_team_id.in_(viewer.team_ids)).limit(1)
    return session.scalar(owning) is not None


def visible_teams(session: Session, *, viewer: User) -> list[Team]:
    """Owner teams the viewer may filter by."""
    statement = select(Team).where(Team.id.in_(select(Offering.owner_team_id)))
    if not sees_everything(viewer):
        statement = statement.where(Team.id.in_(viewer.team_ids or [-1]))
    return list(session.scalars(statement.order_by(Team.name)))
