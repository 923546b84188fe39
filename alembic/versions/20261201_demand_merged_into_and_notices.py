"""Demand merged into another, and notices about demands: a merged demand says which one
it was merged into (before, it was declined with a reason naming it); in-app notices and
emails may be about a demand rather than a request.

Demands merged before this revision become merged into the demand their ``demand.merged``
event names.

Revision ID: cdb891e7fe3d
Revises: 5b1f0c2d7e94
Create Date: 2026-12-01 18:55:40.526656
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "cdb891e7fe3d"
down_revision: str | Sequence[str] | None = "5b1f0c2d7e94"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

demand = sa.table(
    "catalog_demand",
    sa.column("id", sa.Integer),
    sa.column("state", sa.String),
    sa.column("decline_reason", sa.Text),
    sa.column("merged_into_id", sa.Integer),
)
event = sa.table(
    "core_event",
    sa.column("id", sa.Integer),
    sa.column("type", sa.String),
    sa.column("data", sa.JSON),
)


def upgrade() -> None:
    with op.batch_alter_table("catalog_demand", schema=None) as batch_op:
        batch_op.add_column(sa.Column("merged_into_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_catalog_demand_merged_into_id_catalog_demand"),
            "catalog_demand",
            ["merged_into_id"],
            ["id"],
        )

    with op.batch_alter_table("requests_fulfilment_run", schema=None) as batch_op:
        batch_op.alter_column("request_id", existing_type=sa.INTEGER(), nullable=True)

    with op.batch_alter_table("requests_notification", schema=None) as batch_op:
        batch_op.add_column(sa.Column("demand_id", sa.Integer(), nullable=True))
        batch_op.alter_column("request_id", existing_type=sa.INTEGER(), nullable=True)
        batch_op.create_foreign_key(
            batch_op.f("fk_requests_notification_demand_id_catalog_demand"),
            "catalog_demand",
            ["demand_id"],
            ["id"],
            ondelete="CASCADE",
        )

    connection = op.get_bind()
    merges = connection.execute(
        sa.select(event.c.data).where(event.c.type == "demand.merged").order_by(event.c.id)
    )
    for (data,) in merges:
        connection.execute(
            sa.update(demand)
            .where(demand.c.id == int(data["demand"]), demand.c.state == "declined")
            .values(state="merged", decline_reason="", merged_into_id=int(data["into"]))
        )


def downgrade() -> None:
    connection = op.get_bind()
    merged = connection.execute(
        sa.select(demand.c.id, demand.c.merged_into_id).where(demand.c.state == "merged")
    )
    for demand_id, into in merged.all():
        connection.execute(
            sa.update(demand)
            .where(demand.c.id == demand_id)
            .values(state="declined", decline_reason=f"Merged into #{into}")
        )
    # What was about a demand only has no place in the older schema.
    connection.execute(sa.text("DELETE FROM requests_notification WHERE request_id IS NULL"))
    without_request = "SELECT id FROM requests_fulfilment_run WHERE request_id IS NULL"
    for table in ("requests_run_log_line", "requests_run_attempt"):
        connection.execute(sa.text(f"DELETE FROM {table} WHERE run_id IN ({without_request})"))
    connection.execute(sa.text("DELETE FROM requests_fulfilment_run WHERE request_id IS NULL"))

    with op.batch_alter_table("requests_notification", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_requests_notification_demand_id_catalog_demand"), type_="foreignkey"
        )
        batch_op.alter_column("request_id", existing_type=sa.INTEGER(), nullable=False)
        batch_op.drop_column("demand_id")

    with op.batch_alter_table("requests_fulfilment_run", schema=None) as batch_op:
        batch_op.alter_column("request_id", existing_type=sa.INTEGER(), nullable=False)

    with op.batch_alter_table("catalog_demand", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_catalog_demand_merged_into_id_catalog_demand"), type_="foreignkey"
        )
        batch_op.drop_column("merged_into_id")
