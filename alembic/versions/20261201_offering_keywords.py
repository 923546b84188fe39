"""Offering keywords: other words people search for an offering by, set by its owner
team. Search now matches words in each process (catalog/search_index.py) on every
database, so the PostgreSQL full-text index it no longer reads is dropped.

Revision ID: 5b1f0c2d7e94
Revises: 5b1f0c2a9d47
Create Date: 2026-12-01 19:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "5b1f0c2d7e94"
down_revision: str | Sequence[str] | None = "5b1f0c2a9d47"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The full-text document of the dropped index, as 20261125_scale_indexes made it.
SEARCH_DOCUMENT = (
    "setweight(to_tsvector('simple', coalesce(name, '')), 'A') || "
    "setweight(to_tsvector('simple', coalesce(CAST(tags AS VARCHAR), '')), 'B') || "
    "setweight(to_tsvector('simple', coalesce(category, '')), 'C') || "
    "setweight(to_tsvector('simple', coalesce(summary, '')), 'D')"
)


def upgrade() -> None:
    with op.batch_alter_table("catalog_offering", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("keywords", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_catalog_offering_search")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE INDEX ix_catalog_offering_search ON catalog_offering "
            f"USING gin (({SEARCH_DOCUMENT}))"
        )
    with op.batch_alter_table("catalog_offering", schema=None) as batch_op:
        batch_op.drop_column("keywords")
