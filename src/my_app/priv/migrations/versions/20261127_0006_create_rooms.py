"""Create rooms and room_memberships (the chat context behind `room:<slug>` channels).

Revision ID: 20261127_0006
Revises: 20261127_0005
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261127_0006"
down_revision: str | None = "20261127_0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rooms",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("inserted_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("rooms_pkey")),
        sa.UniqueConstraint("slug", name=op.f("rooms_slug_key")),
    )
    op.create_table(
        "room_memberships",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("room_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["room_id"], ["rooms.id"], name=op.f("room_memberships_room_id_fkey"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("room_memberships_user_id_fkey"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("room_memberships_pkey")),
        sa.UniqueConstraint("room_id", "user_id", name=op.f("room_memberships_room_id_user_id_key")),
    )
    op.create_index(op.f("room_memberships_user_id_index"), "room_memberships", ["user_id"])


def downgrade() -> None:
    op.drop_table("room_memberships")
    op.drop_table("rooms")
