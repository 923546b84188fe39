"""Telling people what happened to something they care about, whichever context it is in.

A context says who should hear what, in the transaction of the change itself (catalog:
"the need you voted for was declined"); the context that owns delivery (requests: in-app
notices, and email or other channels through the durable engine, as each person chose in
their preferences) registers itself here when it is imported. So catalog tells people
without knowing how they are told, and the import contracts hold.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy.orm import Session


@dataclass(frozen=True)
class Notice:
    """One message for some people, about one subject they can open in the portal."""

    topic: str  # one of core.preferences.TOPICS: what each person may choose to hear
    user_ids: tuple[int, ...]
    message: str  # one sentence, the same in the app and as an email subject
    demand_id: int | None = None  # the demand the notice links to


Deliver = Callable[[Session, Notice], None]
_delivery: list[Deliver] = []


def deliver_with(deliver: Deliver) -> None:
    """Register how notices reach people (once, by the context that delivers them)."""
    if deliver not in _delivery:
        _delivery.append(deliver)


def tell(
    session: Session,
    *,
    topic: str,
    user_ids: Iterable[int],
    message: str,
    demand_id: int | None = None,
) -> None:
    """Tell these people (each once) in the current transaction."""
    notice = Notice(topic, tuple(sorted(set(user_ids))), message, demand_id)
    if not notice.user_ids:
        return
    for deliver in _delivery:
        deliver(session, notice)
