"""The backup check of the operations guide: back up, wipe, restore, compare every table."""

from __future__ import annotations

import subprocess
from pathlib import Path

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from servicebay.catalog.models import OfferingVersion
from servicebay.core.events import Event
from servicebay.core.identity import User
from servicebay.core.settings import Settings
from servicebay.requests import service
from servicebay.requests.fulfilment.worker import Worker
from servicebay.requests.models import Request
from tests.receiver import Receiver
from tests.requests.support import SECRET, owner_and_offering, requester, submit

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "backup-restore-check"


def run_check(database_url: str, backup: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), "--wipe", database_url, str(backup)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_backup_wiped_and_restored_gives_back_every_row_and_a_working_database(
    db: Session,
    sessions: sessionmaker[Session],
    engine: Engine,
    settings: Settings,
    database_url: str,
    tmp_path: Path,
) -> None:
    with Receiver(secret=SECRET) as hook:
        _, _, offering = owner_and_offering(db, fulfilment={"kind": "webhook", "url": hook.url})
        who = requester(db)
        first = [submit(db, who, offering) for _ in range(5)]
        slug, who_id = offering.slug, who.id
        db.close()
        Worker(sessions, settings).run_until_idle()
    with sessions() as session:
        events_before = session.scalar(select(func.count(Event.id)))
    engine.dispose()  # the restore replaces the database under any open connection

    result = run_check(database_url, tmp_path / "servicebay.backup")
    engine.dispose()

    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK:" in result.stdout and (tmp_path / "servicebay.backup").stat().st_size > 0
    with sessions() as session:
        statuses = session.scalars(select(Request.status).order_by(Request.id)).all()
        assert statuses == ["completed"] * 5
        assert session.scalar(select(func.count(Event.id))) == events_before
        version = session.scalars(select(OfferingVersion)).first()
        assert version is not None and version.webhook_secret == SECRET  # still decrypts
    with sessions() as session:  # ids continue after the restored ones
        later = service.submit(
            session,
            actor=session.get_one(User, who_id),
            offering_slug=slug,
            inputs={"name": "after_restore", "size": "small"},
        )
        session.commit()
        assert later.id > max(first)


def test_backup_check_refuses_to_run_without_being_told_it_wipes(database_url: str) -> None:
    result = subprocess.run([str(SCRIPT), database_url], capture_output=True, text=True)
    assert result.returncode == 2
    assert "WIPE" in result.stderr
