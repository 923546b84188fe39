"""The answer first, in the JSON API: the summary, offering health and versions compared.

The same filters as /api/v1/analytics (``team``, ``offering``, ``since``, ``until``) and
the same figures as /insights.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter

from servicebay.analytics import summary, versions
from servicebay.core.errors import NotFound
from servicebay.portal.api.analytics import FilterQuery, Filters, context_for
from servicebay.portal.deps import AnalyticsSession, ApiUser

router = APIRouter(prefix="/insights", tags=["insights"])


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


@router.get("/summary")
def summary_of(reads: AnalyticsSession, user: ApiUser, filters: FilterQuery) -> dict[str, Any]:
    """The headline figures of the period, each beside the previous period's. Shares
    are fractions (0.25 is 25 %)."""
    found = summary.summary(context_for(reads, user, filters))
    return {
        "since": found.period.first_day.isoformat(),
        "until": (found.period.last_day + timedelta(days=1)).isoformat(),
        "previous_since": found.previous.first_day.isoformat(),
        "offerings": found.offerings,
        "figures": [
            {
                "key": figure.key,
                "label": figure.label,
                "kind": figure.kind,
                "value": _rounded(figure.value),
                "previous": _rounded(figure.previous),
            }
            for figure in found.figures
        ],
    }


@router.get("/health")
def health_of(reads: AnalyticsSession, user: ApiUser, filters: FilterQuery) -> list[dict[str, Any]]:
    """Every offering with its verdict, the number that earned it and where it loses
    people; those that need a decision first."""
    context = context_for(reads, user, filters)
    return [
        {
            "offering": item.offering_slug,
            "name": item.offering_name,
            "owner_team": item.owner_team,
            "verdict": item.verdict,
            "number": item.number,
            "rule": item.rule,
            "submitted": item.submitted,
            "previous_submitted": item.previous_submitted,
            "losses": [
                {
                    "key": loss.key,
                    "label": loss.label,
                    "count": loss.count,
                    "base": loss.base,
                    "share": _rounded(loss.share),
                    "drill": loss.drill,
                }
                for loss in item.losses
            ],
        }
        for item in context.health_rows()
    ]


@router.get("/versions")
def versions_of(reads: AnalyticsSession, user: ApiUser, offering: str) -> list[dict[str, Any]]:
    """Each published version of an offering side by side."""
    context = context_for(reads, user, Filters(offering=offering))
    if not context.offerings:
        raise NotFound(f"no offering {offering!r} among those whose insights you may read")
    found = context.offerings[0]
    return [
        {
            "version": row.number,
            "published_at": row.published_at.isoformat(),
            "replaced_at": row.replaced_at.isoformat() if row.replaced_at else None,
            "submitted": row.submitted,
            "requesters": row.requesters,
            "form_starts": row.form_starts,
            "abandoned": row.abandoned,
            "abandonment": _rounded(row.abandonment),
            "rejected_or_cancelled": row.turned_down,
            "rejection": _rounded(row.rejection),
            "completed": row.completed,
            "lead_p85_days": row.lead_p85_days,
            "ratings": row.ratings,
            "average_rating": _rounded(row.average_rating),
        }
        for row in versions.compare(reads, offering=found)
    ]
