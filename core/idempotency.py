"""At most once per person and key: the one mechanism behind the API's Idempotency-Key and
the portal's one-time form tokens.

A caller names an action with a key. The key is reserved in the same transaction as the
change it guards, under a unique (user, purpose, key) constraint, so:

- a repeat sent while the first call runs waits for that transaction (the database holds
  the second insert until the first commits or rolls back), then sees its outcome;
- a first call that fails or dies (its process killed, its connection dropped) takes its
  reservation with it, so the next try acts at once;
- a key past its lifetime is forgotten and acts again.

What the first call produced is kept as a small JSON outcome (the request it made, the
page it led to), for the repeats to answer with.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint, delete, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from servicebay.core import clock
from servicebay.core.database import Base, UTCDateTime
from servicebay.core.errors import Invalid

KEY_LIFETIME = timedelta(hours=24)
KEY_MAX = 255


class IdempotencyKey(Base):
    """A key a user sent with an action, and what the action produced."""

    __tablename__ = "core_idempotency_key"
    __table_args__ = (UniqueConstraint("user_id", "purpose", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(40))
    key: Mapped[str] = mapped_column(String(KEY_MAX))
    fingerprint: Mapped[str] = mapped_column(String(64), default="")
    outcome: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class KeyReused(Invalid):
    """The key was already used for a different request body."""


@dataclass
class Reservation:
    """A reserved key. ``earlier`` is what the key's first use produced when this call is
    a repeat; None when this call is the first and is to act."""

    row: IdempotencyKey
    earlier: dict[str, Any] | None


def fingerprint(body: Any) -> str:
    """A digest of what a call asked for, to refuse one key used for two different things."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def reserve(
    session: Session, *, user_id: int, purpose: str, key: str, body_fingerprint: str = ""
) -> Reservation:
    """Reserve ``key`` in the session's transaction, or find what its first use produced."""
    if not 1 <= len(key) <= KEY_MAX:
        raise Invalid(f"an idempotency key is 1 to {KEY_MAX} characters")
    now = clock.now()
    while True:
        row = IdempotencyKey(
            user_id=user_id,
            purpose=purpose,
            key=key,
            fingerprint=body_fingerprint,
            outcome=None,
            created_at=now,
            expires_at=now + KEY_LIFETIME,
        )
        try:
            # Waits here while another transaction holds an uncommitted row for the key.
            with session.begin_nested():
                session.add(row)
            return Reservation(row=row, earlier=None)
        except IntegrityError:
            pass
        found = session.scalar(
            select(IdempotencyKey).where(
                IdempotencyKey.user_id == user_id,
                IdempotencyKey.purpose == purpose,
                IdempotencyKey.key == key,
            )
        )
        if found is None:
            continue  # removed since: try again
        if found.expires_at <= now or found.outcome is None:
            session.delete(found)  # outlived its lifetime, or produced nothing
            session.flush()
            continue
        if found.fingerprint != body_fingerprint:
            raise KeyReused("this key was used with a different request body")
        return Reservation(row=found, earlier=dict(found.outcome))


def settle(reservation: Reservation, outcome: dict[str, Any]) -> None:
    """Record what the first use produced; committed with the change itself."""
    reservation.row.outcome = outcome


def release_unsettled(session: Session, reservation: Reservation) -> None:
    """Forget a reservation whose call produced nothing to repeat (a form shown again with
    its problems): the next try with the key acts. One the transaction already dropped
    (rolled back) needs nothing."""
    if reservation.row.outcome is None and inspect(reservation.row).persistent:
        session.delete(reservation.row)
        session.flush()


def purge_expired(session: Session) -> int:
    """Forget keys past their lifetime."""
    result = session.execute(delete(IdempotencyKey).where(IdempotencyKey.expires_at <= clock.now()))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
