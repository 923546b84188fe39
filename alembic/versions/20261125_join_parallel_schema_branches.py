"""join parallel schema branches

Revision ID: e0d791849a1c
Revises: 86c1c55749dd, e46ed32708f6, 022c5392975e, ac84ce5064c4
Create Date: 2026-11-25 15:49:58.505931
"""

from collections.abc import Sequence

revision: str = "e0d791849a1c"
down_revision: str | Sequence[str] | None = (
    "86c1c55749dd",
    "e46ed32708f6",
    "022c5392975e",
    "ac84ce5064c4",
)
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
