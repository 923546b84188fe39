"""Monte Carlo forecasts over a team's daily throughput history (docs/metrics.md)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from servicebay.analytics.percentiles import floor_rank

CONFIDENCES = (50, 85, 95)
TRIALS = 10_000
HISTORY_DAYS = 90
# A trial that has not finished after ten years never finishes: "not at this throughput".
MAX_DAYS = 3650
NOT_AT_THIS_THROUGHPUT = "not at this throughput"


@dataclass(frozen=True)
class Forecast:
    trials: int
    seed: int
    answers: dict[int, int | None]


def when_done(
    history: Sequence[int], *, items: int, trials: int = TRIALS, seed: int = 0
) -> Forecast:
    """Days needed to finish ``items`` requests, at each confidence (more days = safer);
    None where the answer is a trial that did not finish within :data:`MAX_DAYS`."""
    if items <= 0:
        return Forecast(trials, seed, dict.fromkeys(CONFIDENCES, 0))
    if not history or not any(history):
        return Forecast(trials, seed, dict.fromkeys(CONFIDENCES, None))
    rng = random.Random(seed)
    outcomes = []
    for _ in range(trials):
        done = days = 0
        while done < items and days < MAX_DAYS:
            done += rng.choice(history)
            days += 1
        outcomes.append(days if done >= items else MAX_DAYS + 1)
    answers = {confidence: _as_int(floor_rank(outcomes, confidence)) for confidence in CONFIDENCES}
    return Forecast(
        trials,
        seed,
        {
            confidence: None if answer is None or answer > MAX_DAYS else answer
            for confidence, answer in answers.items()
        },
    )


def how_many(history: Sequence[int], *, days: int, trials: int = TRIALS, seed: int = 0) -> Forecast:
    """Requests finished in the next ``days`` days that c % of trials reach or exceed."""
    if not history or days <= 0:
        return Forecast(trials, seed, dict.fromkeys(CONFIDENCES, 0))
    rng = random.Random(seed)
    outcomes = [sum(rng.choices(history, k=days)) for _ in range(trials)]
    return Forecast(
        trials,
        seed,
        {confidence: _as_int(floor_rank(outcomes, 100 - confidence)) for confidence in CONFIDENCES},
    )


def _as_int(value: float | None) -> int | None:
    return None if value is None else int(value)
