"""Catalog change token: one row replaced with every offering or team write, so that
each process knows when what it keeps of the catalog for browsing is out of date.

Revision ID: 3829699554a6
Revises: 95a3aed95930
Create Date: 2026-12-01 02:29:56.472030
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "3829699554a6"
down_revision: str | Sequence[str] | None = "95a3aed95930"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "catalog_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_change")),
    )


def downgrade() -> None:
    op.drop_table("catalog_change")
