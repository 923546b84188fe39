"""Monte Carlo forecasts over daily throughput: seeded, 10,000 trials, 50/85/95 %."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy.orm import Session

from servicebay.analytics import reports
from servicebay.analytics.forecast import how_many, when_done
from servicebay.analytics.scope import Period, start_of
from servicebay.core import clock
from servicebay.core.identity import Role
from tests.analytics.history import make_history
from tests.factories import make_offering, make_team, make_user


def test_steady_throughput_gives_the_obvious_answer_at_every_confidence() -> None:
    assert when_done([2, 2, 2], items=10).answers == {50: 5, 85: 5, 95: 5}
    assert how_many([2, 2, 2], days=7).answers == {50: 14, 85: 14, 95: 14}


def test_more_confidence_means_more_days_and_fewer_items() -> None:
    history = [0, 0, 1, 3, 0, 5, 2, 0, 1, 4, 0, 0, 2]
    done = when_done(history, items=30).answers
    many = how_many(history, days=14).answers
    assert done[50] <= done[85] <= done[95]  # type: ignore[operator]
    assert many[50] >= many[85] >= many[95]  # type: ignore[operator]
    assert done[50] != done[95] and many[50] != many[95]


def test_the_same_seed_gives_the_same_answer_from_ten_thousand_trials() -> None:
    history = [0, 1, 3, 0, 2, 6, 0, 1]
    first = when_done(history, items=25, seed=42)
    assert first.trials == 10_000
    assert first == when_done(history, items=25, seed=42)
    assert how_many(history, days=10, seed=3) == how_many(history, days=10, seed=3)


def test_no_completions_in_the_history_cannot_forecast_a_finish() -> None:
    assert when_done([0, 0, 0], items=3).answers == {50: None, 85: None, 95: None}
    assert when_done([0, 0], items=0).answers == {50: 0, 85: 0, 95: 0}


def test_a_finish_beyond_ten_years_is_not_at_this_throughput_rather_than_3650_days() -> None:
    one_a_year = [1] + [0] * 364

    answers = when_done(one_a_year, items=20, trials=200).answers

    assert answers == {50: None, 85: None, 95: None}


def test_the_forecast_reads_the_last_90_full_days_leaving_out_today(db: Session) -> None:
    today = datetime(2026, 6, 30, 12, tzinfo=UTC)
    clock.freeze(today)
    team = make_team(db)
    lead = make_user(db, team=team, role=Role.LEAD)
    offering = make_offering(db, team, lead)
    user = make_user(db, team=make_team(db))
    earliest_full_day = datetime(2026, 4, 1, 8, tzinfo=UTC)  # 90 days before 30 June
    make_history(
        db, offering, user, [("submitted", earliest_full_day), ("completed", earliest_full_day)]
    )
    db.commit()
    period = Period(start_of(date(2026, 6, 1)), start_of(date(2026, 7, 1)))

    table = reports.forecast_table(reports.Context(db, [offering], period), items=1)

    # One completion in the 90 days: one request is finished at every confidence.
    assert all(isinstance(row["days_to_finish"], int) for row in table.rows)
