"""Values kept per database: computed again when their key moves or they get old, and
computed once when many threads ask at the same moment."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from sqlalchemy.orm import Session

from servicebay.core import clock
from servicebay.core.cache import PerDatabase


def test_a_kept_value_is_computed_again_when_its_key_moves(db: Session) -> None:
    kept: PerDatabase[int] = PerDatabase()
    computed: list[str] = []

    def compute(key: str) -> int:
        computed.append(key)
        return len(computed)

    assert kept.get(db, "a", lambda: compute("a")) == 1
    assert kept.get(db, "a", lambda: compute("a")) == 1
    assert kept.get(db, "b", lambda: compute("b")) == 2
    assert computed == ["a", "b"]


def test_a_kept_value_is_computed_again_once_it_is_too_old(db: Session) -> None:
    kept: PerDatabase[int] = PerDatabase(max_age=60)
    computed: list[int] = []

    def compute() -> int:
        computed.append(1)
        return len(computed)

    assert kept.get(db, "a", compute) == 1
    clock.advance(timedelta(seconds=59))
    assert kept.get(db, "a", compute) == 1
    clock.advance(timedelta(seconds=2))
    assert kept.get(db, "a", compute) == 2


def test_many_first_askers_at_once_compute_the_value_once(db: Session) -> None:
    kept: PerDatabase[str] = PerDatabase()
    calls: list[int] = []
    start = threading.Barrier(20)

    def slow() -> str:
        calls.append(1)
        time.sleep(0.05)
        return "outline"

    answers: list[str] = []

    def ask() -> None:
        start.wait()
        answers.append(kept.get(db, "token", slow))

    threads = [threading.Thread(target=ask) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == ["outline"] * 20 and len(calls) == 1


def test_slots_are_kept_apart_and_the_oldest_is_forgotten_past_the_limit(db: Session) -> None:
    kept: PerDatabase[str] = PerDatabase(max_slots=2)
    computed: list[str] = []

    def compute(slot: str) -> str:
        computed.append(slot)
        return slot.upper()

    for slot in ("a", "b", "a", "c", "b", "a"):
        assert kept.get(db, "token", lambda s=slot: compute(s), slot=slot) == slot.upper()
    # a and b were kept side by side; c pushed a out, a then pushed b out.
    assert computed == ["a", "b", "c", "a"]
