"""Chat destinations: a chat incoming-webhook URL (encrypted) per team and per person.

Revision ID: 5b0c1d2e7f3a
Revises: 5b7e0c2d9a41
Create Date: 2026-12-01 19:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "5b0c1d2e7f3a"
down_revision: str | Sequence[str] | None = "5b7e0c2d9a41"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "core_chat_destination",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("topics", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "(user_id IS NULL) <> (team_id IS NULL)",
            name=op.f("ck_core_chat_destination_one_owner"),
        ),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["core_team.id"],
            name=op.f("fk_core_chat_destination_team_id_core_team"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_id"],
            ["core_user.id"],
            name=op.f("fk_core_chat_destination_updated_by_id_core_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["core_user.id"],
            name=op.f("fk_core_chat_destination_user_id_core_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_chat_destination")),
        sa.UniqueConstraint("team_id", name=op.f("uq_core_chat_destination_team_id")),
        sa.UniqueConstraint("user_id", name=op.f("uq_core_chat_destination_user_id")),
    )


def downgrade() -> None:
    op.drop_table("core_chat_destination")
