"""Add users.locale: the language a user's pages and emails are in (None: the browser's, the default).

Revision ID: 20261127_0007
Revises: 20261127_0006
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261127_0007"
down_revision: str | None = "20261127_0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("locale", sa.String(length=16), nullable=True))


def downgrade() -> None:
    op.drop_column("users", "locale")
