"""The flow roll-up: one row of flow facts per request, kept current by the worker.

The table starts empty: the worker's next sweep (or ``servicebay analytics rebuild``)
replays every request from the Event log into it; until then the flow views replay the
events themselves, as before.

Revision ID: 6d2a9f4c8b13
Revises: 1604ed17d8c4
Create Date: 2026-12-01 23:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op
from servicebay.core.database import UTCDateTime

revision: str = "6d2a9f4c8b13"
down_revision: str | Sequence[str] | None = "1604ed17d8c4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "analytics_request_flow",
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("offering_id", sa.Integer(), nullable=False),
        sa.Column("request_submitted_at", UTCDateTime(), nullable=False),
        sa.Column("request_closed_at", UTCDateTime(), nullable=True),
        sa.Column("sle_hours", sa.Float(), nullable=True),
        sa.Column("effort_minutes", sa.Integer(), nullable=False),
        sa.Column("imported", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("submitted_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("completed_at", UTCDateTime(), nullable=True),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.Column("status_since", UTCDateTime(), nullable=True),
        sa.Column("last_event_at", UTCDateTime(), nullable=True),
        sa.Column("manual_tasks", sa.Integer(), nullable=False),
        sa.Column("first_outcome_at", UTCDateTime(), nullable=True),
        sa.Column("first_outcome_success", sa.Boolean(), nullable=True),
        sa.Column("approval_hours", sa.Float(), nullable=False),
        sa.Column("queue_hours", sa.Float(), nullable=False),
        sa.Column("fulfilment_hours", sa.Float(), nullable=False),
        sa.Column("recovery_hours", sa.Float(), nullable=False),
        sa.Column("recoveries", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_analytics_request_flow")),
    )
    op.create_index(
        "ix_analytics_request_flow_request_closed_at",
        "analytics_request_flow",
        ["request_closed_at"],
    )


def downgrade() -> None:
    op.drop_index(
        "ix_analytics_request_flow_request_closed_at", table_name="analytics_request_flow"
    )
    op.drop_table("analytics_request_flow")
