"""The Catalog context: categories and the products in them (the seed's `catalog.ex`).

Reads are public: any `Scope`, a visitor's (`Scope.for_user(None)`) included. Writes are for
admins (and `Scope.for_system()`, the CLI and seeds); anyone else gets ForbiddenError and nothing
is written. Every function runs in one transaction; after a write commits it is announced on
`CATEGORIES_TOPIC` / `PRODUCTS_TOPIC` as `{"id": "<uuid>"}`, whichever door it came through.

A category with products cannot be deleted (the foreign key is ON DELETE RESTRICT): its products
are moved or deleted first, so no product is ever left without a category.

Reads of categories (the list and one by id) and of one product are cached (`my_app.cache`) and
never stale: each write wraps its transaction in `cache.writing(...)` of the states those reads
depend on (`catalog:categories`; `catalog:product:<id>`, with the categories, since a product shows
its category), so the cache has moved on before the function returns. The cache keeps plain column
values; the functions rebuild `Category`/`Product` objects from them, hit or miss alike.

`list_products(scope, filters)` filters by category, price range and a full-text query, sorts
(`newest`, `oldest`, `price_asc`, `price_desc`) and pages by keyset: the cursor holds the last
row's sort key and id, so pages never repeat or skip rows while others are inserted.
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, NoReturn

import orjson
import pydantic
from sqlalchemy import ColumnClause, Select, bindparam, func, literal_column, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager, with_expression

from my_app import cache, pubsub, repo
from my_app.accounts.scope import Scope
from my_app.catalog.category import NAME_INDEX, SLUG_KEY, Category, CategoryInput, CategoryUpdate
from my_app.catalog.export import stream_products
from my_app.catalog.product import CATEGORY_FKEY, SEARCH_VECTOR, SKU_KEY, Money, Product, ProductInput, ProductUpdate
from my_app.changeset import Changeset, Input, cast, change, update_changes
from my_app.constraints import foreign_key_violation, unique_violation
from my_app.encoding import b64url_decode, b64url_encode
from my_app.errors import ForbiddenError, NotFoundError, ValidationError
from my_app.pagination import Page, check_limit
from my_app.schema import parse_id

__all__ = [
    "CATEGORIES_TOPIC",
    "PRODUCTS_TOPIC",
    "QUERY_MAX_LENGTH",
    "SORTS",
    "Category",
    "CategoryEvent",
    "Product",
    "ProductEvent",
    "ProductFilters",
    "Sort",
    "cache_states",
    "change_category",
    "change_product",
    "create_category",
    "create_product",
    "delete_category",
    "delete_product",
    "get_category",
    "get_category_by_slug",
    "get_category_or_404",
    "get_product",
    "get_product_by_sku",
    "get_product_or_404",
    "list_categories",
    "list_categories_with_product_counts",
    "list_products",
    "stream_products",
    "update_category",
    "update_product",
]

CATEGORIES_TOPIC = "catalog:categories"
PRODUCTS_TOPIC = "catalog:products"
CategoryEvent = Literal["category_created", "category_updated", "category_deleted"]
ProductEvent = Literal["product_created", "product_updated", "product_deleted"]
Sort = Literal["newest", "oldest", "price_asc", "price_desc"]
SORTS: tuple[Sort, ...] = ("newest", "oldest", "price_asc", "price_desc")
QUERY_MAX_LENGTH = 200
_TAKEN = ["has already been taken"]
_CATEGORY_TAKEN = {NAME_INDEX: "name", SLUG_KEY: "slug"}


class ProductFilters(Input):
    """What `list_products` takes (all optional); bad values are ValidationError, as any input."""

    category_id: uuid.UUID | None = None
    min_price: Money | None = None
    max_price: Money | None = None
    q: str | None = pydantic.Field(default=None, max_length=QUERY_MAX_LENGTH)
    sort: Sort = "newest"
    limit: int | None = None
    cursor: str | None = None


# --- Categories ---


async def list_categories(scope: Scope) -> list[Category]:
    """Every category, by name (any letter case); public; cached.

    Examples:
        await list_categories(Scope.for_user(None))  # [Category(slug="books"), Category(slug="games")]
    """
    rows = await cache.fetch("catalog:categories:all", (_CATEGORIES_STATE,), _load_categories)
    return [_category(row) for row in rows]


async def list_categories_with_product_counts(scope: Scope) -> list[Category]:
    """Every category by name, each with `product_count` (one SELECT, not cached: the admin pages'
    list, where the count says which categories can be deleted); public, as the catalog's reads.

    Examples:
        [(c.slug, c.product_count) for c in await list_categories_with_product_counts(scope)]
        # [("books", 12), ("games", 0)]
    """
    count = (
        select(func.count(Product.id)).where(Product.category_id == Category.id).correlate(Category).scalar_subquery()
    )
    statement = select(Category).options(with_expression(Category.product_count, count)).order_by(*_BY_NAME)
    async with repo.read() as session:
        return list(await session.scalars(statement))


async def get_category(scope: Scope, category_id: uuid.UUID | str) -> Category | None:
    """The category with this id, or None (also for a malformed id); public.

    Examples:
        await get_category(Scope.for_user(None), books.id)  # Category(slug="books")
        await get_category(Scope.for_user(None), "oops")    # None
    """
    key = parse_id(category_id)
    if key is None:
        return None
    row = await cache.fetch(f"catalog:category:{key}", (_CATEGORIES_STATE,), lambda: _load_category(key))
    return None if row is None else _category(row)


async def get_category_or_404(scope: Scope, category_id: uuid.UUID | str) -> Category:
    """The category with this id (`get_category!`); NotFoundError when there is none or the id is malformed."""
    category = await get_category(scope, category_id)
    if category is None:
        raise NotFoundError("category", category_id)
    return category


async def get_category_by_slug(scope: Scope, slug: str) -> Category | None:
    """The category with this slug (a page's `/categories/tea`), or None; public."""
    async with repo.read() as session:
        return await session.scalar(select(Category).where(Category.slug == slug))


async def create_category(scope: Scope, attrs: Mapping[str, Any]) -> Category:
    """Create a category; admins only. A taken name (any letter case) or slug: "has already been taken".

    Examples:
        await create_category(Scope.for_system(), {"name": "Books", "slug": "books"})  # Category(...)
        await create_category(Scope.for_user(ada), {...})             # ForbiddenError
        await create_category(admin_scope, {"name": "BOOKS", "slug": "b2"})  # ValidationError({"name": [taken]})
    """
    _require_admin(scope)
    data = cast(CategoryInput, attrs)
    category = Category(**data.model_dump())
    try:
        async with cache.writing(_CATEGORIES_STATE), repo.transaction() as session:
            session.add(category)
            await session.flush()
            await session.refresh(category)
    except IntegrityError as exc:
        _raise_taken(exc, _CATEGORY_TAKEN)
    await _broadcast(CATEGORIES_TOPIC, "category_created", category.id)
    return category


async def update_category(scope: Scope, category: Category, attrs: Mapping[str, Any]) -> Category:
    """Change a category's name, slug or description; admins only.

    Examples:
        await update_category(admin_scope, books, {"description": "Paper"})  # Category(...)
        await update_category(admin_scope, books, {"name": ""})  # ValidationError({"name": ["can't be blank"]})
    """
    _require_admin(scope)
    changes = update_changes(CategoryUpdate, attrs, optional={"description"})
    try:
        async with cache.writing(_CATEGORIES_STATE), repo.transaction() as session:
            record = await repo.update(session, Category, category.id, changes)
            await session.refresh(record)
    except IntegrityError as exc:
        _raise_taken(exc, _CATEGORY_TAKEN)
    await _broadcast(CATEGORIES_TOPIC, "category_updated", record.id)
    return record


async def delete_category(scope: Scope, category: Category) -> Category:
    """Delete a category; admins only. One that still has products is refused (ValidationError
    `{"products": ["are still associated with this entry"]}`) and nothing is deleted.
    """
    _require_admin(scope)
    try:
        async with cache.writing(_CATEGORIES_STATE), repo.transaction() as session:
            record = await session.get(Category, category.id)
            if record is None:
                raise NotFoundError("category", category.id)
            await session.delete(record)
            await session.flush()
    except IntegrityError as exc:
        if foreign_key_violation(exc) == CATEGORY_FKEY:
            raise ValidationError({"products": ["are still associated with this entry"]}) from None
        raise
    await _broadcast(CATEGORIES_TOPIC, "category_deleted", category.id)
    return category


def change_category(category: Category | None, attrs: Mapping[str, Any] | None = None) -> Changeset[Category | None]:
    """`attrs` validated as creating (no `category`) or updating `category` would take them; writes nothing."""
    if category is None:
        return change(CategoryInput, None, attrs or {})
    return _change(CategoryUpdate, category, attrs or {}, optional={"description"})


# --- Products ---


async def list_products(scope: Scope, filters: Mapping[str, Any] | None = None) -> Page[Product]:
    """One page of products with their category loaded (one query); public.

    Filters (all optional): `category_id`, `min_price`, `max_price` (inclusive), `q` (full text,
    web-search syntax: `red -blue "exact words"`), `sort` (`newest` by default, `oldest`,
    `price_asc`, `price_desc`), `limit` (1..100, 20 by default), `cursor` (`next_cursor` of the
    previous page, with the same sort). Bad values raise ValidationError.

    Examples:
        page = await list_products(Scope.for_user(None), {"q": "tea", "max_price": "10"})
        await list_products(scope, {"sort": "price_asc", "cursor": page.next_cursor})
        await list_products(scope, {"min_price": "abc"})  # ValidationError({"min_price": ["is invalid"]})
    """
    params = cast(ProductFilters, filters or {})
    size = check_limit(params.limit)
    values: dict[str, Any] = {"limit": size + 1}  # one row more than asked: is there a next page?
    for name in ("category_id", "min_price", "max_price"):
        if (value := getattr(params, name)) is not None:
            values[name] = value
    search: SearchKind | None = None
    if params.q:
        search, values["q"] = _search_terms(params.q)
    if params.cursor:
        values["after_key"], values["after_id"] = _decode_cursor(params.cursor, params.sort)
    rows = await repo.fetch_all(_products_page(frozenset(values), search, params.sort), **values)
    items, more = [_loaded_product(row) for row in rows[:size]], len(rows) > size
    next_cursor = _encode_cursor(items[-1], params.sort) if more and items else None
    return Page(items=items, limit=size, next_cursor=next_cursor)


async def get_product(scope: Scope, product_id: uuid.UUID | str) -> Product | None:
    """The product with this id and its category, or None (also for a malformed id); public; cached."""
    key = parse_id(product_id)
    if key is None:
        return None
    states = (_product_state(key), _CATEGORIES_STATE)
    row = await cache.fetch(f"catalog:product:{key}", states, lambda: _load_product(key))
    return None if row is None else _product(row)


async def get_product_or_404(scope: Scope, product_id: uuid.UUID | str) -> Product:
    """The product with this id (`get_product!`); NotFoundError when there is none or the id is malformed."""
    product = await get_product(scope, product_id)
    if product is None:
        raise NotFoundError("product", product_id)
    return product


async def get_product_by_sku(scope: Scope, sku: str) -> Product | None:
    """The product with this SKU and its category, or None; public."""
    async with repo.read() as session:
        return await session.scalar(_product_query().where(Product.sku == sku))


async def create_product(scope: Scope, attrs: Mapping[str, Any]) -> Product:
    """Create a product (its category loaded); admins only.

    Examples:
        await create_product(admin_scope, {"name": "Tea", "price": "4.50", "sku": "TEA-1", "category_id": c.id})
        await create_product(admin_scope, {..., "price": "-1"})
        # ValidationError({"price": ["must be greater than or equal to 0"]})
        await create_product(admin_scope, {..., "sku": taken})  # ValidationError({"sku": ["has already been taken"]})
        await create_product(Scope.for_user(ada), {...})        # ForbiddenError
    """
    _require_admin(scope)
    data = cast(ProductInput, attrs)
    return await _write_product(None, data.model_dump(), "product_created")


async def update_product(scope: Scope, product: Product, attrs: Mapping[str, Any]) -> Product:
    """Change a product; admins only. Named but blank required fields are "can't be blank"."""
    _require_admin(scope)
    changes = update_changes(ProductUpdate, attrs, optional={"description"})
    return await _write_product(product.id, changes, "product_updated")


async def delete_product(scope: Scope, product: Product) -> Product:
    """Delete a product; admins only."""
    _require_admin(scope)
    async with cache.writing(_product_state(product.id)), repo.transaction() as session:
        record = await session.get(Product, product.id)
        if record is None:
            raise NotFoundError("product", product.id)
        await session.delete(record)
    await _broadcast(PRODUCTS_TOPIC, "product_deleted", product.id)
    return product


def change_product(product: Product | None, attrs: Mapping[str, Any] | None = None) -> Changeset[Product | None]:
    """`attrs` validated as creating (no `product`) or updating `product` would take them; writes nothing."""
    if product is None:
        return change(ProductInput, None, attrs or {})
    return _change(ProductUpdate, product, attrs or {}, optional={"description"})


# --- Helpers ---

# Both category lists (the cached one and the admin's, with counts) in the same order.
_BY_NAME = (func.lower(Category.name), Category.id)
_SIMPLE: ColumnClause[str] = literal_column("'simple'")  # a literal, as in the GIN index's expression
_PLAIN_WORDS = re.compile(r"\w+(?:\s+\w+)*")


SearchKind = Literal["prefixes", "websearch"]


def _search_terms(q: str) -> tuple[SearchKind, str]:
    r"""Plain words match as prefixes, all of them ("oolo gre" finds "Green Oolong": search as you type);
    anything else (`"a phrase"`, `-word`, `or`) is websearch_to_tsquery's syntax. Words are `\w+` only,
    so nothing of the tsquery syntax reaches `to_tsquery` (and it is a bound parameter anyway)."""
    words = q.split()
    if _PLAIN_WORDS.fullmatch(q.strip()) and "or" not in (word.lower() for word in words):
        return "prefixes", " & ".join(f"{word}:*" for word in words)
    return "websearch", q


@functools.cache
def _products_page(given: frozenset[str], search: SearchKind | None, sort: Sort) -> repo.Query:
    """`list_products`' statement for these filters (the names of the values it is given), this kind
    of search and this sort: built and compiled once for each combination that is asked for (at most
    2^5 x 3 x 4), then run on the driver with the request's values."""
    statement = _PRODUCT_ROWS
    if "category_id" in given:
        statement = statement.where(Product.category_id == bindparam("category_id"))
    if "min_price" in given:
        statement = statement.where(Product.price >= bindparam("min_price"))
    if "max_price" in given:
        statement = statement.where(Product.price <= bindparam("max_price"))
    if search is not None:
        to_query = func.to_tsquery if search == "prefixes" else func.websearch_to_tsquery
        statement = statement.where(SEARCH_VECTOR.op("@@")(to_query(_SIMPLE, bindparam("q"))))
    key, descending = _sort_key(sort)
    if "after_id" in given:
        after, bound = tuple_(key, Product.id), tuple_(bindparam("after_key"), bindparam("after_id"))
        statement = statement.where(after < bound if descending else after > bound)
    order = [key.desc(), Product.id.desc()] if descending else [key.asc(), Product.id.asc()]
    return repo.Query(statement.order_by(*order).limit(bindparam("limit")))


def _loaded_product(row: Sequence[Any]) -> Product:
    """A product and its category (detached, as a session would have loaded them) from one row of both."""
    split = len(_PRODUCT)
    product = _PRODUCT.load(row[:split])
    product.__dict__["category"] = _CATEGORY.load(row[split:])  # where eager loading puts it
    return product


def _product_query() -> Select[Product]:
    return select(Product).join(Product.category).options(contains_eager(Product.category))


async def _write_product(product_id: uuid.UUID | None, changes: Mapping[str, Any], event: ProductEvent) -> Product:
    # A new product's id is chosen here, so its write moves its cache state as an update's does.
    target = uuid.uuid4() if product_id is None else product_id
    try:
        async with cache.writing(_product_state(target)), repo.transaction() as session:
            if product_id is None:
                record = Product(id=target, **changes)
                session.add(record)
                await session.flush()
            else:
                record = await repo.update(session, Product, target, changes)
            # Read back as the API shows it: server-set timestamps and the category, in one query.
            session.expunge(record)
            loaded = await session.scalar(_product_query().where(Product.id == record.id))
    except IntegrityError as exc:
        if foreign_key_violation(exc) == CATEGORY_FKEY:
            raise ValidationError({"category_id": ["does not exist"]}) from None
        _raise_taken(exc, {SKU_KEY: "sku"})
    assert loaded is not None  # noqa: S101 - just written in this transaction
    await _broadcast(PRODUCTS_TOPIC, event, loaded.id)
    return loaded


# --- Cached reads: plain column values in the cache, objects rebuilt from them ---

_CATEGORIES_STATE = "catalog:categories"  # every category read, and every product read (it shows its category)
_CATEGORY = repo.Columns(Category)
_PRODUCT = repo.Columns(Product)
# A product and its category as columns, for the reads on the driver (`_loaded_product`).
_PRODUCT_ROWS = select(*_PRODUCT.attributes, *_CATEGORY.attributes).select_from(Product).join(Product.category)
_PRODUCT_BY_ID = repo.Query(_PRODUCT_ROWS.where(Product.id == bindparam("id")))
Row = dict[str, Any]


def cache_states(topic: str, payload: Mapping[str, Any]) -> tuple[str, ...]:
    """The cache states a write announced on `topic` changed (a `mem://` cache forgets them when
    another process writes: see `my_app.cache`); `()` for any other topic.

    Examples:
        cache_states(PRODUCTS_TOPIC, {"id": "0c1d..."})  # ("catalog:product:0c1d...",)
        cache_states(CATEGORIES_TOPIC, {"id": "6a0f..."})  # ("catalog:categories",)
    """
    if topic == CATEGORIES_TOPIC:
        return (_CATEGORIES_STATE,)
    if topic == PRODUCTS_TOPIC and isinstance(payload.get("id"), str):
        return (f"catalog:product:{payload['id']}",)
    return ()


def _product_state(product_id: uuid.UUID) -> str:
    return f"catalog:product:{product_id}"


def _columns(record: Category | Product, columns: tuple[str, ...]) -> Row:
    return {column: getattr(record, column) for column in columns}


def _category(row: Row) -> Category:
    """A Category (transient: belongs to no session) from its cached column values."""
    return Category(**row)


def _product(row: tuple[Row, Row]) -> Product:
    """A Product with its category (detached, as loaded) from the cached column values of both."""
    product_row, category_row = row
    return _loaded_product(
        [*(product_row[key] for key in _PRODUCT.keys), *(category_row[key] for key in _CATEGORY.keys)]
    )


async def _load_categories() -> tuple[Row, ...]:
    async with repo.read() as session:
        records = await session.scalars(select(Category).order_by(*_BY_NAME))
        return tuple(_columns(record, _CATEGORY.keys) for record in records)


async def _load_category(category_id: uuid.UUID) -> Row | None:
    async with repo.read() as session:
        record = await session.get(Category, category_id)
    return None if record is None else _columns(record, _CATEGORY.keys)


async def _load_product(product_id: uuid.UUID) -> tuple[Row, Row] | None:
    row = await repo.fetch_one(_PRODUCT_BY_ID, id=product_id)
    if row is None:
        return None
    split = len(_PRODUCT)
    return dict(zip(_PRODUCT.keys, row[:split], strict=True)), dict(zip(_CATEGORY.keys, row[split:], strict=True))


def _sort_key(sort: Sort) -> tuple[Any, bool]:
    """The column a sort walks (with `id` after it) and whether it walks downwards."""
    if sort == "newest":
        return Product.inserted_at, True
    if sort == "oldest":
        return Product.inserted_at, False
    return Product.price, sort == "price_desc"


def _encode_cursor(product: Product, sort: Sort) -> str:
    value = product.inserted_at.isoformat() if sort in {"newest", "oldest"} else str(product.price)
    return b64url_encode(orjson.dumps([sort, value, str(product.id)]))


def _decode_cursor(cursor: str, sort: Sort) -> tuple[datetime | Decimal, uuid.UUID]:
    """The sort key inside a cursor handed out for this sort; ValidationError for anything else."""
    try:
        decoded = b64url_decode(cursor)
        if decoded is None:
            raise ValueError(cursor)
        cursor_sort, value, row_id = orjson.loads(decoded)
        if cursor_sort != sort or not isinstance(value, str):
            raise ValueError(cursor)
        key: datetime | Decimal
        if sort in {"newest", "oldest"}:
            key = datetime.fromisoformat(value)
            if key.tzinfo is None:
                raise ValueError(cursor)
        else:
            key = Decimal(value)
            if not key.is_finite():
                raise ValueError(cursor)
        return key, uuid.UUID(row_id)
    except (ValueError, TypeError, ArithmeticError, orjson.JSONDecodeError):
        raise ValidationError({"cursor": ["is invalid"]}) from None


def _change(model: type[Input], record: Any, attrs: Mapping[str, Any], *, optional: set[str]) -> Changeset[Any]:
    try:
        return Changeset(data=record, changes=update_changes(model, attrs, optional=optional))
    except ValidationError as exc:
        return Changeset(data=record, changes=dict(attrs), errors=exc.errors)


def _raise_taken(exc: IntegrityError, fields: Mapping[str, str]) -> NoReturn:
    """ValidationError "has already been taken" on the field whose unique index `exc` broke; else re-raise."""
    field = fields.get(unique_violation(exc) or "")
    if field is not None:
        raise ValidationError({field: _TAKEN}) from None
    raise exc


def _require_admin(scope: Scope) -> None:
    if not scope.admin:
        raise ForbiddenError()


async def _broadcast(topic: str, event: str, record_id: uuid.UUID) -> None:
    """Announce a committed write on the resource's topic (`{"id": ...}`)."""
    await pubsub.announce(topic, event, {"id": str(record_id)})
