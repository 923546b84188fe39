"""The audit trail as administrators read it: people, teams and offerings by name, each
Event's details in words, and filters that take the names and slugs the page shows."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from servicebay.catalog.models import Demand, Offering
from servicebay.core import events
from servicebay.core.events import Event
from servicebay.core.identity import Team, User

# Keys of Event data that hold the id of a team or a demand, shown by name instead.
TEAM_KEYS = frozenset({"team_id"})
DEMAND_KEYS = frozenset({"demand", "into"})


@dataclass(frozen=True)
class Detail:
    label: str
    value: str


@dataclass(frozen=True)
class AuditRow:
    event: Event
    actor: User | None
    offering: Offering | None
    details: list[Detail]


@dataclass(frozen=True)
class AuditTrail:
    rows: list[AuditRow]
    next_before_id: int | None


def trail(
    session: Session,
    *,
    actor: str = "",
    type: str = "",
    offering: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> AuditTrail:
    """Newest first. ``actor`` is a username or a display name, ``offering`` a slug or a
    name (either case); ``type`` is exact or a prefix ending in '.'."""
    found, next_before_id = events.find(
        session,
        actor_ids=_people_called(actor.strip()) if actor.strip() else None,
        type=type.strip() or None,
        offering_ids=_offerings_called(offering.strip()) if offering.strip() else None,
        since=since,
        until=until,
        before_id=before_id,
        limit=limit,
    )
    offerings = _by_id(session, Offering, (event.offering_id for event in found))
    teams = _by_id(session, Team, _values(found, TEAM_KEYS))
    demands = _by_id(session, Demand, _values(found, DEMAND_KEYS))
    rows = [
        AuditRow(
            event=event,
            actor=event.actor,
            offering=offerings.get(event.offering_id) if event.offering_id else None,
            details=_details(event.data or {}, teams=teams, demands=demands),
        )
        for event in found
    ]
    return AuditTrail(rows=rows, next_before_id=next_before_id)


def _people_called(text: str) -> Select[Any]:
    return select(User.id).where(
        or_(User.username == text, func.lower(User.display_name) == text.lower())
    )


def _offerings_called(text: str) -> Select[Any]:
    return select(Offering.id).where(
        or_(Offering.slug == text.lower(), func.lower(Offering.name) == text.lower())
    )


def _values(found: list[Event], keys: frozenset[str]) -> Iterable[Any]:
    for event in found:
        for key, value in (event.data or {}).items():
            if key in keys:
                yield value


def _by_id(session: Session, model: Any, ids: Iterable[Any]) -> dict[int, Any]:
    wanted = {value for value in ids if isinstance(value, int) and not isinstance(value, bool)}
    if not wanted:
        return {}
    return {row.id: row for row in session.scalars(select(model).where(model.id.in_(wanted)))}


def _details(
    data: dict[str, Any], *, teams: dict[int, Team], demands: dict[int, Demand]
) -> list[Detail]:
    details = []
    for key, value in data.items():
        if value is None or value == "" or value == []:
            continue
        if key in TEAM_KEYS and value in teams:
            words = teams[value].name
        elif key in DEMAND_KEYS and value in demands:
            words = f"#{value} “{demands[value].title}”"
        else:
            words = _in_words(value)
        details.append(Detail(label=_label(key), value=words))
    return details


def _label(key: str) -> str:
    return key.removesuffix("_id").replace("_", " ").capitalize()


def _in_words(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(_in_words(item) for item in value)
    if isinstance(value, dict):
        shown = (f"{_label(k)}: {_in_words(v)}" for k, v in value.items() if v not in ("", None))
        return "; ".join(shown) or "none"
    return str(value)
