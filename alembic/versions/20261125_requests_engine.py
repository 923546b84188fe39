"""requests engine: attempts, approvals, idempotency keys, tasks, comments, notifications

Revision ID: 022c5392975e
Revises: 881e28d8bf5a
Create Date: 2026-11-25 15:38:53.376107
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op
from servicebay.core.database import UTCDateTime

revision: str = "022c5392975e"
down_revision: str | Sequence[str] | None = "881e28d8bf5a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "requests_wip_limit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("max_tasks", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["core_team.id"],
            name=op.f("fk_requests_wip_limit_team_id_core_team"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_requests_wip_limit")),
        sa.UniqueConstraint("team_id", "status", name=op.f("uq_requests_wip_limit_team_id_status")),
    )
    op.create_table(
        "requests_approval",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("decider", sa.String(length=16), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["core_user.id"],
            name=op.f("fk_requests_approval_decided_by_id_core_user"),
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["requests_request.id"],
            name=op.f("fk_requests_approval_request_id_requests_request"),
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["core_team.id"], name=op.f("fk_requests_approval_team_id_core_team")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_requests_approval")),
        sa.UniqueConstraint(
            "request_id", "position", name=op.f("uq_requests_approval_request_id_position")
        ),
    )
    with op.batch_alter_table("requests_approval", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_requests_approval_request_id"), ["request_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_requests_approval_status"), ["status"], unique=False)

    op.create_table(
        "requests_comment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"], ["core_user.id"], name=op.f("fk_requests_comment_author_id_core_user")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["requests_request.id"],
            name=op.f("fk_requests_comment_request_id_requests_request"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_requests_comment")),
    )
    with op.batch_alter_table("requests_comment", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_requests_comment_request_id"), ["request_id"], unique=False
        )

    op.create_table(
        "requests_idempotency_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["requests_request.id"],
            name=op.f("fk_requests_idempotency_key_request_id_requests_request"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["core_user.id"],
            name=op.f("fk_requests_idempotency_key_user_id_core_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_requests_idempotency_key")),
        sa.UniqueConstraint("user_id", "key", name=op.f("uq_requests_idempotency_key_user_id_key")),
    )
    with op.batch_alter_table("requests_idempotency_key", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_requests_idempotency_key_expires_at"), ["expires_at"], unique=False
        )

    op.create_table(
        "requests_notification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("read_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["requests_request.id"],
            name=op.f("fk_requests_notification_request_id_requests_request"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["core_user.id"],
            name=op.f("fk_requests_notification_user_id_core_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_requests_notification")),
    )
    with op.batch_alter_table("requests_notification", schema=None) as batch_op:
        batch_op.create_index(
            "ix_requests_notification_user_id_read_at", ["user_id", "read_at"], unique=False
        )

    op.create_table(
        "requests_task",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("assignee_id", sa.Integer(), nullable=True),
        sa.Column("checklist", sa.JSON(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("done_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["assignee_id"], ["core_user.id"], name=op.f("fk_requests_task_assignee_id_core_user")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["requests_request.id"],
            name=op.f("fk_requests_task_request_id_requests_request"),
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["core_team.id"], name=op.f("fk_requests_task_team_id_core_team")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_requests_task")),
    )
    with op.batch_alter_table("requests_task", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_requests_task_request_id"), ["request_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_requests_task_team_id"), ["team_id"], unique=False)

    op.create_table(
        "requests_run_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["requests_fulfilment_run.id"],
            name=op.f("fk_requests_run_attempt_run_id_requests_fulfilment_run"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_requests_run_attempt")),
        sa.UniqueConstraint(
            "run_id", "attempt", name=op.f("uq_requests_run_attempt_run_id_attempt")
        ),
    )
    with op.batch_alter_table("requests_run_attempt", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_requests_run_attempt_run_id"), ["run_id"], unique=False
        )

    with op.batch_alter_table("requests_fulfilment_run", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=16), nullable=False, server_default="fulfil")
        )
        batch_op.add_column(
            sa.Column("payload", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )

    with op.batch_alter_table("requests_request", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rating", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("rating_comment", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("rated_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("requests_request", schema=None) as batch_op:
        batch_op.drop_column("rated_at")
        batch_op.drop_column("rating_comment")
        batch_op.drop_column("rating")

    with op.batch_alter_table("requests_fulfilment_run", schema=None) as batch_op:
        batch_op.drop_column("payload")
        batch_op.drop_column("kind")

    with op.batch_alter_table("requests_run_attempt", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_requests_run_attempt_run_id"))

    op.drop_table("requests_run_attempt")
    with op.batch_alter_table("requests_task", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_requests_task_team_id"))
        batch_op.drop_index(batch_op.f("ix_requests_task_request_id"))

    op.drop_table("requests_task")
    with op.batch_alter_table("requests_notification", schema=None) as batch_op:
        batch_op.drop_index("ix_requests_notification_user_id_read_at")

    op.drop_table("requests_notification")
    with op.batch_alter_table("requests_idempotency_key", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_requests_idempotency_key_expires_at"))

    op.drop_table("requests_idempotency_key")
    with op.batch_alter_table("requests_comment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_requests_comment_request_id"))

    op.drop_table("requests_comment")
    with op.batch_alter_table("requests_approval", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_requests_approval_status"))
        batch_op.drop_index(batch_op.f("ix_requests_approval_request_id"))

    op.drop_table("requests_approval")
    op.drop_table("requests_wip_limit")
