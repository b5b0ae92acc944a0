"""merge the domain branches (policy, chat, notifications, metrics, status, web, sync)

Revision ID: 0021
Revises: 0002, 0003, 0004, 0005, 0006, 0007, 0020
"""

from collections.abc import Sequence

revision: str = "0021"
down_revision: str | Sequence[str] | None = (
    "0002", "0003", "0004", "0005", "0006", "0007", "0020",
)  # fmt: skip
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
