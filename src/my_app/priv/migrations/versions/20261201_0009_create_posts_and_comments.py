"""Create posts and comments (the blog context).

A deleted user's posts and comments stay with author_id NULL; a post's comments go with it.

Revision ID: 20261201_0009
Revises: 20261201_0008
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261201_0009"
down_revision: str | None = "20261201_0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "posts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("slug", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column(
            "inserted_at", sa.DateTime(timezone=True), server_default=sa.text("clock_timestamp()"), nullable=False
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["author_id"], ["users.id"], name=op.f("posts_author_id_fkey"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("posts_pkey")),
        sa.UniqueConstraint("slug", name=op.f("posts_slug_key")),
    )
    op.create_index("posts_author_id_inserted_at_index", "posts", ["author_id", "inserted_at"])
    op.create_index("posts_inserted_at_id_index", "posts", ["inserted_at", "id"])
    op.create_index("posts_published_at_index", "posts", ["published_at"])
    op.create_table(
        "comments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("post_id", sa.Uuid(), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column(
            "inserted_at", sa.DateTime(timezone=True), server_default=sa.text("clock_timestamp()"), nullable=False
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["post_id"], ["posts.id"], name=op.f("comments_post_id_fkey"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["author_id"], ["users.id"], name=op.f("comments_author_id_fkey"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("comments_pkey")),
    )
    op.create_index("comments_post_id_inserted_at_index", "comments", ["post_id", "inserted_at"])
    op.create_index(op.f("comments_author_id_index"), "comments", ["author_id"])


def downgrade() -> None:
    op.drop_table("comments")
    op.drop_table("posts")
