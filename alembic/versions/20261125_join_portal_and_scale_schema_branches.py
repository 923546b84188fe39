"""join portal and scale schema branches

Revision ID: 95a3aed95930
Revises: 81c258771440, 8d7870a219bb
Create Date: 2026-11-25 16:57:16.377859
"""

from collections.abc import Sequence

revision: str = "95a3aed95930"
down_revision: str | Sequence[str] | None = ("81c258771440", "8d7870a219bb")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
