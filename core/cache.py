"""Values computed from the database and kept in the process while they are current.

A page that every visitor opens should not scan the whole catalog each time. What it
needs is kept per database (a process may serve several, as the tests do) under a key
that says which state of the database it was computed from, such as a change token
that writers replace in the same transaction as their change: a new key computes the
value again. ``max_age`` also bounds how old a value may get, for figures (such as
counts of recent requests) that no single change token follows.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy.orm import Session

from servicebay.core import clock

T = TypeVar("T")
LOCK_STRIPES = 32


@dataclass(frozen=True)
class _Kept(Generic[T]):
    key: Hashable
    value: T
    made_at: float


class PerDatabase(Generic[T]):
    """One kept value per database (per ``slot`` of it, such as one per offering),
    replaced when its key changes or it is too old."""

    def __init__(self, *, max_age: float | None = None, max_slots: int = 10_000) -> None:
        self.max_age = max_age
        self.max_slots = max_slots
        self._kept: dict[tuple[str, Hashable], _Kept[T]] = {}
        self._guard = threading.Lock()
        # Striped: askers of one slot wait for each other, other slots go on.
        self._computing = [threading.Lock() for _ in range(LOCK_STRIPES)]

    def get(
        self, session: Session, key: Hashable, compute: Callable[[], T], *, slot: Hashable = None
    ) -> T:
        place = (session.get_bind().engine.url.render_as_string(hide_password=True), slot)
        kept = self._current(place, key)
        if kept is not None:
            return kept.value
        # Twenty first visitors at once compute it once.
        with self._computing[hash(place) % LOCK_STRIPES]:
            kept = self._current(place, key)
            if kept is not None:
                return kept.value
            value = compute()
            with self._guard:
                self._kept.pop(place, None)
                if len(self._kept) >= self.max_slots:  # forget the longest kept
                    del self._kept[next(iter(self._kept))]
                self._kept[place] = _Kept(key, value, clock.monotonic())
        return value

    def _current(self, place: tuple[str, Hashable], key: Hashable) -> _Kept[T] | None:
        kept = self._kept.get(place)
        if kept is None or kept.key != key or self._too_old(kept, clock.monotonic()):
            return None
        return kept

    def _too_old(self, kept: _Kept[T], now: float) -> bool:
        return self.max_age is not None and now - kept.made_at > self.max_age
