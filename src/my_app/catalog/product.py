"""The Product schema and its input models (the seed's `product.ex` and its changeset).

Money is a `Decimal` stored as numeric(12,2): input is a decimal string ("19.99") or a number,
never a float computation; more than two decimal places is refused rather than rounded.
"""

from __future__ import annotations

import uuid
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import pydantic
from sqlalchemy import CheckConstraint, ColumnClause, ForeignKey, Index, Integer, Numeric, String, Text, literal_column
from sqlalchemy.orm import Mapped, mapped_column, relationship

from my_app.catalog.category import Category
from my_app.changeset import Input
from my_app.schema import Base, Timestamps

NAME_MAX_LENGTH = 160
SKU_MAX_LENGTH = 64
DESCRIPTION_MAX_LENGTH = 10_000
PRICE_LIMIT = Decimal("10000000000")  # numeric(12,2): ten digits before the point
STOCK_LIMIT = 2**31  # integer column
SKU_KEY = "products_sku_key"
CATEGORY_FKEY = "products_category_id_fkey"
# The document full-text search matches; the GIN index `products_search_index` is on this exact
# expression (written out in the migration), so the planner uses it.
SEARCH_VECTOR: ColumnClause[Any] = literal_column(
    "to_tsvector('simple', products.name || ' ' || coalesce(products.description, ''))"
)


class Product(Timestamps, Base):
    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("price >= 0", name="price_must_not_be_negative"),
        CheckConstraint("stock >= 0", name="stock_must_not_be_negative"),
        # Keyset pages: newest/oldest walk (inserted_at, id), price sorts walk (price, id).
        Index("products_inserted_at_id_index", "inserted_at", "id"),
        Index("products_price_id_index", "price", "id"),
        Index("products_category_id_index", "category_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(NAME_MAX_LENGTH))
    description: Mapped[str | None] = mapped_column(Text)
    price: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    sku: Mapped[str] = mapped_column(String(SKU_MAX_LENGTH), unique=True)
    stock: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # ON DELETE RESTRICT: a category with products cannot be deleted (the context answers
    # `{"products": ["are still associated with this entry"]}`, Ecto's no_assoc_constraint).
    category_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("categories.id", ondelete="RESTRICT"))
    # Never lazy-loaded (async): list_products and get_product join it when they read a product.
    category: Mapped[Category] = relationship(lazy="raise")

    def __repr__(self) -> str:
        return f"Product(id={self.id!s}, sku={self.sku!r})"


def _money(value: Any) -> Any:
    """A decimal from a string or a number; "is invalid" for anything else (bools, NaN, "abc")."""
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ValueError("is invalid")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError("is invalid") from None
    if not amount.is_finite():
        raise ValueError("is invalid")
    return amount


def _check_price(price: Decimal) -> Decimal:
    if price < 0:
        raise ValueError("must be greater than or equal to 0")
    if price >= PRICE_LIMIT:
        raise ValueError(f"must be less than {PRICE_LIMIT}")
    exponent = price.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise ValueError("must have at most 2 decimal places")
    return price


def _whole_number(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("is invalid")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise ValueError("is invalid")


def _check_stock(stock: int) -> int:
    if stock < 0:
        raise ValueError("must be greater than or equal to 0")
    if stock >= STOCK_LIMIT:
        raise ValueError(f"must be less than {STOCK_LIMIT}")
    return stock


Money = Annotated[Decimal, pydantic.BeforeValidator(_money)]
Price = Annotated[Decimal, pydantic.BeforeValidator(_money), pydantic.AfterValidator(_check_price)]
Stock = Annotated[int, pydantic.BeforeValidator(_whole_number), pydantic.AfterValidator(_check_stock)]
Name = Annotated[str, pydantic.Field(max_length=NAME_MAX_LENGTH)]
Sku = Annotated[str, pydantic.Field(max_length=SKU_MAX_LENGTH)]
Description = Annotated[str, pydantic.Field(max_length=DESCRIPTION_MAX_LENGTH)]


class ProductInput(Input):
    """What `create_product` casts. `stock` defaults to 0."""

    name: Name
    description: Description | None = None
    price: Price
    sku: Sku
    stock: Stock = 0
    category_id: uuid.UUID


class ProductUpdate(Input):
    """What `update_product` casts: any of the fields; one named but blank is "can't be blank"."""

    name: Name | None = None
    description: Description | None = None
    price: Price | None = None
    sku: Sku | None = None
    stock: Stock | None = None
    category_id: uuid.UUID | None = None
