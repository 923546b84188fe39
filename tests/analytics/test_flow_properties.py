"""Property: for generated event histories, every flow and adoption metric the product
computes equals a straightforward Python computation over the same events."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from servicebay.analytics import adoption, flow
from servicebay.analytics.scope import Period
from servicebay.core import clock
from servicebay.core.identity import Role
from tests.analytics.history import make_history
from tests.conftest import _empty_tables
from tests.factories import make_offering, make_team, make_user

START = datetime(2026, 3, 1, tzinfo=UTC)
SINCE = datetime(2026, 3, 3, tzinfo=UTC)
UNTIL = datetime(2026, 3, 20, tzinfo=UTC)
PATHS = [
    ["submitted", "in_fulfilment", "completed"],
    ["submitted", "pending_approval", "in_fulfilment", "completed"],
    ["submitted", "pending_approval", "rejected"],
    ["submitted", "cancelled"],
    ["submitted", "in_fulfilment", "failed", "in_fulfilment", "completed"],
    ["submitted", "in_fulfilment", "run.attempt_failed", "completed"],
    ["submitted", "in_fulfilment", "task.created", "completed"],
    ["submitted", "in_fulfilment"],
    ["submitted", "in_fulfilment", "failed"],
]
STATUS_STAGE = {
    "submitted": "queue",
    "pending_approval": "approval",
    "in_fulfilment": "fulfilment",
    "failed": "recovery",
}

histories = st.lists(
    st.tuples(
        st.sampled_from(range(len(PATHS))),
        st.integers(0, 60 * 24 * 22),  # minutes after START
        st.lists(st.integers(0, 60 * 24 * 4), min_size=5, max_size=5),  # gaps in minutes
        st.integers(0, 2),  # which requester
    ),
    min_size=1,
    max_size=25,
)


def _rank(values: list[float], percent: int) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, (percent * len(ordered)) // 100) - 1]


def _days(a: datetime, b: datetime) -> int:
    return (b.date() - a.date()).days + 1


def _expected(requests: list[tuple[int, list[tuple[str, datetime]]]]) -> dict[str, object]:
    """Plain Python over the generated events."""
    lead_days, lead_hours, cycle_days, first_outcomes, automated, done_days = [], [], [], [], 0, []
    stages: Counter[str] = Counter()
    open_at_end = 0
    milestones: list[tuple[datetime, datetime | None, datetime | None, datetime | None]] = []
    closed_days: list[tuple[date, date | None]] = []
    for _, steps in requests:
        statuses = [(name, at) for name, at in steps if "." not in name]
        submitted = statuses[0][1]
        completed = next((at for name, at in reversed(statuses) if name == "completed"), None)
        closed = next(
            (
                at
                for name, at in reversed(statuses)
                if name in ("completed", "rejected", "cancelled")
            ),
            None,
        )
        started = next((at for name, at in statuses if name == "in_fulfilment"), completed)
        outcome = next(
            (
                (at, name == "completed")
                for name, at in steps
                if name in ("completed", "failed", "run.attempt_failed")
            ),
            None,
        )
        if outcome is not None and SINCE <= outcome[0] < UNTIL:
            first_outcomes.append(outcome[1])
        if submitted < UNTIL and (closed is None or closed >= UNTIL):
            open_at_end += 1
        closed_days.append((submitted.date(), closed.date() if closed else None))
        milestones.append((submitted, started, completed, closed))
        if completed is not None and SINCE <= completed < UNTIL:
            lead_days.append(_days(submitted, completed))
            lead_hours.append((completed - submitted).total_seconds() / 3600)
            cycle_days.append(_days(started, completed))  # type: ignore[arg-type]
            done_days.append(completed.date())
            if not any(name == "task.created" for name, _ in steps):
                automated += 1
            for (name, at), (_, next_at) in itertools.pairwise(statuses):
                if name in STATUS_STAGE:
                    stages[STATUS_STAGE[name]] += (next_at - at).total_seconds() / 3600
    days = [SINCE.date() + timedelta(days=n) for n in range((UNTIL - SINCE).days)]
    per_day = Counter(done_days)
    cumulative = [
        {
            "day": d.isoformat(),
            "arrived": sum(1 for m in milestones if m[0].date() <= d),
            "started": sum(1 for m in milestones if m[1] is not None and m[1].date() <= d),
            "completed": sum(1 for m in milestones if m[2] is not None and m[2].date() <= d),
            "dropped": sum(
                1 for m in milestones if m[2] is None and m[3] is not None and m[3].date() <= d
            ),
        }
        for d in days
    ]
    return {
        "lead_days": {p: _rank(lead_days, p) for p in (50, 70, 85, 95)},
        "lead_hours": {p: _rank(lead_hours, p) for p in (50, 70, 85, 95)},
        "cycle_days": {p: _rank(cycle_days, p) for p in (50, 70, 85, 95)},
        "completed": len(lead_days),
        "throughput": [(d, per_day.get(d, 0)) for d in days],
        "wip": [
            (d, sum(1 for s, c in closed_days if s <= d and (c is None or c > d))) for d in days
        ],
        "automation": automated / len(lead_days) if lead_days else None,
        "first_attempt": sum(first_outcomes) / len(first_outcomes) if first_outcomes else None,
        "open": open_at_end,
        "stages": stages,
        "cumulative": cumulative,
    }


@settings(
    max_examples=15,
    # Each example builds a database; shrinking one would take minutes.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(generated=histories)
def test_flow_and_adoption_metrics_equal_plain_python_over_the_events(
    engine: Engine, generated: list[tuple[int, int, list[int], int]]
) -> None:
    _empty_tables(engine)
    clock.freeze(UNTIL + timedelta(days=30))
    factory = sessionmaker(engine, expire_on_commit=False)
    with factory() as db:
        team = make_team(db, "ops")
        lead = make_user(db, "lead", team=team, role=Role.LEAD)
        offering = make_offering(db, team, lead, slug="db")
        consumers = make_team(db, "consumers")
        people = [make_user(db, f"p{n}", team=consumers) for n in range(3)]
        requests = []
        for path_index, offset, gaps, who in generated:
            at = START + timedelta(minutes=offset)
            steps = []
            for name, gap in zip(PATHS[path_index], [0, *gaps], strict=False):
                at += timedelta(minutes=gap)
                steps.append((name, at))
            make_history(db, offering, people[who], steps)
            requests.append((who, steps))
        db.commit()

        scope = flow.Scope(SINCE, UNTIL, (offering.id,))
        flows = flow.load(db, scope)
        summary = flow.summary(flows, scope)
        expected = _expected(requests)
        assert summary.completed == expected["completed"]
        assert summary.lead_days == expected["lead_days"]
        assert summary.cycle_days == expected["cycle_days"]
        assert summary.lead_hours == pytest.approx(expected["lead_hours"])
        assert flow.throughput_per_day(flows, scope) == expected["throughput"]
        assert flow.wip_per_day(flows, scope) == expected["wip"]
        assert summary.wip == expected["open"]
        before = flow.closed_before(db, scope)
        assert flow.cumulative_flow(flows, scope, before=before) == expected["cumulative"]
        assert summary.automation_rate == expected["automation"]
        assert summary.first_attempt_success == expected["first_attempt"]
        for stage, hours in expected["stages"].items():  # type: ignore[attr-defined]
            assert abs(summary.stage_hours[stage] - hours) < 1e-6

        [row] = adoption.adoption(db, offerings=[offering], period=Period(SINCE, UNTIL))
        submitted_in = [
            (who, steps[0][1]) for who, steps in requests if SINCE <= steps[0][1] < UNTIL
        ]
        assert row.submitted == len(submitted_in)
        assert row.unique_requesters == len({who for who, _ in submitted_in})
        cancelled = sum(
            1
            for _, steps in requests
            for name, at in steps
            if name == "cancelled" and SINCE <= at < UNTIL
        )
        rejected = sum(
            1
            for _, steps in requests
            for name, at in steps
            if name == "rejected" and SINCE <= at < UNTIL
        )
        [rejection] = adoption.rejection(db, offerings=[offering], period=Period(SINCE, UNTIL))
        assert (rejection.cancelled, rejection.approval_rejections) == (cancelled, rejected)
    clock.reset()
