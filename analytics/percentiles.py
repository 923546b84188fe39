"""Floor-rank percentiles (ActionableAgile's rule) and the Kanban community's duration
conventions.

See docs/metrics.md: every number here is defined there in words.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo

PERCENTILES = (50, 70, 85, 95)


def floor_rank(values: Sequence[float], percent: int) -> float | None:
    """Value at 1-based position floor(p·n) of the sorted values, at least position 1."""
    if not values:
        return None
    ordered = sorted(values)
    # Integer arithmetic: 0.7 * 10 must be exactly 7, not 7.000000000000001.
    position = max(1, (percent * len(ordered)) // 100)
    return ordered[position - 1]


def percentiles(values: Sequence[float]) -> dict[int, float | None]:
    return {percent: floor_rank(values, percent) for percent in PERCENTILES}


def inclusive_days(start: datetime, end: datetime, zone: tzinfo = UTC) -> int:
    """Calendar days touched, in ``zone``: finished the day it started counts as 1."""
    return (end.astimezone(zone).date() - start.astimezone(zone).date()).days + 1


def hours_between(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 3600
