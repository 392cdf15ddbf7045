"""The public catalog pages: /products (filters, search, sort, pages, bad input, the empty state) and
/products/{id}, for visitors and signed-in users alike, and what their live streams push when
products change through the catalog context."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection

from my_app import catalog
from tests.support.browser_forms import log_in
from tests.support.fixtures.accounts import SYSTEM, user_fixture
from tests.support.fixtures.catalog import category_fixture, product_fixture
from tests.support.live_case import LiveStreamReader, live_stream


def card_ids(html: str) -> list[str]:
    return re.findall(r'<li id="products-([0-9a-f-]{36})"', html)


def href(html: str, label: str) -> str:
    """The address of the link labelled `label` (HTML-unescaped)."""
    match = re.search(r'href="([^"]*)"[^>]*>' + re.escape(label) + "<", html)
    assert match is not None, f"no link {label!r}"
    return match.group(1).replace("&amp;", "&")


@asynccontextmanager
async def opened_stream(web_app: FastAPI, client: httpx.AsyncClient, path: str) -> AsyncIterator[LiveStreamReader]:
    """A live stream past its first render (the page as it was when it connected)."""
    async with live_stream(web_app, client, path) as stream:
        await stream.next_event()
        yield stream


@pytest.fixture
async def tea(db: AsyncConnection) -> catalog.Category:
    return await category_fixture(name="Tea", slug=f"tea-{uuid.uuid4().hex[:8]}")


# --- The list ---


async def test_a_visitor_browses_the_products(client: httpx.AsyncClient, tea: catalog.Category) -> None:
    sencha = await product_fixture(category=tea, name="Sencha", price="12.50", stock=7)
    matcha = await product_fixture(category=tea, name="Matcha", price="30", stock=0)

    response = await client.get("/products")

    assert response.status_code == 200
    assert "<h1>Products</h1>" in response.text
    assert {str(sencha.id), str(matcha.id)} <= set(card_ids(response.text))
    assert "Sencha" in response.text
    assert "€12.50" in response.text
    assert "In stock: 7" in response.text
    assert "Out of stock" in response.text
    assert f'href="/products/{sencha.id}"' in response.text
    assert ">Tea</p>" in response.text  # the card's category
    assert 'sse-connect="/products"' in response.text
    # The filter form works without JavaScript: a plain GET form, and live with htmx.
    assert 'method="get" action="/products" role="search"' in response.text
    assert 'hx-push-url="true"' in response.text


async def test_a_signed_in_user_sees_the_same_list(client: httpx.AsyncClient, tea: catalog.Category) -> None:
    product = await product_fixture(category=tea, name="Assam")
    user = await user_fixture()
    await log_in(client, user.email)

    response = await client.get("/products")

    assert response.status_code == 200
    assert str(product.id) in card_ids(response.text)
    assert user.email in response.text  # the navigation knows who it is


async def test_prices_and_stock_follow_the_locale(client: httpx.AsyncClient, tea: catalog.Category) -> None:
    product = await product_fixture(category=tea, name="Darjeeling", price="1234.50", stock=1500)

    german = await client.get(f"/products?category={tea.slug}&locale=de")
    shown = await client.get(f"/products/{product.id}?locale=de")

    assert "<h1>Produkte</h1>" in german.text
    assert "1.234,50\xa0€" in german.text
    assert "Auf Lager: 1.500" in german.text
    assert "1.234,50\xa0€" in shown.text
    assert "Artikelnummer" in shown.text


async def test_the_category_filter_shows_only_its_products(client: httpx.AsyncClient, tea: catalog.Category) -> None:
    coffee = await category_fixture(name="Coffee")
    sencha = await product_fixture(category=tea, name="Sencha")
    espresso = await product_fixture(category=coffee, name="Espresso")

    response = await client.get(f"/products?category={tea.slug}")

    assert card_ids(response.text) == [str(sencha.id)]
    assert str(espresso.id) not in response.text
    assert re.search(rf'href="/products\?category={tea.slug}" aria-current="page">Tea<', response.text)
    assert '<input type="hidden" name="category"' in response.text  # a search keeps the category
    assert "<title>Tea · MyApp</title>" in response.text


async def test_search_finds_products_by_name_and_description(client: httpx.AsyncClient, tea: catalog.Category) -> None:
    oolong = await product_fixture(category=tea, name="Oolong Supreme", description="Half oxidised")
    rooibos = await product_fixture(category=tea, name="Rooibos", description="Red and sweet")
    await product_fixture(category=tea, name="Earl Grey", description="Bergamot")

    by_name = await client.get(f"/products?category={tea.slug}&q=oolong")
    by_description = await client.get(f"/products?category={tea.slug}&q=sweet")

    assert card_ids(by_name.text) == [str(oolong.id)]
    assert card_ids(by_description.text) == [str(rooibos.id)]
    assert 'value="oolong"' in by_name.text  # the box keeps what was typed


async def test_the_price_range_and_the_sort(client: httpx.AsyncClient, tea: catalog.Category) -> None:
    cheap = await product_fixture(category=tea, name="Cheap", price="2.00")
    middle = await product_fixture(category=tea, name="Middle", price="10.00")
    dear = await product_fixture(category=tea, name="Dear", price="50.00")

    ranged = await client.get(f"/products?category={tea.slug}&min_price=5&max_price=10")
    low_high = await client.get(f"/products?category={tea.slug}&sort=price_asc")
    high_low = await client.get(f"/products?category={tea.slug}&sort=price_desc")

    assert card_ids(ranged.text) == [str(middle.id)]
    assert card_ids(low_high.text) == [str(cheap.id), str(middle.id), str(dear.id)]
    assert card_ids(high_low.text) == [str(dear.id), str(middle.id), str(cheap.id)]
    assert '<option value="price_desc" selected>' in high_low.text


async def test_pages_follow_the_cursor_and_load_more_grows_the_list(
    client: httpx.AsyncClient, tea: catalog.Category
) -> None:
    products = [await product_fixture(category=tea, name=f"Tea {n}", price=f"{n}.00") for n in range(1, 6)]
    ids = [str(product.id) for product in products]

    first = await client.get(f"/products?category={tea.slug}&sort=price_asc&limit=2")
    assert card_ids(first.text) == ids[:2]
    # Without JavaScript: the next page, from the cursor; with htmx: the same list, one page longer.
    next_url = href(first.text, "Load more")
    assert "cursor=" in next_url
    assert re.search(r'hx-get="/products\?category=[^"]*&amp;sort=price_asc&amp;limit=26"', first.text)

    second = await client.get(next_url)
    assert card_ids(second.text) == ids[2:4]
    third = await client.get(href(second.text, "Load more"))
    assert card_ids(third.text) == ids[4:]
    assert "Load more" not in third.text

    grown = await client.get(f"/products?category={tea.slug}&sort=price_asc&limit=4")
    assert card_ids(grown.text) == ids[:4]
    assert f'sse-connect="/products?category={tea.slug}&amp;sort=price_asc&amp;limit=4"' in grown.text


async def test_a_list_longer_than_one_catalog_page_is_read_in_pages(
    client: httpx.AsyncClient, tea: catalog.Category
) -> None:
    for n in range(105):
        await product_fixture(category=tea, name=f"Leaf {n}", price=f"{n}.00")

    response = await client.get(f"/products?category={tea.slug}&sort=price_asc&limit=104")

    assert len(card_ids(response.text)) == 104
    assert "Load more" in response.text


async def test_a_search_as_you_type_pushes_a_tidy_address(client: httpx.AsyncClient, tea: catalog.Category) -> None:
    sencha = await product_fixture(category=tea, name="Sencha")

    # What the filter form sends with htmx: every field, empty or not, and the default sort.
    response = await client.get(
        f"/products?category={tea.slug}&q=sencha&min_price=&max_price=&sort=newest", headers={"hx-request": "true"}
    )

    assert response.status_code == 200
    assert response.headers["hx-push-url"] == f"/products?q=sencha&category={tea.slug}"
    assert card_ids(response.text) == [str(sencha.id)]
    # The live part the form swaps, its stream at the new address.
    assert f'sse-connect="/products?q=sencha&amp;category={tea.slug}"' in response.text
    assert "hx-push-url" not in (await client.get("/products")).headers


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("min_price=abc", "The minimum price “abc” is not an amount; it was left out."),
        ("max_price=1,5x", "The maximum price “1,5x” is not an amount; it was left out."),
        ("category=no-such-thing", "There is no category “no-such-thing”; showing all categories."),
        ("sort=cheapest", "“cheapest” is not a sort order; showing the newest first."),
        ("cursor=garbage", "That page link is no longer valid; showing the first page."),
        ("limit=lots", "“lots” is not a number of products to show; showing 24."),
        ("q=" + "x" * 201, "The search text is too long (at most 200 characters); it was left out."),
        ("min_price=9&max_price=3", "The minimum price is above the maximum price: no product can match."),
    ],
)
async def test_bad_filters_are_explained_on_the_page(
    client: httpx.AsyncClient, tea: catalog.Category, query: str, message: str
) -> None:
    product = await product_fixture(category=tea, name="Still Listed", price="5.00")

    response = await client.get(f"/products?{query}")

    assert response.status_code == 200
    assert message in response.text
    assert 'role="alert"' in response.text
    if "max_price=3" not in query:
        assert str(product.id) in card_ids(response.text)  # the bad filter was left out


async def test_nothing_found_says_so(client: httpx.AsyncClient, tea: catalog.Category) -> None:
    await product_fixture(category=tea, name="Sencha")

    response = await client.get(f"/products?category={tea.slug}&q=zzzznothing")

    assert response.status_code == 200
    assert card_ids(response.text) == []
    assert "No products match your search." in response.text
    assert 'href="/products">Show all products' in response.text


# --- One product ---


async def test_show_lists_the_products_details(client: httpx.AsyncClient, tea: catalog.Category) -> None:
    product = await product_fixture(category=tea, name="Gyokuro", price="42.00", stock=3, description="Shaded")

    response = await client.get(f"/products/{product.id}")

    assert response.status_code == 200
    assert "<h1>Gyokuro</h1>" in response.text
    assert "€42.00" in response.text
    assert product.sku in response.text
    assert "In stock: 3" in response.text
    assert "Shaded" in response.text
    assert f'href="/products?category={tea.slug}">Tea</a>' in response.text
    assert 'href="/products"' in response.text  # back
    assert f'sse-connect="/products/{product.id}"' in response.text


@pytest.mark.parametrize("product_id", ["8d1c3f0e-3b57-4d0a-9a53-6f1b2b0c9e11", "not-an-id", "123"])
async def test_an_unknown_or_malformed_product_is_404(client: httpx.AsyncClient, product_id: str) -> None:
    response = await client.get(f"/products/{product_id}", headers={"accept": "text/html"})

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Not Found" in response.text


# --- Navigation ---


async def test_the_navigation_links_products_and_the_blog_for_everyone(client: httpx.AsyncClient) -> None:
    visitor = await client.get("/products")
    assert 'href="/products" aria-current="page"' in visitor.text
    assert 'href="/blog"' in visitor.text
    assert 'href="/admin/products"' not in visitor.text

    user = await user_fixture()
    await log_in(client, user.email)
    signed_in = await client.get("/")
    assert 'href="/products"' in signed_in.text
    assert 'href="/admin/products"' not in signed_in.text


async def test_the_navigation_links_the_catalog_admin_for_admins(client: httpx.AsyncClient) -> None:
    admin = await user_fixture(role="admin")
    await log_in(client, admin.email)

    assert 'href="/admin/products"' in (await client.get("/")).text


# --- The live streams ---


async def test_the_list_stream_pushes_creates_updates_and_deletes(
    web_app: FastAPI, client: httpx.AsyncClient, tea: catalog.Category
) -> None:
    shown = await product_fixture(category=tea, name="Shown", price="5.00")
    async with live_stream(web_app, client, f"/products?category={tea.slug}") as stream:
        first = await stream.next_event()
        assert first.data.startswith('<hx-partial hx-target="#live-region" hx-swap="innerHTML">')
        assert f'id="products-{shown.id}"' in first.data

        created = await product_fixture(category=tea, name="Pushed In")
        inserted = await stream.next_event()
        assert inserted.data.startswith('<hx-partial hx-target="#products" hx-swap="afterbegin">')
        assert f'<li id="products-{created.id}"' in inserted.data
        assert "Pushed In" in inserted.data

        await catalog.update_product(SYSTEM, created, {"name": "Renamed", "stock": 0})
        replaced = await stream.next_event()
        assert replaced.data.startswith(f'<hx-partial hx-target="#products-{created.id}" hx-swap="outerHTML">')
        assert "Renamed" in replaced.data
        assert "Out of stock" in replaced.data

        await catalog.delete_product(SYSTEM, created)
        deleted = await stream.next_event()
        assert deleted.data == f'<hx-partial hx-target="#products-{created.id}" hx-swap="delete"></hx-partial>'


async def test_the_list_stream_leaves_out_what_the_page_does_not_show(
    web_app: FastAPI, client: httpx.AsyncClient, tea: catalog.Category
) -> None:
    coffee = await category_fixture(name="Coffee")
    elsewhere = await product_fixture(category=coffee, name="Elsewhere")
    shown = await product_fixture(category=tea, name="Shown", price="5.00")
    async with opened_stream(web_app, client, f"/products?category={tea.slug}&max_price=10") as stream:
        # One write at a time: the page's load and the test's next write share the sandbox's connection.
        await product_fixture(category=coffee, name="Other Category")
        await stream.no_event()
        await product_fixture(category=tea, name="Too Dear", price="99.00")
        await stream.no_event()
        await catalog.update_product(SYSTEM, elsewhere, {"name": "Still Elsewhere"})
        await catalog.delete_product(SYSTEM, elsewhere)
        await stream.no_event()

        # A shown product that leaves the price range leaves the page.
        await catalog.update_product(SYSTEM, shown, {"price": "20.00"})
        event = await stream.next_event()
        assert event.data == f'<hx-partial hx-target="#products-{shown.id}" hx-swap="delete"></hx-partial>'


async def test_a_searched_or_sorted_list_does_not_guess_where_new_products_go(
    web_app: FastAPI, client: httpx.AsyncClient, tea: catalog.Category
) -> None:
    for path in (f"/products?category={tea.slug}&q=green", f"/products?category={tea.slug}&sort=price_asc"):
        async with opened_stream(web_app, client, path) as stream:
            await product_fixture(category=tea, name="Green Tea")
            await stream.no_event()


async def test_a_renamed_category_re_renders_the_list(
    web_app: FastAPI, client: httpx.AsyncClient, tea: catalog.Category
) -> None:
    await product_fixture(category=tea, name="Sencha")
    async with opened_stream(web_app, client, f"/products?category={tea.slug}") as stream:
        await catalog.update_category(SYSTEM, tea, {"name": "Green Tea"})
        event = await stream.next_event()
        assert event.data.startswith('<hx-partial hx-target="#live-region" hx-swap="innerHTML">')
        assert "Green Tea" in event.data


async def test_pages_share_one_query_per_message(
    web_app: FastAPI, client: httpx.AsyncClient, tea: catalog.Category, monkeypatch: pytest.MonkeyPatch
) -> None:
    product = await product_fixture(category=tea, name="Seen Thrice")
    loads: list[Any] = []
    get_product = catalog.get_product

    async def counting_get_product(scope: Any, product_id: Any) -> catalog.Product | None:
        loads.append(product_id)
        return await get_product(scope, product_id)

    monkeypatch.setattr(catalog, "get_product", counting_get_product)
    # Opened one after the other: the test's sandbox is one connection, which serves one query at a time.
    async with (
        opened_stream(web_app, client, f"/products?category={tea.slug}") as one,
        opened_stream(web_app, client, f"/products?category={tea.slug}&sort=price_asc") as two,
        opened_stream(web_app, client, "/products") as three,
    ):
        loads.clear()
        await catalog.update_product(SYSTEM, product, {"name": "Seen By All"})
        for stream in (one, two, three):
            assert "Seen By All" in (await stream.next_event()).data
        assert loads == [str(product.id)]


async def test_pushed_cards_speak_the_language_of_the_page(
    web_app: FastAPI, client: httpx.AsyncClient, tea: catalog.Category
) -> None:
    await client.get("/products?locale=de")  # the session remembers the choice
    async with opened_stream(web_app, client, f"/products?category={tea.slug}") as stream:
        await product_fixture(category=tea, name="Bancha", price="7.25", stock=0)
        event = await stream.next_event()
        assert "7,25\xa0€" in event.data
        assert "Ausverkauft" in event.data


async def test_the_show_stream_follows_the_product(
    web_app: FastAPI, client: httpx.AsyncClient, tea: catalog.Category
) -> None:
    product = await product_fixture(category=tea, name="Genmaicha", price="6.00")
    async with live_stream(web_app, client, f"/products/{product.id}") as stream:
        first = await stream.next_event()
        assert "Genmaicha" in first.data

        await product_fixture(category=tea)  # another product: nothing to show
        await stream.no_event()

        await catalog.update_product(SYSTEM, product, {"name": "Genmaicha Deluxe", "price": "8.50"})
        updated = await stream.next_event()
        assert "Genmaicha Deluxe" in updated.data
        assert "€8.50" in updated.data
        assert "This product was just changed" in updated.data

        await catalog.delete_product(SYSTEM, product)
        deleted = await stream.next_event()
        assert "This product has been deleted." in deleted.data
        assert 'href="/products"' in deleted.data
