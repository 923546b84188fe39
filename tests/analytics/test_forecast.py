"""Monte Carlo forecasts over daily throughput: seeded, 10,000 trials, 50/85/95 %."""

from __future__ import annotations

from servicebay.analytics.forecast import how_many, when_done


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
