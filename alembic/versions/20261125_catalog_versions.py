"""Catalog versions: visibility, deprecation, version details, quota and dry-run results.

Revision ID: 86c1c55749dd
Revises: 881e28d8bf5a
Create Date: 2026-11-25 15:39:02.243139
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op
from servicebay.core.database import UTCDateTime

revision: str = "86c1c55749dd"
down_revision: str | Sequence[str] | None = "881e28d8bf5a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("catalog_offering", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("visible_team_ids", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )
        batch_op.add_column(sa.Column("replacement_slug", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("deprecation_notice", sa.Text(), nullable=False, server_default="")
        )

    with op.batch_alter_table("catalog_offering_version", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("details", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )
        batch_op.add_column(
            sa.Column("no_input_needed", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("quota_count", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("quota_period_days", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("dry_run_status", sa.String(length=16), nullable=True))
        batch_op.add_column(
            sa.Column("dry_run_message", sa.Text(), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("dry_run_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("catalog_offering_version", schema=None) as batch_op:
        batch_op.drop_column("dry_run_at")
        batch_op.drop_column("dry_run_message")
        batch_op.drop_column("dry_run_status")
        batch_op.drop_column("quota_period_days")
        batch_op.drop_column("quota_count")
        batch_op.drop_column("no_input_needed")
        batch_op.drop_column("details")

    with op.batch_alter_table("catalog_offering", schema=None) as batch_op:
        batch_op.drop_column("deprecation_notice")
        batch_op.drop_column("replacement_slug")
        batch_op.drop_column("visible_team_ids")
