"""Percentiles and durations follow the Kanban community's conventions."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from servicebay.analytics.percentiles import floor_rank, inclusive_days, percentiles


def test_actionable_agile_example_gives_5_6_6_7() -> None:
    durations = [3, 4, 4, 5, 5, 6, 6, 6, 7, 7]
    assert percentiles(durations) == {50: 5, 70: 6, 85: 6, 95: 7}


def test_percentile_of_one_value_is_that_value() -> None:
    assert percentiles([9]) == {50: 9, 70: 9, 85: 9, 95: 9}


def test_small_samples_take_at_least_the_first_position() -> None:
    assert floor_rank([8, 2], 50) == 2
    assert floor_rank([8, 2], 95) == 2
    assert floor_rank([8, 2, 5], 70) == 5


def test_no_values_give_no_percentile() -> None:
    assert floor_rank([], 85) is None


def test_order_of_the_input_does_not_matter() -> None:
    assert percentiles([7, 3, 6, 4, 5, 6, 4, 7, 5, 6]) == {50: 5, 70: 6, 85: 6, 95: 7}


def test_same_day_counts_as_one_day_and_midnight_starts_a_new_one() -> None:
    morning = datetime(2026, 3, 2, 8, tzinfo=UTC)
    assert inclusive_days(morning, datetime(2026, 3, 2, 17, tzinfo=UTC)) == 1
    assert (
        inclusive_days(
            datetime(2026, 3, 2, 23, 59, tzinfo=UTC), datetime(2026, 3, 3, 0, 1, tzinfo=UTC)
        )
        == 2
    )


def test_metrics_md_names_the_floor_rank_rule_it_computes_and_its_example_holds() -> None:
    metrics = (Path(__file__).resolve().parents[2] / "docs" / "metrics.md").read_text()
    paragraph = metrics[metrics.index("- **Percentiles**") :].split("\n- ")[0]

    assert "floor-rank" in paragraph and "ActionableAgile" in paragraph
    assert "by the **nearest-rank** rule" not in metrics
    example = [3, 4, 4, 5, 5, 6, 6, 6, 7, 7]
    assert "3,4,4,5,5,6,6,6,7,7 gives 5 / 6 / 6 / 7" in paragraph
    assert [floor_rank(example, p) for p in (50, 70, 85, 95)] == [5, 6, 6, 7]
