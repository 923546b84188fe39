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
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy.orm import Session

T = TypeVar("T")


@dataclass(frozen=True)
class _Kept(Generic[T]):
    key: Hashable
    value: T
    made_at: float


class PerDatabase(Generic[T]):
    """One kept value per database, replaced when its key changes or it is too old."""

    def __init__(self, *, max_age: float | None = None) -> None:
        self.max_age = max_age
        self._kept: dict[str, _Kept[T]] = {}
        self._computing = threading.Lock()

    def get(self, session: Session, key: Hashable, compute: Callable[[], T]) -> T:
        database = session.get_bind().engine.url.render_as_string(hide_password=True)
        kept = self._current(database, key)
        if kept is not None:
            return kept.value
        with self._computing:  # twenty first visitors at once compute it once
            kept = self._current(database, key)
            if kept is not None:
                return kept.value
            value = compute()
            self._kept[database] = _Kept(key, value, time.monotonic())
        return value

    def _current(self, database: str, key: Hashable) -> _Kept[T] | None:
        kept = self._kept.get(database)
        if kept is None or kept.key != key or self._too_old(kept, time.monotonic()):
            return None
        return kept

    def _too_old(self, kept: _Kept[T], now: float) -> bool:
        return self.max_age is not None and now - kept.made_at > self.max_age
