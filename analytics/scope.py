"""What an insights view counts: a period and the offerings the viewer may see."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from servicebay.catalog.models import Offering
from servicebay.core import clock, questions
from servicebay.core.identity import Team, User
from servicebay.core.settings import get_settings


@dataclass(frozen=True)
class Period:
    """The half-open interval [since, until), and the time zone whose days it counts."""

    since: datetime
    until: datetime
    zone: tzinfo = UTC

    @property
    def length(self) -> timedelta:
        return self.until - self.since

    @property
    def first_day(self) -> date:
        return self.since.astimezone(self.zone).date()

    @property
    def last_day(self) -> date:
        return (self.until - timedelta(microseconds=1)).astimezone(self.zone).date()

    def previous(self) -> Period:
        if self.zone is UTC:
            return Period(self.since - self.length, self.since)
        # As many local days before, whatever clock changes they hold.
        days = (self.last_day - self.first_day).days + 1
        return Period(
            start_of(self.first_day - timedelta(days=days), self.zone), self.since, self.zone
        )


def start_of(day: date, zone: tzinfo = UTC) -> datetime:
    """The UTC instant the day begins in ``zone`` (its local midnight)."""
    return datetime.combine(day, time.min, zone).astimezone(UTC)


def period_of_days(
    first: date | None, last: date | None, *, default_days: int = 30, zone: tzinfo = UTC
) -> Period:
    """Whole local days first..last inclusive in ``zone``; by default the last 30 days up
    to today there."""
    today = clock.now().astimezone(zone).date()
    last = last or today
    first = first or last - timedelta(days=default_days - 1)
    if first > last:
        first, last = last, first
    return Period(start_of(first, zone), start_of(last + timedelta(days=1), zone), zone)


def reporting_zone(session: Session, *, team_slug: str | None = None) -> tzinfo:
    """The time zone whose days a view counts: the team's own when the view is one
    team's and the team sets one, else the organisation's (SERVICEBAY_REPORTING_TIMEZONE)."""
    name = get_settings().reporting_timezone
    if team_slug:
        own = session.scalar(select(Team.reporting_timezone).where(Team.slug == team_slug))
        name = own or name
    return UTC if name == "UTC" else ZoneInfo(name)


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
    return questions.answer(session, reads_searches_question(viewer))


def reads_insights_question(viewer: User) -> questions.Question:
    """reads_insights, to be asked with other questions in one query."""
    return reads_searches_question(viewer)


def reads_searches_question(viewer: User) -> questions.Question:
    if sees_everything(viewer):
        return True
    if not viewer.team_ids:
        return False
    return questions.any_row(select(Offering.id).where(Offering.owner_team_id.in_(viewer.team_ids)))


def visible_teams(session: Session, *, viewer: User) -> list[Team]:
    """Owner teams the viewer may filter by."""
    statement = select(Team).where(Team.id.in_(select(Offering.owner_team_id)))
    if not sees_everything(viewer):
        statement = statement.where(Team.id.in_(viewer.team_ids or [-1]))
    return list(session.scalars(statement.order_by(Team.name)))
