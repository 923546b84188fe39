"""The schema comes only from the migrations, and they agree with the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

from servicebay.core import migrations
from servicebay.core.database import Base, make_engine
from servicebay.core.modules import import_all

import_all()


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
