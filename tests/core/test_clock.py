"""The movable clock: advancing it moves the monotonic reading too, which never goes back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from servicebay.core import clock


@pytest.fixture(autouse=True)
def clock_reset() -> Iterator[None]:
    clock.reset()
    yield
    clock.reset()


def test_advancing_the_clock_moves_the_monotonic_reading() -> None:
    before = clock.monotonic()
    clock.advance(timedelta(hours=1))
    assert clock.monotonic() - before >= 3600


def test_the_monotonic_reading_never_goes_back() -> None:
    clock.advance(timedelta(hours=1))
    moved = clock.monotonic()
    clock.advance(timedelta(hours=-2))
    clock.reset()
    assert clock.monotonic() >= moved
