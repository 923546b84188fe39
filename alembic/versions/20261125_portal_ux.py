"""Notification preferences: what each person wants to be told, and by email or not.

Revision ID: 81c258771440
Revises: 8e2f6f8370ae
Create Date: 2026-11-25 16:38:19.700964
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op
from servicebay.core.database import UTCDateTime

revision: str = "81c258771440"
down_revision: str | Sequence[str] | None = "8e2f6f8370ae"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "core_notification_preference",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.Boolean(), nullable=False),
        sa.Column("muted", sa.JSON(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["core_user.id"],
            name=op.f("fk_core_notification_preference_user_id_core_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_notification_preference")),
        sa.UniqueConstraint("user_id", name=op.f("uq_core_notification_preference_user_id")),
    )


def downgrade() -> None:
    op.drop_table("core_notification_preference")
