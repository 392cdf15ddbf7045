"""SCAFFOLD (json helper, not committed): create gadgets.

Revision ID: 20261201_0011
Revises: 20261201_0010
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "20261201_0011"
down_revision: str | None = "20261201_0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "gadgets",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("slug", sa.String(length=255), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("price", sa.Numeric(), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("released_on", sa.Date(), nullable=False),
        sa.Column("opens_at", sa.Time(), nullable=False),
        sa.Column("launched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("token", sa.Uuid(), nullable=False),
        sa.Column("specs", postgresql.JSONB(), nullable=False),
        sa.Column("tags", postgresql.ARRAY(sa.String(length=255)), nullable=False),
        sa.Column("sizes", postgresql.ARRAY(sa.Integer()), nullable=False),
        sa.Column("status", sa.String(length=255), nullable=False),
        sa.Column("secret", sa.String(length=255), nullable=False),
        sa.Column("category_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column(
            "inserted_at", sa.DateTime(timezone=True), server_default=sa.text("clock_timestamp()"), nullable=False
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["category_id"], ["categories.id"], name="gadgets_category_id_fkey", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="gadgets_user_id_fkey", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="gadgets_pkey"),
        sa.UniqueConstraint("slug", name="gadgets_slug_key"),
    )
    op.create_index("gadgets_category_id_index", "gadgets", ["category_id"])
    op.create_index("gadgets_user_id_index", "gadgets", ["user_id"])


def downgrade() -> None:
    op.drop_table("gadgets")
