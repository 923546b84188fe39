"""Six months of believable history for the demo organisation.

Rows are inserted directly with back-dated timestamps, exactly as the request lifecycle
would have written them, so that every insights page has something to say on first run.
Each offering follows a profile: how demand for it moves, how often it is turned down,
how often its automation fails and how long it takes.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from servicebay.catalog import demand as demand_service
from servicebay.catalog.models import Demand, Offering
from servicebay.core import clock, events
from servicebay.core.identity import User
from servicebay.requests import history as requests_history

DAYS = 182
REJECTION_REASONS = [
    "Use the shared environment instead",
    "Budget not approved this quarter",
    "Missing business justification",
    "Duplicate of an existing request",
]
SEARCHES_WITHOUT_RESULT = [
    ("kafka topic", 31),
    ("GPU machine", 24),
    ("Kafka  Topic", 9),
    ("feature flag", 17),
    ("sandbox aws account", 12),
    ("translation of contract", 8),
    ("expense card", 6),
]
SEARCHES_WITH_RESULT = ["postgres", "vpn", "laptop", "access", "database", "contract"]
# title, description, urgency, votes, and the triage states it went through
DEMANDS: list[tuple[str, str, str, int, list[str]]] = [
    ("Kafka topics on request", "We publish events and wait weeks for a topic.", "high", 23, []),
    (
        "GPU machines for model training",
        "Short-lived GPU boxes for experiments.",
        "high",
        17,
        ["accepted"],
    ),
    (
        "Feature flag projects",
        "A project in the flag service per team.",
        "normal",
        12,
        ["accepted", "planned"],
    ),
    (
        "AWS sandbox accounts",
        "A throw-away account for a week.",
        "normal",
        9,
        ["accepted", "planned", "shipped"],
    ),
    ("Contract translation", "Legal review of translated contracts.", "low", 4, ["declined"]),
    ("Corporate expense cards", "Cards for team offsites.", "normal", 6, []),
    # "merged" folds it into the first demand, as a duplicate
    ("Kafka topic for payments", "One topic for our payment events.", "normal", 3, ["merged"]),
]
DECLINE_REASON = "Translations are reviewed by the agency that makes them."


@dataclass(frozen=True)
class Profile:
    """How one offering's history goes: weekly demand at the start and at the end, etc."""

    weekly_start: float
    weekly_end: float
    approval: bool = False
    reject_rate: float = 0.03
    cancel_rate: float = 0.03
    fail_rate: float = 0.04
    abandon_rate: float = 0.2
    rating: float = 4.3
    hours: float = 2.0  # typical fulfilment time
    manual_share: float = 0.05  # share of requests that needed a manual task


def generate(
    session: Session,
    *,
    offerings: dict[str, Offering],
    profiles: dict[str, Profile],
    consumers: list[User],
    authors: list[User],
    triager: User,
    seed: int = 7,
) -> None:
    rng = random.Random(seed)
    now = clock.now()
    start = now - timedelta(days=DAYS)
    for slug, profile in profiles.items():
        _offering_history(session, rng, offerings[slug], profile, consumers, start, now)
    _searches(session, rng, consumers, start, now)
    _demands(session, rng, authors, triager, now)


def _poisson(rng: random.Random, mean: float) -> int:
    # Knuth's method: fine for the small means of a day's requests.
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def _offering_history(
    session: Session,
    rng: random.Random,
    offering: Offering,
    profile: Profile,
    consumers: list[User],
    start: datetime,
    now: datetime,
) -> None:
    # A few teams are the regulars of each offering: repeat requesters are real.
    regulars = rng.sample(consumers, k=min(len(consumers), rng.randint(8, 30)))
    requests: list[dict[str, Any]] = []
    histories: list[list[tuple[str, datetime, int | None, dict[str, Any]]]] = []
    loose_events: list[dict[str, Any]] = []
    for day in range(DAYS):
        weekday = (start + timedelta(days=day)).weekday()
        weekly = profile.weekly_start + (profile.weekly_end - profile.weekly_start) * day / DAYS
        mean = weekly / 5 if weekday < 5 else weekly / 40
        for _ in range(_poisson(rng, mean)):
            at = start + timedelta(days=day, hours=rng.uniform(8, 18))
            if at >= now:
                continue
            who = rng.choice(regulars)
            for _ in range(rng.randint(1, 4)):
                loose_events.append(
                    _event(
                        "offering.viewed",
                        at - timedelta(minutes=rng.randint(5, 600)),
                        who.id,
                        offering.id,
                    )
                )
            loose_events.append(
                _event(
                    "offering.form_started",
                    at - timedelta(minutes=rng.randint(2, 15)),
                    who.id,
                    offering.id,
                )
            )
            if rng.random() < profile.abandon_rate:
                # Started the form, never sent it.
                continue
            steps = _path(rng, profile, offering, at, now)
            requests.append(_request_row(offering, who, steps))
            histories.append([(name, moment, who.id, data) for name, moment, data in steps])
    if not requests:
        events.record_many(session, loose_events)
        return
    ids = requests_history.insert_requests(session, requests)
    rows = list(loose_events)
    for request_id, history in zip(ids, histories, strict=True):
        previous = None
        for name, moment, actor, data in history:
            kind = name if "." in name else f"request.{name}"
            extra = dict(data)
            if "." not in name and previous is not None:
                extra["from"] = previous
            acting = actor if name in ("submitted", "cancelled", "request.rated") else None
            rows.append(_event(kind, moment, acting, offering.id, request_id, extra))
            if "." not in name:
                previous = name
    events.record_many(session, rows)


def _event(
    kind: str,
    at: datetime,
    actor_id: int | None,
    offering_id: int,
    request_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "occurred_at": at,
        "type": kind,
        "actor_id": actor_id,
        "offering_id": offering_id,
        "request_id": request_id,
        "data": data or {},
    }


def _path(
    rng: random.Random, profile: Profile, offering: Offering, at: datetime, now: datetime
) -> list[tuple[str, datetime, dict[str, Any]]]:
    """The steps of one request, cut off at ``now`` (later ones have not happened yet)."""
    steps: list[tuple[str, datetime, dict[str, Any]]] = [("submitted", at, {"version": 1})]
    moment = at
    if profile.approval:
        moment += timedelta(minutes=1)
        steps.append(("pending_approval", moment, {}))
        moment += timedelta(hours=rng.expovariate(1 / 14))
        if rng.random() < profile.reject_rate:
            steps.append(("rejected", moment, {"reason": rng.choice(REJECTION_REASONS)}))
            return _until(steps, now)
    if rng.random() < profile.cancel_rate:
        steps.append(("cancelled", moment + timedelta(hours=rng.uniform(0.2, 30)), {}))
        return _until(steps, now)
    moment += timedelta(minutes=rng.randint(1, 90))
    steps.append(("in_fulfilment", moment, {}))
    if offering.work_kind == "consultative" or rng.random() < profile.manual_share:
        steps.append(("task.created", moment + timedelta(minutes=1), {}))
    if rng.random() < profile.fail_rate:
        moment += timedelta(minutes=rng.randint(1, 30))
        steps.append(("run.attempt_failed", moment, {"attempt": 1}))
        steps.append(("failed", moment + timedelta(seconds=5), {}))
        moment += timedelta(hours=rng.expovariate(1 / 5))
        steps.append(("in_fulfilment", moment, {}))
    moment += timedelta(hours=rng.lognormvariate(math.log(profile.hours), 0.8))
    steps.append(("completed", moment, {}))
    if rng.random() < 0.45:
        rating = max(1, min(5, round(rng.gauss(profile.rating, 0.8))))
        comment = "Quick and easy" if rating >= 4 else "Took too long"
        steps.append(
            ("request.rated", moment + timedelta(hours=2), {"rating": rating, "comment": comment})
        )
    return _until(steps, now)


def _until(
    steps: list[tuple[str, datetime, dict[str, Any]]], now: datetime
) -> list[tuple[str, datetime, dict[str, Any]]]:
    return [step for step in steps if step[1] < now]


def _request_row(
    offering: Offering, who: User, steps: list[tuple[str, datetime, dict[str, Any]]]
) -> dict[str, Any]:
    statuses = [(name, moment) for name, moment, _ in steps if "." not in name]
    status, last = statuses[-1]
    closed = last if status in ("completed", "rejected", "cancelled") else None
    return {
        "offering_id": offering.id,
        "offering_version_id": offering.current_version_id,
        "requester_id": who.id,
        "team_id": who.team_ids[0] if who.team_ids else None,
        "inputs": {},
        "outputs": {"note": "from the demo history"} if status == "completed" else {},
        "status": status,
        "submitted_at": statuses[0][1],
        "updated_at": last,
        "closed_at": closed,
    }


def _searches(
    session: Session, rng: random.Random, consumers: list[User], start: datetime, now: datetime
) -> None:
    rows = []
    span = (now - start).total_seconds()
    for query, times in SEARCHES_WITHOUT_RESULT:
        for _ in range(times):
            at = start + timedelta(seconds=rng.uniform(0, span))
            who = rng.choice(consumers)
            rows.append(
                {
                    "occurred_at": at,
                    "type": "catalog.searched",
                    "actor_id": who.id,
                    "offering_id": None,
                    "request_id": None,
                    "data": {"query": query, "results": 0},
                }
            )
    for query in SEARCHES_WITH_RESULT:
        for _ in range(rng.randint(20, 60)):
            at = start + timedelta(seconds=rng.uniform(0, span))
            rows.append(
                {
                    "occurred_at": at,
                    "type": "catalog.searched",
                    "actor_id": rng.choice(consumers).id,
                    "offering_id": None,
                    "request_id": None,
                    "data": {"query": query, "results": rng.randint(1, 4)},
                }
            )
    events.record_many(session, rows)


def _demands(
    session: Session, rng: random.Random, authors: list[User], triager: User, now: datetime
) -> None:
    first: Demand | None = None
    for title, description, urgency, votes, states in DEMANDS:
        author = rng.choice(authors)
        created = demand_service.create(
            session, actor=author, title=title, description=description, urgency=urgency
        )
        first = first or created
        created.created_at = now - timedelta(days=rng.randint(3, 150))
        for voter in rng.sample(authors, k=min(votes - 1, len(authors))):
            demand_service.vote(session, actor=voter, demand=created)
        for state in states:
            if state == "merged" and first is not None:
                demand_service.merge(session, actor=triager, duplicate=created, into=first)
                continue
            reason = DECLINE_REASON if state == "declined" else ""
            demand_service.triage(
                session, actor=triager, demand=created, state=state, reason=reason
            )
