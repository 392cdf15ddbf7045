"""What `/products` shows for its query string: the filters as typed, the products they find, and a
message for each filter that could not be used.

The query string is the page's whole state (bookmarkable, and the address the page's live stream
reopens): `category` (a slug), `q`, `min_price`, `max_price`, `sort`, `cursor` (where a page starts:
the catalog's `next_cursor`) and `limit` (how many products are shown from there: "Load more" asks
for the same page with a larger limit, so the live stream follows every product on screen).

A bad value never fails the page: the catalog refuses it (a price that is not a number, a cursor
we did not hand out) or the page does (an unknown category or sort), the page says so in words
and lists the products as if that filter were not there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from my_app import catalog
from my_app.accounts import Scope
from my_app.catalog import Category, Product
from my_app.errors import ValidationError
from my_app.gettext import gettext as _

# The catalog's largest page; a longer list is read in pages of this size.
BATCH = 100
# "Load more" stops growing the page here: past it, the next-page link carries on from a cursor.
MAX_SHOWN = 500
DEFAULT_SORT: catalog.Sort = "newest"
# The order the fields appear in a URL (and in the filter form).
FIELDS = ("q", "category", "min_price", "max_price", "sort", "cursor", "limit")


@dataclass(frozen=True)
class ProductQuery:
    """The filters as the visitor typed them (strings, unchecked), and the page size."""

    page_size: int
    q: str = ""
    category: str = ""
    min_price: str = ""
    max_price: str = ""
    sort: str = DEFAULT_SORT
    cursor: str = ""
    limit: str = ""

    @classmethod
    def parse(cls, params: Mapping[str, str], page_size: int) -> ProductQuery:
        """From a request's query parameters; unknown ones are left out, each value stripped."""
        values = {name: params.get(name, "").strip() for name in FIELDS}
        return cls(page_size=page_size, **{**values, "sort": values["sort"] or DEFAULT_SORT})

    def url(self, path: str, **changes: str) -> str:
        """`path` with this query (empty values and defaults left out), `changes` applied."""
        values: dict[str, str] = {name: changes.get(name, getattr(self, name)) for name in FIELDS}
        if values["sort"] == DEFAULT_SORT:
            values["sort"] = ""
        query = urlencode([(name, value) for name, value in values.items() if value])
        return f"{path}?{query}" if query else path


@dataclass(frozen=True)
class Listing:
    """The products found, the filters actually used, and what could not be used (one message each)."""

    products: list[Product]
    filters: dict[str, Any]
    shown: int
    next_cursor: str | None
    category: Category | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def filtered(self) -> bool:
        """Does the list leave products out (a category, a price range, a text query)?"""
        return bool({"category_id", "min_price", "max_price", "q"} & self.filters.keys())


def matches(filters: Mapping[str, Any], product: Product) -> bool:
    """Is `product` in the category and price range of `filters` (a `Listing`'s)? The text query is
    not checked: only the database knows what full-text search matches."""
    category_id = filters.get("category_id")
    low, high = filters.get("min_price"), filters.get("max_price")
    return (
        (category_id is None or product.category_id == category_id)
        and (low is None or product.price >= Decimal(low))
        and (high is None or product.price <= Decimal(high))
    )


async def browse(scope: Scope, query: ProductQuery, categories: Sequence[Category]) -> Listing:
    """The products `query` finds (`shown` of them, in as few catalog pages as that takes)."""
    problems: list[str] = []
    filters: dict[str, Any] = {"sort": DEFAULT_SORT}
    category = next((each for each in categories if each.slug == query.category), None)
    if query.category and category is None:
        problems.append(_("There is no category “%(slug)s”; showing all categories.", slug=query.category))
    if category is not None:
        filters["category_id"] = category.id
    if query.sort in catalog.SORTS:
        filters["sort"] = query.sort
    else:
        problems.append(_("“%(sort)s” is not a sort order; showing the newest first.", sort=query.sort))
    for name in ("q", "min_price", "max_price", "cursor"):
        if value := getattr(query, name):
            filters[name] = value
    shown = _shown(query, problems)
    low, high = _amount(query.min_price), _amount(query.max_price)
    if low is not None and high is not None and low > high:
        problems.append(_("The minimum price is above the maximum price: no product can match."))
    try:
        products, next_cursor = await _read(scope, filters, shown)
    except ValidationError as exc:
        # The catalog's own rules for prices, the text and cursors: drop what it refused, say so, read again.
        for name in exc.errors:
            problems.append(_problem(name, str(getattr(query, name, ""))))
            filters.pop(name, None)
        products, next_cursor = await _read(scope, filters, shown)
    return Listing(products, filters, shown, next_cursor, category, problems)


async def _read(scope: Scope, filters: Mapping[str, Any], shown: int) -> tuple[list[Product], str | None]:
    products: list[Product] = []
    cursor = filters.get("cursor")
    while True:
        page = await catalog.list_products(
            scope, {**filters, "limit": min(BATCH, shown - len(products)), "cursor": cursor}
        )
        products.extend(page.items)
        cursor = page.next_cursor
        if cursor is None or len(products) >= shown:
            return products, cursor


def _shown(query: ProductQuery, problems: list[str]) -> int:
    if not query.limit:
        return query.page_size
    if query.limit.isdigit() and 1 <= int(query.limit) <= MAX_SHOWN:
        return int(query.limit)
    problems.append(
        _(
            "“%(limit)s” is not a number of products to show; showing %(count)s.",
            limit=query.limit,
            count=query.page_size,
        )
    )
    return query.page_size


def _amount(value: str) -> Decimal | None:
    try:
        amount = Decimal(value) if value else None
    except InvalidOperation:
        return None
    return amount if amount is not None and amount.is_finite() else None


def _problem(name: str, value: str) -> str:
    if name == "min_price":
        return _("The minimum price “%(value)s” is not an amount; it was left out.", value=value)
    if name == "max_price":
        return _("The maximum price “%(value)s” is not an amount; it was left out.", value=value)
    if name == "q":
        return _(
            "The search text is too long (at most %(count)s characters); it was left out.",
            count=catalog.QUERY_MAX_LENGTH,
        )
    if name == "cursor":
        return _("That page link is no longer valid; showing the first page.")
    return _("The filter “%(name)s” was not understood; it was left out.", name=name)
