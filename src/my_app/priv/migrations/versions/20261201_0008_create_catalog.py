"""Create categories and products (the catalog context).

Products keep their category: ON DELETE RESTRICT (a category with products cannot be deleted).
Indexes: every foreign key and filtered column, the keyset orders (inserted_at, id) and (price, id),
and a GIN index for full-text search on name and description.

Revision ID: 20261201_0008
Revises: 20261127_0007
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261201_0008"
down_revision: str | None = "20261127_0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "categories",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("slug", sa.String(length=120), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("inserted_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("categories_pkey")),
        sa.UniqueConstraint("slug", name=op.f("categories_slug_key")),
    )
    op.create_index("categories_lower_name_index", "categories", [sa.text("lower(name)")], unique=True)
    op.create_table(
        "products",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=160), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("price", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("stock", sa.Integer(), server_default="0", nullable=False),
        sa.Column("category_id", sa.Uuid(), nullable=False),
        sa.Column("inserted_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("price >= 0", name=op.f("products_price_must_not_be_negative_check")),
        sa.CheckConstraint("stock >= 0", name=op.f("products_stock_must_not_be_negative_check")),
        sa.ForeignKeyConstraint(
            ["category_id"], ["categories.id"], name=op.f("products_category_id_fkey"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("products_pkey")),
        sa.UniqueConstraint("sku", name=op.f("products_sku_key")),
    )
    op.create_index("products_category_id_index", "products", ["category_id"])
    op.create_index("products_inserted_at_id_index", "products", ["inserted_at", "id"])
    op.create_index("products_price_id_index", "products", ["price", "id"])
    # The same expression as catalog.product.SEARCH_VECTOR, which the queries use.
    op.execute(
        "CREATE INDEX products_search_index ON products"
        " USING gin (to_tsvector('simple', name || ' ' || coalesce(description, '')))"
    )


def downgrade() -> None:
    op.drop_table("products")
    op.drop_table("categories")
