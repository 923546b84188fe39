"""Property: the flow views read from the flow roll-up equal a full replay of the Event
log, for any history, any period (past periods included: events after a period's end
must not count) and any point the roll-up has read up to."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from servicebay.analytics import flow, reports, rollup
from servicebay.analytics.models import RequestFlowRow
from servicebay.analytics.scope import Period
from servicebay.catalog.models import Offering
from servicebay.core import clock, events
from servicebay.core.identity import Role
from tests.analytics.history import make_history
from tests.analytics.test_flow_properties import PATHS, START
from tests.analytics.test_local_days import FIRST, LAST, _import_in_rome
from tests.conftest import _empty_tables
from tests.factories import make_offering, make_team, make_user

NOW = START + timedelta(days=60)
PERIODS = [
    (START, START + timedelta(days=40)),  # sees every event
    (START + timedelta(days=2), START + timedelta(days=19)),
    (START + timedelta(days=1), START + timedelta(days=4)),  # long past: most events after
    (START + timedelta(days=9), START + timedelta(days=10)),
    (START + timedelta(days=12, hours=7), START + timedelta(days=15, hours=3)),
]

requests_strategy = st.lists(
    st.tuples(
        st.sampled_from(range(len(PATHS))),
        st.integers(0, 60 * 24 * 22),  # minutes after START
        st.lists(st.integers(0, 60 * 24 * 4), min_size=5, max_size=5),  # gaps in minutes
        st.booleans(),  # arrives after the roll-up read the log
        st.booleans(),  # gets a manual task after the roll-up read the log
        st.booleans(),  # on the second offering
    ),
    min_size=1,
    max_size=20,
)


def _flows(session: Session, scope: flow.Scope, *, rolled: bool) -> list[flow.RequestFlow]:
    found = flow.load(session, scope) if rolled else flow.load_replayed(session, scope)
    return sorted(found, key=lambda item: item.request_id)


FLOW_TABLES = [
    "flow",
    "percentiles",
    "lead-times",
    "lead-time-histogram",
    "throughput",
    "throughput-weekly",
    "wip",
    "aging",
    "cumulative-flow",
    "stages",
    "time-saved",
    "forecast",
]


def _tables(
    session: Session, chosen: list[Offering], since: datetime, until: datetime, *, fast: bool
) -> dict[str, list[dict[str, object]]]:
    return _tables_of(session, chosen, Period(since, until), fast=fast)


def _tables_of(
    session: Session, chosen: list[Offering], period: Period, *, fast: bool
) -> dict[str, list[dict[str, object]]]:
    """Every flow table of a view: computed by the database over the roll-up where it
    can (fast), else by Python over a full replay of the events."""
    context = reports.Context(session, chosen, period)
    if not fast:
        context._in_sql = False
        context._flows = flow.load_replayed(session, context.scope)
    found = {}
    for name in FLOW_TABLES:
        rows = reports.TABLES[name](context).rows
        found[name] = [
            {
                key: pytest.approx(value) if isinstance(value, float) else value
                for key, value in row.items()
            }
            for row in rows
        ]
    return found


@settings(
    max_examples=15,
    # Each example builds a database; shrinking one would take minutes.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(generated=requests_strategy, refresh_at_end=st.booleans())
def test_flow_from_the_rollup_equals_a_full_replay(
    engine: Engine,
    generated: list[tuple[int, int, list[int], bool, bool, bool]],
    refresh_at_end: bool,
) -> None:
    _empty_tables(engine)
    clock.freeze(NOW)
    factory = sessionmaker(engine, expire_on_commit=False)
    with factory() as db:
        team = make_team(db, "ops")
        lead = make_user(db, "lead", team=team, role=Role.LEAD)
        offerings = [
            make_offering(db, team, lead, slug="db"),
            make_offering(db, team, lead, slug="vm"),
        ]
        requester = make_user(db, "someone", team=make_team(db, "consumers"))

        def build(late: bool) -> list[tuple[int, datetime]]:
            touched = []
            for path_index, offset, gaps, arrives_late, task_late, second in generated:
                if arrives_late != late:
                    continue
                at = START + timedelta(minutes=offset)
                steps = []
                for name, gap in zip(PATHS[path_index], [0, *gaps], strict=False):
                    at += timedelta(minutes=gap)
                    steps.append((name, at))
                request = make_history(db, offerings[second], requester, steps)
                if task_late:
                    touched.append((request.id, steps[0][1] + timedelta(minutes=1)))
            return touched

        tasks_later = build(late=False)
        db.commit()
        rollup.refresh(db)  # as the worker's sweep does
        db.commit()
        build(late=True)
        for request_id, at in tasks_later:
            events.record(
                db,
                type="task.created",
                actor_id=None,
                offering_id=offerings[0].id,
                request_id=request_id,
                data={},
                at=at,
            )
        db.commit()
        if refresh_at_end:
            rollup.refresh(db)
            db.commit()
            assert db.scalar(select(RequestFlowRow.request_id).limit(1)) is not None

        for since, until in PERIODS:
            for offering_ids in (None, (offerings[0].id,)):
                scope = flow.Scope(since, until, offering_ids)
                assert _flows(db, scope, rolled=True) == _flows(db, scope, rolled=False)
            for chosen in (offerings, offerings[:1]):
                assert _tables(db, chosen, since, until, fast=True) == _tables(
                    db, chosen, since, until, fast=False
                )
    clock.reset()


def test_a_rebuilt_rollup_is_read_again_from_the_whole_log(db: Session) -> None:
    clock.freeze(NOW)
    team = make_team(db, "ops")
    lead = make_user(db, "lead", team=team, role=Role.LEAD)
    offering = make_offering(db, team, lead, slug="db")
    steps = [
        ("submitted", START),
        ("in_fulfilment", START + timedelta(hours=3)),
        ("completed", START + timedelta(days=2)),
    ]
    request = make_history(db, offering, lead, steps)
    db.commit()
    rollup.refresh(db)
    [row] = db.scalars(select(RequestFlowRow)).all()
    assert (row.request_id, row.status, row.completed_at) == (
        request.id,
        "completed",
        START + timedelta(days=2),
    )
    assert row.queue_hours == 3.0
    rollup.rebuild(db)
    assert db.scalars(select(RequestFlowRow)).all() == []
    rollup.refresh(db)
    assert len(db.scalars(select(RequestFlowRow)).all()) == 1
    scope = flow.Scope(START, START + timedelta(days=10), None, UTC)
    assert flow.load(db, scope) == flow.load_replayed(db, scope)
    clock.reset()


def test_the_helpdesk_log_on_romes_days_is_the_same_from_the_rollup(
    db: Session, database_url: str
) -> None:
    """The exact Helpdesk figures (test_local_days) come out of the roll-up unchanged:
    after the worker's sweep, every flow table equals the full replay's."""
    _import_in_rome(db, database_url)
    rome = ZoneInfo("Europe/Rome")
    period = Period(
        datetime.combine(FIRST, time(), rome),
        datetime.combine(LAST + timedelta(days=1), time(), rome),
        rome,
    )
    rollup.refresh(db)
    offerings = list(db.scalars(select(Offering)))
    on_postgresql = db.get_bind().dialect.name == "postgresql"
    assert reports.Context(db, offerings, period).in_sql == on_postgresql
    expected = _tables_of(db, offerings, period, fast=False)
    assert _tables_of(db, offerings, period, fast=True) == expected
    assert expected["throughput"] and any(row["completed"] for row in expected["throughput"])
