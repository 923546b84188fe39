"""Fulfilment pipelines: every run and task belongs to a step of its offering's pipeline.

A single fulfilment is a pipeline of one step named ``fulfil``; the runs and tasks made
before pipelines are that step (position 0), and a succeeded run's outputs are the
request's.

Revision ID: 5b8e2f7a9c14
Revises: 4e2b7d9c1a35
Create Date: 2026-12-01 23:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "5b8e2f7a9c14"
down_revision: str | Sequence[str] | None = "4e2b7d9c1a35"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("requests_fulfilment_run") as batch:
        batch.add_column(sa.Column("step", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(
            sa.Column("step_name", sa.String(length=64), server_default="fulfil", nullable=False)
        )
        batch.add_column(sa.Column("outputs", sa.JSON(), nullable=True))
    with op.batch_alter_table("requests_task") as batch:
        batch.add_column(sa.Column("step", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("outputs", sa.JSON(), nullable=True))
    run = sa.table(
        "requests_fulfilment_run",
        sa.column("request_id", sa.Integer()),
        sa.column("kind", sa.String()),
        sa.column("status", sa.String()),
        sa.column("outputs", sa.JSON()),
    )
    request = sa.table(
        "requests_request", sa.column("id", sa.Integer()), sa.column("outputs", sa.JSON())
    )
    op.execute(
        run.update()
        .where(run.c.kind == "fulfil", run.c.status == "succeeded")
        .values(
            outputs=sa.select(request.c.outputs)
            .where(request.c.id == run.c.request_id)
            .scalar_subquery()
        )
    )


def downgrade() -> None:
    with op.batch_alter_table("requests_task") as batch:
        batch.drop_column("outputs")
        batch.drop_column("step")
    with op.batch_alter_table("requests_fulfilment_run") as batch:
        batch.drop_column("outputs")
        batch.drop_column("step_name")
        batch.drop_column("step")
