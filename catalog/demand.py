"""Demand: what people need that the catalog does not offer yet.

A demand has a title, a description, an urgency and votes; the team it is addressed to
triages it ``new → accepted → planned → shipped`` (or ``declined`` with a reason) and
links it to the offering that answers it. Models and operations live in this one module.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from servicebay.catalog.errors import (
    CatalogPermissionDenied,
    DemandConflict,
    DemandNotFound,
    InvalidDemand,
)
from servicebay.catalog.models import Offering
from servicebay.core import clock, events
from servicebay.core.database import Base, UTCDateTime
from servicebay.core.identity import Role, Team, User


class DemandState(StrEnum):
    NEW = "new"
    ACCEPTED = "accepted"
    PLANNED = "planned"
    SHIPPED = "shipped"
    DECLINED = "declined"


class Urgency(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"


NEXT_STATES: dict[DemandState, frozenset[DemandState]] = {
    DemandState.NEW: frozenset({DemandState.ACCEPTED, DemandState.DECLINED}),
    DemandState.ACCEPTED: frozenset({DemandState.PLANNED, DemandState.DECLINED}),
    DemandState.PLANNED: frozenset({DemandState.SHIPPED, DemandState.DECLINED}),
    DemandState.SHIPPED: frozenset(),
    DemandState.DECLINED: frozenset(),
}
OPEN_STATES = (DemandState.NEW, DemandState.ACCEPTED, DemandState.PLANNED)


class Demand(Base):
    __tablename__ = "catalog_demand"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    urgency: Mapped[str] = mapped_column(String(16), default=Urgency.NORMAL.value)
    state: Mapped[str] = mapped_column(String(16), default=DemandState.NEW.value, index=True)
    decline_reason: Mapped[str] = mapped_column(Text, default="")
    votes: Mapped[int] = mapped_column(default=0)
    author_id: Mapped[int] = mapped_column(ForeignKey("core_user.id"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("core_team.id"))
    offering_id: Mapped[int | None] = mapped_column(ForeignKey("catalog_offering.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DemandVote(Base):
    __tablename__ = "catalog_demand_vote"
    __table_args__ = (UniqueConstraint("demand_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    demand_id: Mapped[int] = mapped_column(ForeignKey("catalog_demand.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


def create(
    session: Session,
    *,
    actor: User,
    title: str,
    description: str = "",
    urgency: str = Urgency.NORMAL.value,
    team_slug: str | None = None,
) -> Demand:
    """Record a need; its author's vote is the first."""
    problems: dict[str, str] = {}
    if not title.strip():
        problems["title"] = "say in a few words what you need"
    elif len(title) > 200:
        problems["title"] = "at most 200 characters"
    if urgency not in {u.value for u in Urgency}:
        problems["urgency"] = f"one of {', '.join(u.value for u in Urgency)}"
    team = None
    if team_slug:
        team = session.scalar(select(Team).where(Team.slug == team_slug))
        if team is None:
            problems["team"] = f"no team {team_slug!r}"
    if problems:
        raise InvalidDemand(problems)
    now = clock.now()
    demand = Demand(
        title=title.strip(),
        description=description,
        urgency=urgency,
        state=DemandState.NEW.value,
        decline_reason="",
        votes=0,
        author_id=actor.id,
        team_id=team.id if team else None,
        created_at=now,
        updated_at=now,
    )
    session.add(demand)
    session.flush()
    events.record(
        session, type="demand.created", actor_id=actor.id, data={"demand": demand.id}, at=now
    )
    vote(session, actor=actor, demand=demand)
    return demand


def get(session: Session, *, demand_id: int) -> Demand:
    demand = session.get(Demand, demand_id)
    if demand is None:
        raise DemandNotFound(demand_id)
    return demand


def vote(session: Session, *, actor: User, demand: Demand) -> Demand:
    """One vote per person; voting again changes nothing."""
    exists = session.scalar(
        select(DemandVote.id).where(
            DemandVote.demand_id == demand.id, DemandVote.user_id == actor.id
        )
    )
    if exists is None:
        session.add(DemandVote(demand_id=demand.id, user_id=actor.id, created_at=clock.now()))
        demand.votes += 1
        session.flush()
        events.record(session, type="demand.voted", actor_id=actor.id, data={"demand": demand.id})
    return demand


def can_triage(user: User, demand: Demand) -> bool:
    if user.is_admin:
        return True
    if demand.team_id is None:
        return any(membership.role == Role.LEAD.value for membership in user.memberships)
    return user.role_in(demand.team_id) is Role.LEAD


def triage(
    session: Session,
    *,
    actor: User,
    demand: Demand,
    state: str,
    reason: str = "",
    offering_slug: str | None = None,
) -> Demand:
    """Move a demand to its next triage state; declining needs a reason."""
    if not can_triage(actor, demand):
        raise CatalogPermissionDenied("only a lead of the team it is addressed to may triage it")
    try:
        target = DemandState(state)
    except ValueError:
        raise InvalidDemand({"state": f"unknown state {state!r}"}) from None
    current = DemandState(demand.state)
    if target not in NEXT_STATES[current]:
        raise DemandConflict(f"a {current.value} demand cannot become {target.value}")
    if target is DemandState.DECLINED and not reason.strip():
        raise InvalidDemand({"reason": "say why the demand is declined"})
    if offering_slug:
        offering = session.scalar(select(Offering).where(Offering.slug == offering_slug))
        if offering is None:
            raise InvalidDemand({"offering": f"no offering {offering_slug!r}"})
        demand.offering_id = offering.id
    demand.state = target.value
    demand.decline_reason = reason.strip() if target is DemandState.DECLINED else ""
    demand.updated_at = clock.now()
    events.record(
        session,
        type="demand.triaged",
        actor_id=actor.id,
        offering_id=demand.offering_id,
        data={"demand": demand.id, "from": current.value, "to": target.value, "reason": reason},
    )
    return demand


def merge(session: Session, *, actor: User, duplicate: Demand, into: Demand) -> Demand:
    """Fold a duplicate into the demand that stays: its voters count there once each, and
    the duplicate is declined with a reason that points to the one that stays."""
    if not (can_triage(actor, duplicate) and can_triage(actor, into)):
        raise CatalogPermissionDenied("only a lead of the team it is addressed to may merge it")
    if duplicate.id == into.id:
        raise InvalidDemand({"into": "a demand cannot be merged into itself"})
    if (
        DemandState(into.state) is DemandState.DECLINED
        or not NEXT_STATES[DemandState(duplicate.state)]
    ):
        raise DemandConflict("only open demands can be merged")
    voters = set(session.scalars(select(DemandVote.user_id).where(DemandVote.demand_id == into.id)))
    moved = 0
    for duplicate_vote in session.scalars(
        select(DemandVote).where(DemandVote.demand_id == duplicate.id)
    ):
        if duplicate_vote.user_id not in voters:
            session.add(
                DemandVote(
                    demand_id=into.id, user_id=duplicate_vote.user_id, created_at=clock.now()
                )
            )
            voters.add(duplicate_vote.user_id)
            moved += 1
    into.votes += moved
    into.updated_at = duplicate.updated_at = clock.now()
    reason = f"Merged into #{into.id} “{into.title}”"
    previous = duplicate.state
    duplicate.state = DemandState.DECLINED.value
    duplicate.decline_reason = reason
    session.flush()
    events.record(
        session,
        type="demand.merged",
        actor_id=actor.id,
        data={"demand": duplicate.id, "into": into.id, "from": previous, "votes_moved": moved},
    )
    return into


def list_demands(session: Session, *, state: str | None = None, limit: int = 200) -> list[Demand]:
    """Most votes first, then oldest first."""
    statement = select(Demand).order_by(Demand.votes.desc(), Demand.created_at, Demand.id)
    if state is not None:
        statement = statement.where(Demand.state == state)
    return list(session.scalars(statement.limit(limit)))
