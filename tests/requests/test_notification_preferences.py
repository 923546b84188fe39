"""People are told only what they chose to hear about."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from servicebay.core import preferences
from servicebay.core.settings import Settings
from servicebay.requests.fulfilment.worker import Worker
from servicebay.requests.models import Notification
from tests.requests.support import owner_and_offering, requester, submit


def test_a_muted_status_change_sends_no_notice_and_the_others_still_do(
    db: Session, sessions: sessionmaker[Session], settings: Settings
) -> None:
    _, _, offering = owner_and_offering(db, fulfilment={"kind": "plugin", "plugin": "echo"})
    casey = requester(db)
    casey_id = casey.id
    preferences.choose(db, user_id=casey_id, email=False, topics=["in_fulfilment"])
    db.commit()
    submit(db, casey, offering)
    Worker(sessions, settings).run_until_idle()

    notices = db.scalars(select(Notification.message).where(Notification.user_id == casey_id))
    messages = list(notices)
    db.rollback()
    assert any("is being fulfilled" in m for m in messages), messages
    assert not any("is completed" in m for m in messages), messages
