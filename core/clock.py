"""The one clock. Tests move time with ``freeze``/``advance``."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

_offset = timedelta(0)
_frozen: datetime | None = None
_moved_seconds = 0.0  # what ``advance`` added to the monotonic reading


def now() -> datetime:
    """Current UTC time, timezone-aware."""
    if _frozen is not None:
        return _frozen
    return datetime.now(UTC) + _offset


def monotonic() -> float:
    """Seconds for measuring how long something took or has been kept.

    It never goes back: ``advance`` moves it forward (a step back leaves it), and neither
    ``freeze`` nor ``reset`` touches it.
    """
    return time.monotonic() + _moved_seconds


def advance(delta: timedelta) -> None:
    global _offset, _frozen, _moved_seconds
    if _frozen is not None:
        _frozen += delta
    else:
        _offset += delta
    _moved_seconds += max(delta.total_seconds(), 0.0)


def freeze(at: datetime | None) -> None:
    global _frozen
    _frozen = at


def reset() -> None:
    global _offset, _frozen
    _offset = timedelta(0)
    _frozen = None
