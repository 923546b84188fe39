"""Worker heartbeats: a row per running worker process, beaten every second or so, so
that the runs of a worker that stopped are taken over without waiting for their lease.

Revision ID: 7c1d4e9a2b60
Revises: cdb891e7fe3d
Create Date: 2026-12-01 19:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op
from servicebay.core.database import UTCDateTime

revision: str = "7c1d4e9a2b60"
down_revision: str | Sequence[str] | None = "cdb891e7fe3d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "requests_worker_heartbeat",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("beat_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_requests_worker_heartbeat")),
    )
    op.create_index(
        "ix_requests_worker_heartbeat_beat_at",
        "requests_worker_heartbeat",
        ["beat_at"],
        unique=False,
    )
    op.create_index(
        "ix_requests_fulfilment_run_lease_owner",
        "requests_fulfilment_run",
        ["lease_owner", "status"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_requests_fulfilment_run_lease_owner", table_name="requests_fulfilment_run")
    op.drop_index("ix_requests_worker_heartbeat_beat_at", table_name="requests_worker_heartbeat")
    op.drop_table("requests_worker_heartbeat")
