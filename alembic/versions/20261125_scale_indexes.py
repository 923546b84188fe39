"""Scale: fulfilment runs remember the id of the HTTP request that created them; a
full-text index serves catalog search on PostgreSQL.

Revision ID: 8d7870a219bb
Revises: 8e2f6f8370ae
Create Date: 2026-11-25 16:17:21.469158
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "8d7870a219bb"
down_revision: str | Sequence[str] | None = "8e2f6f8370ae"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# The very expression catalog/search.py searches (its _document); keep the two the same.
SEARCH_DOCUMENT = (
    "setweight(to_tsvector('simple', coalesce(name, '')), 'A') || "
    "setweight(to_tsvector('simple', coalesce(CAST(tags AS VARCHAR), '')), 'B') || "
    "setweight(to_tsvector('simple', coalesce(category, '')), 'C') || "
    "setweight(to_tsvector('simple', coalesce(summary, '')), 'D')"
)


def upgrade() -> None:
    with op.batch_alter_table("requests_fulfilment_run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("correlation_id", sa.String(length=64), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE INDEX ix_catalog_offering_search ON catalog_offering "
            f"USING gin (({SEARCH_DOCUMENT}))"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_catalog_offering_search")
    with op.batch_alter_table("requests_fulfilment_run", schema=None) as batch_op:
        batch_op.drop_column("correlation_id")
