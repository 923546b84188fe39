"""Webhook secrets are encrypted in the database and survive a key rotation."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import text
from sqlalchemy.orm import Session

from servicebay.catalog.models import OfferingVersion
from servicebay.core import crypto
from servicebay.core.identity import Role
from servicebay.portal.cli import main
from tests.conftest import TEST_SECRET_KEY
from tests.factories import make_offering, make_team, make_user

SECRET = "whsec_dG9wLXNlY3JldC12YWx1ZQ=="


def _stored(db: Session) -> str:
    return db.execute(text("SELECT webhook_secret FROM catalog_offering_version")).scalar_one()


def test_secret_is_not_readable_in_the_database(db: Session) -> None:
    team = make_team(db)
    lead = make_user(db, team=team, role=Role.LEAD)
    make_offering(
        db,
        team,
        lead,
        publish=False,
        webhook_secret=SECRET,
        fulfilment={"kind": "webhook", "url": "https://hooks.example.com/x"},
    )
    db.commit()
    stored = _stored(db)
    assert SECRET not in stored and "dG9wLXNlY3JldC12YWx1ZQ" not in stored
    assert db.query(OfferingVersion).one().webhook_secret == SECRET


def test_rotation_keeps_secrets_readable_with_the_new_key(
    db: Session, database_url: str, tmp_path: Path
) -> None:
    team = make_team(db)
    lead = make_user(db, team=team, role=Role.LEAD)
    make_offering(
        db,
        team,
        lead,
        publish=False,
        webhook_secret=SECRET,
        fulfilment={"kind": "webhook", "url": "https://hooks.example.com/x"},
    )
    db.commit()
    before = _stored(db)
    db.rollback()
    new_key = "a-brand-new-secret-key-for-rotation"
    env = {
        "SERVICEBAY_DATABASE_URL": database_url,
        "SERVICEBAY_DATA_DIR": str(tmp_path),
        "SERVICEBAY_SECRET_KEY": new_key,
        "SERVICEBAY_PREVIOUS_SECRET_KEYS": f'["{TEST_SECRET_KEY}"]',
    }
    try:
        result = CliRunner(env=env).invoke(main, ["secrets", "rotate"])
        assert result.exit_code == 0, result.output
        assert "1 secret(s) re-encrypted" in result.output
        after = _stored(db)
        db.rollback()
        assert after != before
        crypto.configure(new_key)  # the old key is gone now
        assert crypto.decrypt(after) == SECRET
    finally:
        crypto.configure(TEST_SECRET_KEY)
