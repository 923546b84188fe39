"""Scale: fulfilment runs remember the id of the HTTP request that created them.

Revision ID: 8d7870a219bb
Revises: 8e2f6f8370ae
Create Date: 2026-11-25 16:17:21.469158
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "8d7870a219bb"
down_revision: str | Sequence[str] | None = "8e2f6f8370ae"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("requests_fulfilment_run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("correlation_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("requests_fulfilment_run", schema=None) as batch_op:
        batch_op.drop_column("correlation_id")
