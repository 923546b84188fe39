"""Demand: what people need that the catalog does not offer yet.

A demand has a title, a description, an urgency and votes; the team it is addressed to
triages it ``new → accepted → planned → shipped`` (or ``declined`` with a reason, or
``merged`` into another demand where its votes then count) and links it to the offering
that answers it. Its author and voters are told of each decision. The tables are in
catalog/models.py.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pydantic import ValidationError
from rapidfuzz import fuzz, process, utils
from sqlalchemy import Select, delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from servicebay.catalog import service as catalog_service
from servicebay.catalog.errors import (
    CatalogPermissionDenied,
    DemandConflict,
    DemandNotFound,
    InvalidDemand,
    InvalidOffering,
    SimilarDemands,
)
from servicebay.catalog.models import Demand, DemandState, DemandVote, Offering, Urgency
from servicebay.catalog.schemas import DESCRIPTION_MAX, REASON_MAX, OfferingIn
from servicebay.core import clock, events, notices
from servicebay.core.identity import Role, Team, User

NEXT_STATES: dict[DemandState, frozenset[DemandState]] = {
    DemandState.NEW: frozenset({DemandState.ACCEPTED, DemandState.DECLINED}),
    DemandState.ACCEPTED: frozenset({DemandState.PLANNED, DemandState.DECLINED}),
    DemandState.PLANNED: frozenset({DemandState.SHIPPED, DemandState.DECLINED}),
    DemandState.SHIPPED: frozenset(),
    DemandState.DECLINED: frozenset(),
}
OPEN_STATES = (DemandState.NEW, DemandState.ACCEPTED, DemandState.PLANNED)
NOT_TRIAGER = (
    "only a lead of the team it is addressed to (for a need addressed to no team, a lead "
    "of a team that owns offerings) may triage it"
)


def create(
    session: Session,
    *,
    actor: User,
    title: str,
    description: str = "",
    urgency: str = Urgency.NORMAL.value,
    team_slug: str | None = None,
    check_similar: bool = False,
) -> Demand:
    """Record a need; its author's vote is the first. With ``check_similar``, a need like
    an open one is not recorded: :class:`SimilarDemands` names those to vote for instead."""
    problems: dict[str, str] = {}
    if not title.strip():
        problems["title"] = "say in a few words what you need"
    elif len(title) > 200:
        problems["title"] = "at most 200 characters"
    if len(description) > DESCRIPTION_MAX:
        problems["description"] = f"at most {DESCRIPTION_MAX} characters"
    if urgency not in {u.value for u in Urgency}:
        problems["urgency"] = f"one of {', '.join(u.value for u in Urgency)}"
    team = None
    if team_slug:
        team = session.scalar(select(Team).where(Team.slug == team_slug))
        if team is None:
            problems["team"] = f"no team {team_slug!r}"
    if problems:
        raise InvalidDemand(problems)
    if check_similar:
        similar = similar_open(session, title=title)
        if similar:
            raise SimilarDemands(similar)
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
    """One vote per person; voting again changes nothing. Only open demands take votes.

    The count is changed in the database (``votes = votes + 1``) and only when this vote
    was inserted, so concurrent votes are all counted, and a double click counts once."""
    _must_be_open(demand, "take votes")
    if _add_vote(session, demand_id=demand.id, user_id=actor.id):
        _count_votes(session, demand, 1)
        events.record(session, type="demand.voted", actor_id=actor.id, data={"demand": demand.id})
    return demand


def withdraw_vote(session: Session, *, actor: User, demand: Demand) -> Demand:
    """Take one's vote back from an open demand; without a vote, nothing changes."""
    _must_be_open(demand, "have votes taken back")
    removed = session.execute(
        delete(DemandVote).where(DemandVote.demand_id == demand.id, DemandVote.user_id == actor.id)
    )
    if getattr(removed, "rowcount", 0):
        _count_votes(session, demand, -1)
        events.record(
            session, type="demand.vote_withdrawn", actor_id=actor.id, data={"demand": demand.id}
        )
    return demand


def _must_be_open(demand: Demand, what: str) -> None:
    state = DemandState(demand.state)
    if state in OPEN_STATES:
        return
    if state is DemandState.MERGED:
        raise DemandConflict(
            f"this need was merged into #{demand.merged_into_id}: its votes count there"
        )
    raise DemandConflict(f"only open needs {what}; this one is {state.value}")


def _add_vote(session: Session, *, demand_id: int, user_id: int) -> bool:
    """Insert the vote unless it exists; False when it did (perhaps a moment ago, from a
    second click: the unique constraint decides, inside a savepoint)."""
    exists = session.scalar(
        select(DemandVote.id).where(
            DemandVote.demand_id == demand_id, DemandVote.user_id == user_id
        )
    )
    if exists is not None:
        return False
    try:
        with session.begin_nested():
            session.add(DemandVote(demand_id=demand_id, user_id=user_id, created_at=clock.now()))
    except IntegrityError:
        return False
    return True


def _count_votes(session: Session, demand: Demand, change: int) -> None:
    """Change the count in one UPDATE that reads the row's current value (the row lock
    orders concurrent changes); the attribute is read back on its next use."""
    demand.votes = Demand.votes + change
    session.flush()


def can_triage(session: Session, user: User, demand: Demand) -> bool:
    """Who triages a demand: the leads of the team it is addressed to; one addressed to no
    team, the leads of any team that owns offerings (the catalog's product owners);
    administrators, every demand."""
    if user.is_admin:
        return True
    if demand.team_id is not None:
        return user.role_in(demand.team_id) is Role.LEAD
    led = [m.team_id for m in user.memberships if m.role == Role.LEAD.value]
    if not led:
        return False
    owning = select(Offering.id).where(Offering.owner_team_id.in_(led)).limit(1)
    return session.scalar(owning) is not None


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
    if not can_triage(session, actor, demand):
        raise CatalogPermissionDenied(NOT_TRIAGER)
    try:
        target = DemandState(state)
    except ValueError:
        raise InvalidDemand({"state": f"unknown state {state!r}"}) from None
    current = DemandState(demand.state)
    if target not in NEXT_STATES[current]:
        raise DemandConflict(f"a {current.value} demand cannot become {target.value}")
    if target is DemandState.DECLINED and not reason.strip():
        raise InvalidDemand({"reason": "say why the demand is declined"})
    if len(reason) > REASON_MAX:
        raise InvalidDemand({"reason": f"at most {REASON_MAX} characters"})
    if offering_slug:
        offering = session.scalar(select(Offering).where(Offering.slug == offering_slug))
        if offering is None:
            raise InvalidDemand({"offering": f"no offering {offering_slug!r}"})
        demand.offering_id = offering.id
    audience = _audience(session, demand, actor=actor)
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
    _tell_of_triage(session, demand, audience)
    return demand


def _audience(session: Session, demand: Demand, *, actor: User) -> set[int]:
    """Who hears of a decision on the demand: its author and voters, not the one deciding."""
    voters = set(
        session.scalars(select(DemandVote.user_id).where(DemandVote.demand_id == demand.id))
    )
    return (voters | {demand.author_id}) - {actor.id}


def _tell_of_triage(session: Session, demand: Demand, audience: set[int]) -> None:
    state = DemandState(demand.state)
    offering = session.get(Offering, demand.offering_id) if demand.offering_id else None
    if state is DemandState.ACCEPTED:
        message = f"The need “{demand.title}” was accepted"
        message += f": “{offering.name}” is being made to answer it." if offering else "."
    elif state is DemandState.DECLINED:
        message = f"The need “{demand.title}” was declined: {demand.decline_reason}"
    elif state is DemandState.SHIPPED:
        message = f"The need “{demand.title}” shipped"
        message += f": request “{offering.name}” in the catalog." if offering else "."
    else:
        return
    notices.tell(
        session,
        topic=f"demand_{state.value}",
        user_ids=audience,
        message=message,
        demand_id=demand.id,
    )


def merge(session: Session, *, actor: User, duplicate: Demand, into: Demand) -> Demand:
    """Fold a duplicate into the demand that stays: its voters count there once each, and
    the duplicate is merged (it points to the one that stays); its author and voters are
    told where their votes went."""
    if not (can_triage(session, actor, duplicate) and can_triage(session, actor, into)):
        raise CatalogPermissionDenied(NOT_TRIAGER)
    if duplicate.id == into.id:
        raise InvalidDemand({"into": "a demand cannot be merged into itself"})
    if (
        DemandState(into.state) not in (*OPEN_STATES, DemandState.SHIPPED)
        or DemandState(duplicate.state) not in OPEN_STATES
    ):
        raise DemandConflict("only open demands can be merged")
    audience = _audience(session, duplicate, actor=actor)
    voters = session.scalars(select(DemandVote.user_id).where(DemandVote.demand_id == duplicate.id))
    moved = sum(_add_vote(session, demand_id=into.id, user_id=voter) for voter in list(voters))
    if moved:
        _count_votes(session, into, moved)
    into.updated_at = duplicate.updated_at = clock.now()
    previous = duplicate.state
    duplicate.state = DemandState.MERGED.value
    duplicate.merged_into_id = into.id
    duplicate.decline_reason = ""
    session.flush()
    events.record(
        session,
        type="demand.merged",
        actor_id=actor.id,
        data={"demand": duplicate.id, "into": into.id, "from": previous, "votes_moved": moved},
    )
    notices.tell(
        session,
        topic="demand_merged",
        user_ids=audience,
        message=f"The need “{duplicate.title}” was merged into #{into.id} “{into.title}”: "
        "your vote counts there.",
        demand_id=into.id,
    )
    return into


def accept_into_draft(session: Session, *, actor: User, demand: Demand, team_slug: str) -> Offering:
    """Accept a new demand and start the offering that answers it as a draft of the team
    ``team_slug``, named after the demand; the demand links to it."""
    if not can_triage(session, actor, demand):
        raise CatalogPermissionDenied(NOT_TRIAGER)
    try:
        definition = OfferingIn.model_validate(
            {
                "slug": draft_slug(session, demand.title),
                "name": demand.title[:200],
                "summary": demand.description.strip()[:500],
                "description": demand.description,
                "owner_team": team_slug,
                "fulfilment": {"kind": "manual"},
            }
        )
    except ValidationError as invalid:
        raise InvalidOffering(catalog_service.problems_of(invalid)) from None
    offering = catalog_service.create_offering(session, actor=actor, definition=definition)
    triage(
        session,
        actor=actor,
        demand=demand,
        state=DemandState.ACCEPTED.value,
        offering_slug=offering.slug,
    )
    return offering


def draft_teams(session: Session, user: User) -> list[Team]:
    """The teams an accepted demand may start its draft offering for: the ones the user
    leads (administrators: every team that owns offerings), offering owners first."""
    owners = set(session.scalars(select(Offering.owner_team_id).distinct()))
    if user.is_admin:
        teams = list(session.scalars(select(Team).where(Team.id.in_(owners or {-1}))))
    else:
        teams = [m.team for m in user.memberships if m.role == Role.LEAD.value]
    return sorted(teams, key=lambda team: (team.id not in owners, team.name))


def draft_slug(session: Session, title: str) -> str:
    """A free offering slug made of the title's words (``-2``, ``-3``… when taken)."""
    base = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:50].strip("-") or "offering"
    taken = set(
        session.scalars(
            select(Offering.slug).where(or_(Offering.slug == base, Offering.slug.like(f"{base}-%")))
        )
    )
    slug, number = base, 1
    while slug in taken:
        number += 1
        slug = f"{base}-{number}"
    return slug


# --- reading ----------------------------------------------------------------

# Most votes first; on equal votes the newest first, so a need just recorded shows
# among its peers rather than below every older one.
ORDER = (Demand.votes.desc(), Demand.created_at.desc(), Demand.id.desc())
# Everyone sees open and shipped needs; a declined one only its author, with the reason. A
# merged one is listed for its author, and anyone who follows a link to it reads where it
# went (its votes count there).
PUBLIC_STATES = (*OPEN_STATES, DemandState.SHIPPED)


def readable(viewer: User, *, state: str | None = None) -> Select[Demand]:
    """The demands ``viewer`` may list, in list order, optionally in one state: the open
    and shipped ones, and the viewer's own declined or merged ones (why is the author's to
    read)."""
    statement = (
        select(Demand)
        .where(
            or_(
                Demand.state.in_([value.value for value in PUBLIC_STATES]),
                Demand.author_id == viewer.id,
            )
        )
        .order_by(*ORDER)
    )
    if state is not None:
        statement = statement.where(Demand.state == state)
    return statement


def list_readable(
    session: Session, *, viewer: User, state: str | None = None, limit: int = 200
) -> list[Demand]:
    """The first ``limit`` demands of :func:`readable`."""
    return list(session.scalars(readable(viewer, state=state).limit(limit)))


def get_readable(session: Session, *, viewer: User, demand_id: int) -> Demand:
    """One demand the viewer may read (one they may list, or a merged one); one they may
    not is not found."""
    demand = session.get(Demand, demand_id)
    if demand is None or not (
        DemandState(demand.state) in (*PUBLIC_STATES, DemandState.MERGED)
        or demand.author_id == viewer.id
    ):
        raise DemandNotFound(demand_id)
    return demand


# How alike two titles must be (0 to 100, rapidfuzz's WRatio of their significant words) for
# the open one to be offered instead: "Kafka topic" and "Kafka topics on request" score
# 95, "Kafka topic" and "Fax machines" 35.
SIMILAR_AT = 80
# Words that say nothing about what is needed.
# fmt: off
FILLER = frozenset({
    "a", "an", "and", "for", "i", "in", "is", "it", "me", "my", "need", "needs", "of", "on",
    "our", "please", "request", "some", "the", "to", "we", "with",
})
# fmt: on


def similar_open(session: Session, *, title: str, limit: int = 5) -> list[Demand]:
    """The open demands whose titles are most like ``title`` (a need being typed), the
    most alike first: the ones to vote for instead of filing a near-duplicate."""
    wanted = _significant(title)
    if len(wanted) < 3:
        return []
    candidates = open_demands(session)
    found = process.extract(
        wanted,
        {demand.id: _significant(demand.title) for demand in candidates},
        scorer=fuzz.WRatio,
        score_cutoff=SIMILAR_AT,
        limit=limit,
    )
    by_id = {demand.id: demand for demand in candidates}
    ranked = sorted(found, key=lambda match: (-match[1], -by_id[match[2]].votes))
    return [by_id[demand_id] for _, _, demand_id in ranked]


def _significant(title: str) -> str:
    words = utils.default_process(title).split()
    return " ".join(word for word in words if word not in FILLER)


def voted_by(session: Session, *, voter: User) -> set[int]:
    """Ids of the demands ``voter`` voted for."""
    return set(session.scalars(select(DemandVote.demand_id).where(DemandVote.user_id == voter.id)))


def open_demands(session: Session, *, limit: int = 1000) -> list[Demand]:
    """Demands still to be answered (new, accepted, planned), in list order: the triage
    queue, and what a duplicate may be merged into."""
    statement = select(Demand).where(Demand.state.in_([value.value for value in OPEN_STATES]))
    return list(session.scalars(statement.order_by(*ORDER).limit(limit)))


def count_new(session: Session) -> int:
    """How many demands wait for a first triage."""
    statement = select(func.count(Demand.id)).where(Demand.state == DemandState.NEW.value)
    return int(session.scalar(statement) or 0)


def top(session: Session, *, limit: int = 3, team_id: int | None = None) -> list[Demand]:
    """The open demands with most votes (the oldest first on equal votes); with
    ``team_id``, only those addressed to that team or to no team."""
    statement = select(Demand).where(Demand.state.in_([value.value for value in OPEN_STATES]))
    if team_id is not None:
        statement = statement.where(or_(Demand.team_id == team_id, Demand.team_id.is_(None)))
    statement = statement.order_by(Demand.votes.desc(), Demand.id).limit(limit)
    return list(session.scalars(statement))


def answering_slugs(session: Session, demands: Sequence[Demand]) -> dict[int, str]:
    """The slug of each offering that answers one of ``demands``, by offering id."""
    ids = {demand.offering_id for demand in demands if demand.offering_id is not None}
    if not ids:
        return {}
    rows = session.execute(select(Offering.id, Offering.slug).where(Offering.id.in_(ids)))
    return {offering_id: slug for offering_id, slug in rows}
