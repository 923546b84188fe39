"""One idempotency mechanism: the API's Idempotency-Keys and the portal's one-time form
tokens share core_idempotency_key (per user, purpose and key, with the outcome a repeat
answers with); the keys kept so far move there.

Revision ID: 5b1f0c2a9d47
Revises: 5b0c1d2e7f3a
Create Date: 2026-12-01 19:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op
from servicebay.core.database import UTCDateTime

revision: str = "5b1f0c2a9d47"
down_revision: str | Sequence[str] | None = "5b0c1d2e7f3a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SUBMISSION_KEYS = "requests.submit"

old_keys = sa.table(
    "requests_idempotency_key",
    sa.column("user_id", sa.Integer()),
    sa.column("key", sa.String()),
    sa.column("fingerprint", sa.String()),
    sa.column("request_id", sa.Integer()),
    sa.column("created_at", UTCDateTime()),
    sa.column("expires_at", UTCDateTime()),
)
new_keys = sa.table(
    "core_idempotency_key",
    sa.column("user_id", sa.Integer()),
    sa.column("purpose", sa.String()),
    sa.column("key", sa.String()),
    sa.column("fingerprint", sa.String()),
    sa.column("outcome", sa.JSON()),
    sa.column("created_at", UTCDateTime()),
    sa.column("expires_at", UTCDateTime()),
)


def upgrade() -> None:
    op.create_table(
        "core_idempotency_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.JSON(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["core_user.id"],
            name=op.f("fk_core_idempotency_key_user_id_core_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_idempotency_key")),
        sa.UniqueConstraint(
            "user_id", "purpose", "key", name=op.f("uq_core_idempotency_key_user_id_purpose_key")
        ),
    )
    with op.batch_alter_table("core_idempotency_key", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_core_idempotency_key_expires_at"), ["expires_at"], unique=False
        )

    connection = op.get_bind()
    kept = connection.execute(
        sa.select(old_keys).where(old_keys.c.request_id.is_not(None))
    ).mappings()
    rows = [
        {
            "user_id": row["user_id"],
            "purpose": SUBMISSION_KEYS,
            "key": row["key"],
            "fingerprint": row["fingerprint"],
            "outcome": {"request_id": row["request_id"]},
            "created_at": row["created_at"],
            "expires_at": row["expires_at"],
        }
        for row in kept
    ]
    if rows:
        op.bulk_insert(new_keys, rows)

    with op.batch_alter_table("requests_idempotency_key", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_requests_idempotency_key_expires_at"))
    op.drop_table("requests_idempotency_key")


def downgrade() -> None:
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

    connection = op.get_bind()
    kept = connection.execute(
        sa.select(new_keys).where(new_keys.c.purpose == SUBMISSION_KEYS)
    ).mappings()
    rows = [
        {
            "user_id": row["user_id"],
            "key": row["key"],
            "fingerprint": row["fingerprint"],
            "request_id": (row["outcome"] or {}).get("request_id"),
            "created_at": row["created_at"],
            "expires_at": row["expires_at"],
        }
        for row in kept
    ]
    if rows:
        op.bulk_insert(old_keys, rows)

    with op.batch_alter_table("core_idempotency_key", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_core_idempotency_key_expires_at"))
    op.drop_table("core_idempotency_key")
