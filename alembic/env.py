"""Alembic environment: the URL comes from servicebay's settings or the caller."""

from __future__ import annotations

from alembic import context
from servicebay.core.database import Base, make_engine
from servicebay.core.modules import import_models
from servicebay.core.settings import get_settings

import_models()  # every context's tables
metadata = Base.metadata

config = context.config


def _url() -> str:
    return config.attributes.get("url") or get_settings().effective_database_url


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url(), for_migrations=True)
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


def _render_item(kind: str, item: object, autogen_context: object) -> str | bool:
    if kind == "type" and type(item).__name__ == "UTCDateTime":
        return "UTCDateTime()"
    if kind == "type" and type(item).__name__ == "EncryptedText":
        return "sa.Text()"  # encrypted in Python, plain text to the database
    return False


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=metadata,
        render_as_batch=True,
        compare_type=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
