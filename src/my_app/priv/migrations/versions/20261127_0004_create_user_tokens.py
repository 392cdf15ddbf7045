"""Create user_tokens (sessions, API tokens, email tokens: hashes only); index users for paging.

Revision ID: 20261127_0004
Revises: 20261127_0003
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261127_0004"
down_revision: str | None = "20261127_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "user_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("token", sa.LargeBinary(), nullable=False),
        sa.Column("context", sa.String(length=255), nullable=False),
        sa.Column("sent_to", sa.String(length=160), nullable=True),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("authenticated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("inserted_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("user_tokens_user_id_fkey"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("user_tokens_pkey")),
        sa.UniqueConstraint("context", "token", name=op.f("user_tokens_context_token_key")),
    )
    op.create_index(op.f("user_tokens_user_id_index"), "user_tokens", ["user_id"])
    op.create_index(op.f("users_inserted_at_id_index"), "users", ["inserted_at", "id"])


def downgrade() -> None:
    op.drop_index(op.f("users_inserted_at_id_index"), table_name="users")
    op.drop_table("user_tokens")
