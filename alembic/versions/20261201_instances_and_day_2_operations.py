"""Instances and day-2 operations: an offering version may say that a fulfilled request
makes an instance and which operations run on it; the instance table; a request may be
about an instance (the one it made, or the one its operation runs on); Events may name
the instance they happened to; an instance's lease (expiry, reminders sent, expiry's
decommission asked).

Revision ID: 1604ed17d8c4
Revises: 5b8e2f7a9c14
Create Date: 2026-12-01 23:07:16.817124
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op
from servicebay.core.database import UTCDateTime

revision: str = "1604ed17d8c4"
down_revision: str | Sequence[str] | None = "5b8e2f7a9c14"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "requests_instance",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("offering_id", sa.Integer(), nullable=False),
        sa.Column("offering_version_id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("outputs", sa.JSON(), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("busy_request_id", sa.Integer(), nullable=True),
        sa.Column("last_failure", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("retired_at", UTCDateTime(), nullable=True),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("reminders_sent", sa.JSON(), nullable=False),
        sa.Column("expiry_requested_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["offering_id"],
            ["catalog_offering.id"],
            name=op.f("fk_requests_instance_offering_id_catalog_offering"),
        ),
        sa.ForeignKeyConstraint(
            ["offering_version_id"],
            ["catalog_offering_version.id"],
            name=op.f("fk_requests_instance_offering_version_id_catalog_offering_version"),
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["core_user.id"], name=op.f("fk_requests_instance_owner_id_core_user")
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["core_team.id"], name=op.f("fk_requests_instance_team_id_core_team")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_requests_instance")),
    )
    with op.batch_alter_table("requests_instance", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_requests_instance_offering_id"), ["offering_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_requests_instance_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(
            "ix_requests_instance_owner_id_state", ["owner_id", "state"], unique=False
        )
        batch_op.create_index(
            "ix_requests_instance_team_id_state", ["team_id", "state"], unique=False
        )

    with op.batch_alter_table("catalog_offering_version", schema=None) as batch_op:
        batch_op.add_column(sa.Column("instances", sa.JSON(), nullable=True))

    with op.batch_alter_table("core_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("instance_id", sa.Integer(), nullable=True))
        batch_op.create_index("ix_core_event_instance_id", ["instance_id"], unique=False)

    with op.batch_alter_table("requests_request", schema=None) as batch_op:
        batch_op.add_column(sa.Column("instance_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("operation", sa.String(length=64), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_requests_request_instance_id"), ["instance_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_requests_request_instance_id_requests_instance"),
            "requests_instance",
            ["instance_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("requests_request", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_requests_request_instance_id_requests_instance"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_requests_request_instance_id"))
        batch_op.drop_column("operation")
        batch_op.drop_column("instance_id")

    with op.batch_alter_table("core_event", schema=None) as batch_op:
        batch_op.drop_index("ix_core_event_instance_id")
        batch_op.drop_column("instance_id")

    with op.batch_alter_table("catalog_offering_version", schema=None) as batch_op:
        batch_op.drop_column("instances")

    with op.batch_alter_table("requests_instance", schema=None) as batch_op:
        batch_op.drop_index("ix_requests_instance_team_id_state")
        batch_op.drop_index("ix_requests_instance_owner_id_state")
        batch_op.drop_index(batch_op.f("ix_requests_instance_offering_id"))
        batch_op.drop_index(batch_op.f("ix_requests_instance_expires_at"))

    op.drop_table("requests_instance")
