"""The backup check of the operations guide: back up, wipe, restore, compare every table.

It wipes the database it is given, so it runs on a database of its own (a file on SQLite,
a database created for the test on PostgreSQL), never on the one the other tests share.
"""

from __future__ import annotations

import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from servicebay.catalog.models import OfferingVersion
from servicebay.core import migrations
from servicebay.core.database import make_engine, make_sessionmaker
from servicebay.core.events import Event
from servicebay.core.identity import User
from servicebay.core.settings import Settings
from servicebay.requests import service
from servicebay.requests.fulfilment.worker import Worker
from servicebay.requests.models import Request
from tests.receiver import Receiver
from tests.requests.support import SECRET, owner_and_offering, requester, submit

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "backup-restore-check"
PUBLIC_SCHEMA = text(
    "SELECT nspowner::regrole::text, nspacl::text FROM pg_namespace WHERE nspname = 'public'"
)


@pytest.fixture
def own_database_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A migrated database on the same backend as ``database_url``, only for this test."""
    if database_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'own.db'}"  # tmp_path is absolute: sqlite:////...
        migrations.upgrade(url)
        yield url
        return
    name = f"servicebay_backup_{uuid.uuid4().hex[:12]}"
    admin = create_engine(
        make_url(database_url).set(database="postgres"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(database_url).set(database=name).render_as_string(hide_password=False)
    try:
        migrations.upgrade(url)
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def run_check(database_url: str, backup: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), "--wipe", database_url, str(backup)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


@pytest.mark.slow
def test_backup_wiped_and_restored_gives_back_every_row_and_a_working_database(
    own_database_url: str, settings: Settings, tmp_path: Path
) -> None:
    engine = make_engine(own_database_url)
    sessions: sessionmaker[Session] = make_sessionmaker(engine)
    db = sessions()
    with Receiver(secret=SECRET) as hook:
        _, _, offering = owner_and_offering(db, fulfilment={"kind": "webhook", "url": hook.url})
        who = requester(db)
        first = [submit(db, who, offering) for _ in range(5)]
        slug, who_id = offering.slug, who.id
        db.close()
        Worker(
            sessions, settings.model_copy(update={"database_url": own_database_url})
        ).run_until_idle()
    with sessions() as session:
        events_before = session.scalar(select(func.count(Event.id)))
        schema_before = _public_schema(session)
    engine.dispose()  # the restore replaces the database under any open connection
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    result = run_check(own_database_url, tmp_path / "servicebay.backup", cwd=elsewhere)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK:" in result.stdout and (tmp_path / "servicebay.backup").stat().st_size > 0
    with sessions() as session:
        statuses = session.scalars(select(Request.status).order_by(Request.id)).all()
        assert statuses == ["completed"] * 5
        assert session.scalar(select(func.count(Event.id))) == events_before
        version = session.scalars(select(OfferingVersion)).first()
        assert version is not None and version.webhook_secret == SECRET  # still decrypts
        assert _public_schema(session) == schema_before  # owner and rights as they were
    with sessions() as session:  # ids continue after the restored ones
        later = service.submit(
            session,
            actor=session.get_one(User, who_id),
            offering_slug=slug,
            inputs={"name": "after_restore", "size": "small"},
        )
        session.commit()
        assert later.id > max(first)
    engine.dispose()


def _public_schema(session: Session) -> tuple[str, str] | None:
    if session.get_bind().dialect.name != "postgresql":
        return None
    owner, rights = session.execute(PUBLIC_SCHEMA).one()
    return owner, rights


def test_backup_check_refuses_to_run_without_being_told_it_wipes(database_url: str) -> None:
    result = subprocess.run([str(SCRIPT), database_url], capture_output=True, text=True)
    assert result.returncode == 2
    assert "WIPE" in result.stderr


def test_the_documented_sqlite_example_of_the_backup_check_is_an_absolute_path() -> None:
    guide = (ROOT / "docs" / "operations.md").read_text()
    examples = re.findall(r"backup-restore-check --wipe (sqlite:\S+)", guide)
    assert examples and all(url.startswith("sqlite:////") for url in examples)
