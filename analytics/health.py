"""Offering health: each offering's verdict, the number that earned it, and where it
loses people (docs/metrics.md, "Offering health").

The counts are the adoption and rejection counts of the tables on /insights; only the
verdict rules live here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from servicebay.analytics import adoption
from servicebay.analytics.scope import Period
from servicebay.catalog.models import Offering

ADOPTED, GROWING, STRUGGLING, REJECTED, ZERO_UPTAKE = (
    "adopted",
    "growing",
    "struggling",
    "rejected",
    "zero uptake",
)
# Worst first: the offerings that need a decision lead the list.
RANK = {REJECTED: 0, STRUGGLING: 1, ZERO_UPTAKE: 2, GROWING: 3, ADOPTED: 4}

# Thresholds, in whole numbers so no rounding decides a verdict.
REJECTED_PERCENT = 50  # of submissions turned down, or of form starts abandoned
STRUGGLING_PERCENT = 25  # of its base, lost to any one source
CHANGE_PERCENT = 20  # submissions above or below the previous period
MIN_FORM_STARTS = 4  # abandonment is judged from this many form starts
MIN_RATINGS = 3  # ratings are judged from this many ratings
LOW_AVERAGE = 2.5  # an average rating at or below this is a rejection
# Struggling is judged from this many: a drop from at least this many submissions in the
# previous period, a loss of at least 25 % of a base of at least this many. Below it a
# single request more or less would swing the verdict (1 after 2 is not a trend).
MIN_STRUGGLING_BASE = 10


@dataclass(frozen=True)
class Loss:
    """People an offering lost at one step: ``count`` of ``base``."""

    key: str
    label: str
    count: int
    base: int
    # The drill-down metric listing the requests behind the count ("" = none).
    drill: str

    @property
    def share(self) -> float | None:
        return self.count / self.base if self.base else None


@dataclass(frozen=True)
class Health:
    offering_id: int
    offering_slug: str
    offering_name: str
    owner_team: str
    verdict: str
    # The one number that earned the verdict, as a product owner reads it.
    number: str
    rule: str
    submitted: int
    previous_submitted: int
    # Only the steps that lost someone, the largest share first.
    losses: list[Loss]

    @property
    def worst(self) -> Loss | None:
        return self.losses[0] if self.losses else None


def _percent(part: int, whole: int) -> str:
    return f"{round(100 * part / whole)} %"


def _losses(row: adoption.RejectionRow, submitted: int) -> list[Loss]:
    losses = [
        Loss("abandoned", "Form abandonment", row.abandoned, row.form_starts, ""),
        Loss(
            "approval_rejections",
            "Approval rejections",
            row.approval_rejections,
            submitted,
            "rejected",
        ),
        Loss("failed", "Failed fulfilment", row.failed, submitted, "failed"),
        Loss("cancelled", "Cancellations", row.cancelled, submitted, "cancelled"),
        Loss("low_ratings", "Low ratings", row.low_ratings, row.ratings, ""),
    ]
    found = [loss for loss in losses if loss.count]
    return sorted(found, key=lambda loss: (-(loss.share or 0), -loss.count, loss.label))


def verdict(row: adoption.RejectionRow, *, submitted: int, previous: int) -> tuple[str, str, str]:
    """(verdict, the number that earned it, the rule with its numbers): the first rule of
    docs/metrics.md ("Offering health") that holds."""
    if submitted == 0:
        idle = row.days_without_uptake
        if idle is not None:
            return ZERO_UPTAKE, f"{idle} days", f"no submission for {idle} days"
        return ZERO_UPTAKE, "0 requests", "no submission in the period"
    turned_down = row.approval_rejections + row.cancelled
    if 100 * turned_down >= REJECTED_PERCENT * submitted:
        return (
            REJECTED,
            _percent(turned_down, submitted),
            f"{turned_down} of {submitted} requests rejected or cancelled",
        )
    judged_forms = row.form_starts >= MIN_FORM_STARTS
    if judged_forms and 100 * row.abandoned >= REJECTED_PERCENT * row.form_starts:
        return (
            REJECTED,
            _percent(row.abandoned, row.form_starts),
            f"{row.abandoned} of {row.form_starts} started forms abandoned",
        )
    average = row.average_rating
    if row.ratings >= MIN_RATINGS and average is not None and average <= LOW_AVERAGE:
        return (
            REJECTED,
            f"{average:.1f} of 5",
            f"average rating {average:.1f} from {row.ratings} ratings",
        )
    dropped = 100 * (previous - submitted) >= CHANGE_PERCENT * previous
    if previous >= MIN_STRUGGLING_BASE and dropped:
        return (
            STRUGGLING,
            _percent(submitted - previous, previous),
            f"{submitted} requests after {previous} in the previous period",
        )
    for loss in _losses(row, submitted):
        if loss.key == "abandoned" and not judged_forms:
            continue
        if loss.key == "low_ratings" and row.ratings < MIN_RATINGS:
            continue
        if loss.base >= MIN_STRUGGLING_BASE and 100 * loss.count >= STRUGGLING_PERCENT * loss.base:
            return (
                STRUGGLING,
                _percent(loss.count, loss.base),
                f"{loss.label.lower()}: {loss.count} of {loss.base}",
            )
    if previous == 0 and submitted >= 3:
        return GROWING, f"{submitted} requests", "requests after none in the previous period"
    if previous and 100 * (submitted - previous) >= CHANGE_PERCENT * previous:
        return (
            GROWING,
            "+" + _percent(submitted - previous, previous),
            f"{submitted} requests after {previous} in the previous period",
        )
    return ADOPTED, f"{submitted} requests", f"{submitted} requests, steady or first uptake"


def offering_health(
    session: Session, *, offerings: Sequence[Offering], period: Period
) -> list[Health]:
    """Every published offering of the view with its verdict, worst first (a view that
    also shows the adoption and rejection tables shares their rows: :func:`judge`)."""
    return judge(
        adoption.adoption(session, offerings=offerings, period=period),
        adoption.rejection(session, offerings=offerings, period=period),
    )


def judge(
    adopted: Sequence[adoption.AdoptionRow], rejected: Sequence[adoption.RejectionRow]
) -> list[Health]:
    """The verdict of each offering from its adoption and rejection rows, worst first."""
    by_id = {row.offering_id: row for row in adopted}
    found = []
    for row in rejected:
        counts = by_id[row.offering_id]
        submitted, previous = counts.submitted, counts.previous_submitted
        name, number, rule = verdict(row, submitted=submitted, previous=previous)
        found.append(
            Health(
                offering_id=row.offering_id,
                offering_slug=row.offering_slug,
                offering_name=row.offering_name,
                owner_team=counts.owner_team,
                verdict=name,
                number=number,
                rule=rule,
                submitted=submitted,
                previous_submitted=previous,
                losses=_losses(row, submitted),
            )
        )
    return sorted(found, key=lambda h: (RANK[h.verdict], -h.submitted, h.offering_name))


def needing_attention(found: Sequence[Health]) -> list[Health]:
    """The offerings whose verdict asks for a decision: rejected, struggling, zero uptake."""
    return [item for item in found if item.verdict in (REJECTED, STRUGGLING, ZERO_UPTAKE)]
