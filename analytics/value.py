"""Work mix and the value of automation (docs/metrics.md, "Work mix and value")."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from servicebay.analytics.flow import RequestFlow, Scope, completed_in
from servicebay.analytics.scope import Period
from servicebay.catalog.models import Offering
from servicebay.core.events import Event


@dataclass(frozen=True)
class WorkMixRow:
    team: str
    week: str
    standard: int
    consultative: int


@dataclass(frozen=True)
class TimeSavedRow:
    offering_slug: str
    offering_name: str
    team: str
    automated_completions: int
    effort_minutes: int
    hours_saved: float


def work_mix(
    session: Session, *, offerings: Sequence[Offering], period: Period
) -> list[WorkMixRow]:
    """Submissions per owner team and ISO week, split by the offering's kind of work."""
    by_id = {offering.id: offering for offering in offerings}
    moments = session.execute(
        select(Event.offering_id, Event.occurred_at).where(
            Event.type == "request.submitted",
            Event.offering_id.in_(list(by_id)),
            Event.occurred_at >= period.since,
            Event.occurred_at < period.until,
        )
    )
    counts: dict[tuple[str, str], dict[str, int]] = defaultdict(
        lambda: {"standard": 0, "consultative": 0}
    )
    for offering_id, at in moments:
        offering = by_id[offering_id or 0]
        year, week, _ = at.date().isocalendar()
        kind = offering.work_kind if offering.work_kind == "consultative" else "standard"
        counts[(offering.owner_team.name, f"{year}-W{week:02d}")][kind] += 1
    return [
        WorkMixRow(team, week, kinds["standard"], kinds["consultative"])
        for (team, week), kinds in sorted(counts.items())
    ]


def time_saved_from(
    automated: dict[int, tuple[int, int, int]], *, offerings: Sequence[Offering]
) -> list[TimeSavedRow]:
    """time_saved from per-offering (completions, largest effort, total effort minutes)."""
    by_id = {offering.id: offering for offering in offerings}
    rows = [
        TimeSavedRow(
            offering_slug=by_id[offering_id].slug,
            offering_name=by_id[offering_id].name,
            team=by_id[offering_id].owner_team.name,
            automated_completions=count,
            effort_minutes=most,
            hours_saved=total / 60,
        )
        for offering_id, (count, most, total) in automated.items()
        if offering_id in by_id
    ]
    return sorted(rows, key=lambda row: (-row.hours_saved, row.offering_name, row.offering_slug))


def time_saved(
    flows: Sequence[RequestFlow], scope: Scope, *, offerings: Sequence[Offering]
) -> list[TimeSavedRow]:
    """Automated completions times declared manual effort, per offering, most hours first."""
    by_id = {offering.id: offering for offering in offerings}
    automated: dict[int, list[RequestFlow]] = defaultdict(list)
    for flow in completed_in(flows, scope):
        if flow.automated and flow.offering_id in by_id:
            automated[flow.offering_id].append(flow)
    rows = [
        TimeSavedRow(
            offering_slug=by_id[offering_id].slug,
            offering_name=by_id[offering_id].name,
            team=by_id[offering_id].owner_team.name,
            automated_completions=len(done),
            effort_minutes=max(flow.effort_minutes for flow in done),
            hours_saved=sum(flow.effort_minutes for flow in done) / 60,
        )
        for offering_id, done in automated.items()
    ]
    return sorted(rows, key=lambda row: (-row.hours_saved, row.offering_name, row.offering_slug))
