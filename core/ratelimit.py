"""Fixed-window rate limits kept in the database, so every process shares the count."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import String, delete
from sqlalchemy.orm import Mapped, Session, mapped_column

from servicebay.core import clock
from servicebay.core.database import Base, UTCDateTime, insert_or_update
from servicebay.core.errors import RateLimited

__all__ = ["RateLimited", "hit"]


class RateCounter(Base):
    __tablename__ = "core_rate_counter"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    count: Mapped[int] = mapped_column(default=0)


def hit(
    session: Session, *, key: str, limit: int, window: timedelta, what: str, enforce: bool = True
) -> None:
    """Count one attempt for ``key``; raise RateLimited past ``limit`` in this window."""
    now = clock.now()
    seconds = window.total_seconds()
    start = datetime.fromtimestamp(math.floor(now.timestamp() / seconds) * seconds, UTC)
    upsert = (
        insert_or_update(session, RateCounter)
        .values(key=key, window_start=start, count=1)
        .on_conflict_do_update(
            index_elements=[RateCounter.key, RateCounter.window_start],
            set_={"count": RateCounter.count + 1},
        )
        .returning(RateCounter.count)
    )
    count = session.execute(upsert).scalar_one()
    if random.random() < 0.01:  # now and then, forget old windows
        session.execute(delete(RateCounter).where(RateCounter.window_start < now - 2 * window))
    if enforce and count > limit:
        raise RateLimited(what, max(1, math.ceil((start + window - now).total_seconds())))
