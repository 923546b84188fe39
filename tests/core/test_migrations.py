"""The schema comes only from the migrations, and they agree with the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

from servicebay.core import migrations
from servicebay.core.database import Base, make_engine
from servicebay.core.modules import import_models

import_models()


def test_models_and_migrations_agree(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_database_is_at_the_newest_migration(engine: Engine) -> None:
    assert migrations.is_current(engine)


def test_upgrade_from_empty_creates_every_table(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    migrations.upgrade(url)
    engine = make_engine(url)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_upgrade_keeps_the_data_of_an_older_database(tmp_path) -> None:
    """A database made by the first release, with data in it, upgrades to the newest."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    migrations.upgrade(url, "881e28d8bf5a")
    engine = make_engine(url)
    now = "2026-01-01 10:00:00"
    statements = [
        f"INSERT INTO core_team (id, slug, name, created_at) VALUES (1, 'ops', 'Ops', '{now}')",
        "INSERT INTO core_user (id, username, email, display_name, is_admin, is_analyst, "
        f"is_active, created_at) VALUES (1, 'pat', 'p@x.org', 'Pat', 0, 0, 1, '{now}')",
        "INSERT INTO catalog_offering (id, slug, name, summary, description, category, tags, "
        "owner_team_id, contact, runbook_url, work_kind, status, current_version_id, "
        f"created_at, updated_at) VALUES (1, 'db', 'DB', '', '', 'Data', '[]', 1, '', '', "
        f"'standard', 'published', 1, '{now}', '{now}')",
        "INSERT INTO catalog_offering_version (id, offering_id, number, status, form, "
        "approval_policy, fulfilment, webhook_secret, cost, manual_effort_minutes, created_at) "
        "VALUES (1, 1, 1, 'published', '{}', '{}', '{\"kind\": \"plugin\", \"plugin\": \"echo\"}', "
        f"'plain-old-secret', 0, 0, '{now}')",
        "INSERT INTO requests_request (id, offering_id, offering_version_id, requester_id, "
        "inputs, outputs, status, submitted_at, updated_at) VALUES "
        f"(1, 1, 1, 1, '{{}}', '{{}}', 'completed', '{now}', '{now}')",
    ]
    with engine.begin() as connection:
        for statement in statements:
            connection.exec_driver_sql(statement)
    engine.dispose()

    migrations.upgrade(url)

    engine = make_engine(url)
    try:
        assert migrations.is_current(engine)
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT status FROM requests_request").scalar() == (
                "completed"
            )
            assert connection.exec_driver_sql("SELECT slug FROM catalog_offering").scalar() == "db"
    finally:
        engine.dispose()


def test_idempotency_keys_kept_before_the_move_to_core_still_name_their_request(
    tmp_path,
) -> None:
    """An Idempotency-Key sent before the upgrade still replays its request after it."""
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    migrations.upgrade(url, "3829699554a6")
    engine = make_engine(url)
    now = "2026-01-01 10:00:00"
    statements = [
        f"INSERT INTO core_team (id, slug, name, created_at) VALUES (1, 'ops', 'Ops', '{now}')",
        "INSERT INTO core_user (id, username, email, display_name, is_admin, is_analyst, "
        f"is_active, created_at) VALUES (1, 'pat', 'p@x.org', 'Pat', 0, 0, 1, '{now}')",
        "INSERT INTO catalog_offering (id, slug, name, summary, description, category, tags, "
        "owner_team_id, contact, runbook_url, work_kind, status, created_at, updated_at) "
        f"VALUES (1, 'db', 'DB', '', '', 'Data', '[]', 1, '', '', 'standard', 'draft', "
        f"'{now}', '{now}')",
        "INSERT INTO catalog_offering_version (id, offering_id, number, status, form, "
        "approval_policy, fulfilment, cost, manual_effort_minutes, created_at) VALUES "
        f"(1, 1, 1, 'published', '{{}}', '{{}}', '{{}}', 0, 0, '{now}')",
        "INSERT INTO requests_request (id, offering_id, offering_version_id, requester_id, "
        "inputs, outputs, status, submitted_at, updated_at) VALUES "
        f"(7, 1, 1, 1, '{{}}', '{{}}', 'completed', '{now}', '{now}')",
        "INSERT INTO requests_idempotency_key (user_id, key, fingerprint, request_id, "
        f"created_at, expires_at) VALUES (1, 'order-42', 'abc', 7, '{now}', '2099-01-01')",
    ]
    with engine.begin() as connection:
        for statement in statements:
            connection.exec_driver_sql(statement)
    engine.dispose()

    migrations.upgrade(url)

    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            kept = connection.exec_driver_sql(
                "SELECT user_id, purpose, key, fingerprint, outcome FROM core_idempotency_key"
            ).all()
    finally:
        engine.dispose()
    assert [tuple(row) for row in kept] == [
        (1, "requests.submit", "order-42", "abc", '{"request_id": 7}')
    ]
