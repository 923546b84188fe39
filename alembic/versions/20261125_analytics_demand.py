"""Analytics and demand: daily roll-up, demands with votes, imported history cases.

Revision ID: ac84ce5064c4
Revises: 881e28d8bf5a
Create Date: 2026-11-25 16:29:34.646319
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op
from servicebay.core.database import UTCDateTime

revision: str = "ac84ce5064c4"
down_revision: str | Sequence[str] | None = "881e28d8bf5a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "analytics_daily_count",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("offering_id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "day", "offering_id", "type", name=op.f("pk_analytics_daily_count")
        ),
    )
    op.create_table(
        "analytics_rollup_state",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("last_event_id", sa.Integer(), nullable=False),
        sa.Column("judged_until", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_analytics_rollup_state")),
    )
    op.create_table(
        "catalog_demand",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("urgency", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("decline_reason", sa.Text(), nullable=False),
        sa.Column("votes", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("offering_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"], ["core_user.id"], name=op.f("fk_catalog_demand_author_id_core_user")
        ),
        sa.ForeignKeyConstraint(
            ["offering_id"],
            ["catalog_offering.id"],
            name=op.f("fk_catalog_demand_offering_id_catalog_offering"),
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["core_team.id"], name=op.f("fk_catalog_demand_team_id_core_team")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_demand")),
    )
    with op.batch_alter_table("catalog_demand", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_catalog_demand_state"), ["state"], unique=False)

    op.create_table(
        "catalog_demand_vote",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("demand_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["demand_id"],
            ["catalog_demand.id"],
            name=op.f("fk_catalog_demand_vote_demand_id_catalog_demand"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["core_user.id"],
            name=op.f("fk_catalog_demand_vote_user_id_core_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_demand_vote")),
        sa.UniqueConstraint(
            "demand_id", "user_id", name=op.f("uq_catalog_demand_vote_demand_id_user_id")
        ),
    )
    op.create_table(
        "requests_imported_case",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("offering_id", sa.Integer(), nullable=False),
        sa.Column("case_key", sa.String(length=200), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("imported_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["offering_id"],
            ["catalog_offering.id"],
            name=op.f("fk_requests_imported_case_offering_id_catalog_offering"),
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["requests_request.id"],
            name=op.f("fk_requests_imported_case_request_id_requests_request"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_requests_imported_case")),
        sa.UniqueConstraint(
            "offering_id", "case_key", name=op.f("uq_requests_imported_case_offering_id_case_key")
        ),
    )
    with op.batch_alter_table("requests_request", schema=None) as batch_op:
        batch_op.create_index(
            "ix_requests_request_offering_id_submitted_at",
            ["offering_id", "submitted_at"],
            unique=False,
            postgresql_include=["requester_id", "team_id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("requests_request", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_requests_request_offering_id_submitted_at",
            postgresql_include=["requester_id", "team_id"],
        )

    op.drop_table("requests_imported_case")
    op.drop_table("catalog_demand_vote")
    with op.batch_alter_table("catalog_demand", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_catalog_demand_state"))

    op.drop_table("catalog_demand")
    op.drop_table("analytics_rollup_state")
    op.drop_table("analytics_daily_count")
