"""Unmet needs: open demands by votes and age, and searches that found nothing."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from servicebay.analytics.percentiles import inclusive_days
from servicebay.analytics.scope import Period
from servicebay.catalog.demand import OPEN_STATES
from servicebay.catalog.models import Demand
from servicebay.core.events import Event


@dataclass(frozen=True)
class UnmetNeed:
    demand_id: int
    title: str
    state: str
    urgency: str
    votes: int
    age_days: int


@dataclass(frozen=True)
class EmptySearch:
    query: str
    searches: int
    last_at: datetime


def normalise(query: str) -> str:
    return re.sub(r"\s+", " ", query).strip().lower()


def top_unmet_needs(session: Session, *, as_of: datetime, limit: int = 50) -> list[UnmetNeed]:
    statement = (
        select(Demand)
        .where(Demand.state.in_([state.value for state in OPEN_STATES]))
        .order_by(Demand.votes.desc(), Demand.created_at, Demand.id)
        .limit(limit)
    )
    return [
        UnmetNeed(
            demand_id=demand.id,
            title=demand.title,
            state=demand.state,
            urgency=demand.urgency,
            votes=demand.votes,
            age_days=inclusive_days(demand.created_at, as_of),
        )
        for demand in session.scalars(statement)
    ]


def empty_searches(session: Session, *, period: Period, limit: int = 50) -> list[EmptySearch]:
    rows = session.execute(
        select(Event.occurred_at, Event.data).where(
            Event.type == "catalog.searched",
            Event.occurred_at >= period.since,
            Event.occurred_at < period.until,
        )
    )
    counts: Counter[str] = Counter()
    last: dict[str, datetime] = {}
    for at, data in rows:
        data = data or {}
        if data.get("results") != 0:
            continue
        query = normalise(str(data.get("query", "")))
        if not query:
            continue
        counts[query] += 1
        last[query] = max(last.get(query, at), at)
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return [EmptySearch(query, count, last[query]) for query, count in ordered]
