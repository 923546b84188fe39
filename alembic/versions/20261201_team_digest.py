"""A team's retrospective digest: its cadence in days (weekly by default) and the last
window the worker sent.

Revision ID: 4e2b7d9c1a35
Revises: 3f6b2d8e1a47
Create Date: 2026-12-01 20:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op
from servicebay.core.database import UTCDateTime

revision: str = "4e2b7d9c1a35"
down_revision: str | Sequence[str] | None = "3f6b2d8e1a47"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "analytics_team_digest",
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("cadence_days", sa.Integer(), nullable=False),
        sa.Column("sent_through", sa.Date(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["core_team.id"],
            name=op.f("fk_analytics_team_digest_team_id_core_team"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("team_id", name=op.f("pk_analytics_team_digest")),
    )


def downgrade() -> None:
    op.drop_table("analytics_team_digest")
