"""A team's reporting time zone: the days its insights count, overriding the
organisation's (SERVICEBAY_REPORTING_TIMEZONE) when set.

Revision ID: 3f6b2d8e1a47
Revises: 7c1d4e9a2b60
Create Date: 2026-12-01 20:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "3f6b2d8e1a47"
down_revision: str | Sequence[str] | None = "7c1d4e9a2b60"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("core_team") as batch:
        batch.add_column(sa.Column("reporting_timezone", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("core_team") as batch:
        batch.drop_column("reporting_timezone")
