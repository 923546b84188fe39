"""Sign-in with an OpenID Connect provider: the link from a provider's person (issuer and
subject) to a user, the sign-ins sent to the provider and not yet back, and the ID token
a browser session began with (to sign out at the provider too).

Revision ID: 5b7e0c2d9a41
Revises: 3829699554a6
Create Date: 2026-12-01 19:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op
from servicebay.core.database import UTCDateTime

revision: str = "5b7e0c2d9a41"
down_revision: str | Sequence[str] | None = "3829699554a6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "core_external_identity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("issuer", sa.String(length=500), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["core_user.id"],
            name=op.f("fk_core_external_identity_user_id_core_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_external_identity")),
        sa.UniqueConstraint(
            "issuer", "subject", name=op.f("uq_core_external_identity_issuer_subject")
        ),
    )
    op.create_table(
        "core_sign_in_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("state_hash", sa.String(length=64), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("code_verifier", sa.String(length=128), nullable=False),
        sa.Column("next_path", sa.String(length=2000), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_sign_in_attempt")),
        sa.UniqueConstraint("state_hash", name=op.f("uq_core_sign_in_attempt_state_hash")),
    )
    op.create_index(
        op.f("ix_core_sign_in_attempt_created_at"),
        "core_sign_in_attempt",
        ["created_at"],
        unique=False,
    )
    with op.batch_alter_table("core_user_session") as batch_op:
        batch_op.add_column(sa.Column("provider_id_token", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("core_user_session") as batch_op:
        batch_op.drop_column("provider_id_token")
    op.drop_index(op.f("ix_core_sign_in_attempt_created_at"), table_name="core_sign_in_attempt")
    op.drop_table("core_sign_in_attempt")
    op.drop_table("core_external_identity")
