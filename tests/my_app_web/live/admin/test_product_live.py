"""The admin product pages (the seed's `product_live_test.exs`): list (keyset pages, "Show more"),
new, edit, validate as you type, delete, show, who may see them, and what the live streams push
when another admin (or the API) changes products."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal

import httpx
from fastapi import FastAPI

from my_app import accounts, catalog
from tests.my_app_web.live.admin.pages import csrf, errors_of
from tests.support.browser_forms import log_in
from tests.support.conn_case import client_for
from tests.support.fixtures.accounts import SYSTEM, user_fixture
from tests.support.fixtures.catalog import category_fixture, product_fixture, unique_sku
from tests.support.live_case import live_stream

INDEX = "/admin/products"
HTMX_SLOT = {"hx-request": "true", "hx-target": "product-modal-slot"}


def row_ids(html: str) -> list[str]:
    return re.findall(r'<tr id="products-([0-9a-f-]{36})"', html)


def form_data(category: catalog.Category, **overrides: str) -> dict[str, str]:
    return {
        "name": "Green Tea",
        "sku": unique_sku(),
        "category_id": str(category.id),
        "price": "4.50",
        "stock": "12",
        "description": "Sencha",
        **overrides,
    }


# --- Who may see them ---


async def test_a_visitor_is_sent_to_log_in(client: httpx.AsyncClient) -> None:
    response = await client.get(INDEX)

    assert response.status_code == 303
    assert response.headers["location"] == "/users/log-in"


async def test_a_user_who_is_not_an_admin_gets_403_and_changes_nothing(client: httpx.AsyncClient) -> None:
    product = await product_fixture(name="Tea")
    await log_in(client, (await user_fixture()).email)
    token = await csrf(client, "/")

    for path in [INDEX, f"{INDEX}/new", f"{INDEX}/{product.id}", f"{INDEX}/{product.id}/edit", f"{INDEX}/export.csv"]:
        assert (await client.get(path)).status_code == 403, path
    data = {"_csrf_token": token, **form_data(product.category, sku="NOT-AN-ADMIN")}
    for path in [INDEX, f"{INDEX}/validate", f"{INDEX}/{product.id}", f"{INDEX}/{product.id}/delete"]:
        assert (await client.post(path, data=data)).status_code == 403, path
    assert await catalog.get_product_by_sku(SYSTEM, "NOT-AN-ADMIN") is None
    unchanged = await catalog.get_product(SYSTEM, product.id)
    assert unchanged is not None
    assert unchanged.name == "Tea"


async def test_an_admin_gets_the_page(client: httpx.AsyncClient, admin: accounts.User) -> None:
    response = await client.get(INDEX)

    assert response.status_code == 200
    assert "Listing Products" in response.text
    assert f'sse-connect="{INDEX}"' in response.text
    assert f'href="{INDEX}" aria-current="page">Products' in response.text


# --- The list ---


async def test_lists_products_newest_first_with_category_and_locale_formatted_price(
    client: httpx.AsyncClient, admin: accounts.User
) -> None:
    tea = await category_fixture(name="Tea")
    product = await product_fixture(category=tea, name="Gyokuro", price="1234.5", stock=1500)

    english = await client.get(INDEX)
    german = await client.get(f"{INDEX}?locale=de")

    assert row_ids(english.text)[0] == str(product.id)
    row = english.text.split(f'<tr id="products-{product.id}">')[1].split("</tr>")[0]
    assert "Gyokuro" in row
    assert f"<code>{product.sku}</code>" in row
    assert ">Tea<" in row
    assert "1,234.50" in row
    assert "1,500" in row
    assert f'hx-get="{INDEX}/{product.id}/edit"' in row
    assert f'action="{INDEX}/{product.id}/delete"' in row
    assert "1.234,50" in german.text.split(f'<tr id="products-{product.id}">')[1].split("</tr>")[0]


async def test_show_more_loads_the_next_keyset_pages(client: httpx.AsyncClient, admin: accounts.User) -> None:
    tea = await category_fixture()
    for _ in range(3):
        await product_fixture(category=tea)
    everyone = len(row_ids((await client.get(f"{INDEX}?limit=1000")).text))

    short = await client.get(f"{INDEX}?limit=2")
    full = await client.get(f"{INDEX}?limit={everyone}")

    assert len(row_ids(short.text)) == 2
    assert f'href="{INDEX}?limit=52"' in short.text
    assert f'sse-connect="{INDEX}?limit=2"' in short.text
    assert row_ids(full.text)[:2] == row_ids(short.text)  # the same order, extended
    assert len(set(row_ids(full.text))) == everyone
    assert "Show more products" not in full.text


# --- New ---


async def test_new_opens_the_modal_with_a_category_select(client: httpx.AsyncClient, admin: accounts.User) -> None:
    tea = await category_fixture(name="Tea")

    response = await client.get(f"{INDEX}/new")

    assert response.status_code == 200
    assert 'id="product-modal"' in response.text
    assert f'action="{INDEX}"' in response.text
    assert f'hx-post="{INDEX}/validate"' in response.text
    for field in ["name", "sku", "category_id", "price", "stock", "description"]:
        assert f'id="product_{field}"' in response.text
    assert f'<option value="{tea.id}">Tea</option>' in response.text
    assert 'inputmode="decimal"' in response.text  # the price is decimal text
    htmx = await client.get(f"{INDEX}/new", headers=HTMX_SLOT)
    assert htmx.text.lstrip().startswith('<div id="product-modal-slot"')
    assert "<html" not in htmx.text


async def test_validation_as_you_type_shows_each_fields_errors_and_writes_nothing(
    client: httpx.AsyncClient, admin: accounts.User
) -> None:
    taken = await product_fixture()
    token = await csrf(client, INDEX)
    headers = {"x-csrf-token": token, "hx-request": "true"}

    response = await client.post(
        f"{INDEX}/validate",
        data=form_data(taken.category, sku=taken.sku, price="-1", stock="-3", name=""),
        headers=headers,
    )
    fine = await client.post(f"{INDEX}/validate", data=form_data(taken.category, sku="FREE-SKU"), headers=headers)

    assert response.status_code == 200
    assert errors_of(response.text, "product_price") == ["must be greater than or equal to 0"]
    assert errors_of(response.text, "product_sku") == ["has already been taken"]
    assert errors_of(response.text, "product_stock") == ["must be greater than or equal to 0"]
    assert errors_of(response.text, "product_name") == ["can't be blank"]
    for field in ["name", "sku", "category_id", "price", "stock", "description"]:
        assert errors_of(fine.text, f"product_{field}") == []
    assert await catalog.get_product_by_sku(SYSTEM, "FREE-SKU") is None


async def test_validation_messages_speak_german(client: httpx.AsyncClient, admin: accounts.User) -> None:
    tea = await category_fixture()
    token = await csrf(client, f"{INDEX}?locale=de")

    response = await client.post(
        f"{INDEX}/validate", data=form_data(tea, price="abc", name=""), headers={"x-csrf-token": token}
    )

    assert errors_of(response.text, "product_price") == ["ist ungültig"]
    assert errors_of(response.text, "product_name") == ["darf nicht leer sein"]
    negative = await client.post(f"{INDEX}/validate", data=form_data(tea, price="-1"), headers={"x-csrf-token": token})
    assert errors_of(negative.text, "product_price") == ["muss größer oder gleich 0 sein"]


async def test_creating_a_product_adds_it_and_says_so(client: httpx.AsyncClient, admin: accounts.User) -> None:
    tea = await category_fixture()
    data = form_data(tea, price="4,50")  # a German decimal comma is the point it means
    token = await csrf(client, f"{INDEX}/new")

    response = await client.post(INDEX, data={"_csrf_token": token, **data})

    assert response.status_code == 303
    assert response.headers["location"] == INDEX
    page = await client.get(INDEX)
    assert "Product created successfully" in page.text
    created = await catalog.get_product_by_sku(SYSTEM, data["sku"])
    assert created is not None
    assert (created.name, created.price, created.stock, created.category_id) == (
        "Green Tea",
        Decimal("4.50"),
        12,
        tea.id,
    )
    assert row_ids(page.text)[0] == str(created.id)


async def test_invalid_input_shows_the_modal_again_and_creates_nothing(
    client: httpx.AsyncClient, admin: accounts.User
) -> None:
    taken = await product_fixture()
    token = await csrf(client, INDEX)
    data = form_data(taken.category, price="-2", name="Typed")

    negative = await client.post(INDEX, data={"_csrf_token": token, **data})
    duplicate = await client.post(INDEX, data={"_csrf_token": token, **form_data(taken.category, sku=taken.sku)})

    assert negative.status_code == 422
    assert 'id="product-modal"' in negative.text
    assert errors_of(negative.text, "product_price") == ["must be greater than or equal to 0"]
    assert 'value="Typed"' in negative.text  # what was typed stays
    assert 'value="-2"' in negative.text
    assert f'<option value="{taken.category.id}" selected>' in negative.text
    assert negative.headers["hx-push-url"] == "false"
    assert duplicate.status_code == 422
    assert errors_of(duplicate.text, "product_sku") == ["has already been taken"]
    assert await catalog.get_product_by_sku(SYSTEM, data["sku"]) is None


# --- Edit ---


async def test_editing_a_product_saves_it(client: httpx.AsyncClient, admin: accounts.User) -> None:
    product = await product_fixture(name="Tea", price="3.00")
    coffee = await category_fixture(name="Coffee")
    page = await client.get(f"{INDEX}/{product.id}/edit")
    assert "Edit Product" in page.text
    assert 'value="3.00"' in page.text
    assert f'<option value="{product.category_id}" selected>' in page.text
    assert (await client.get(f"{INDEX}/{uuid.uuid4()}/edit")).status_code == 404

    data = form_data(coffee, sku=product.sku, name="Espresso", price="2.80")
    response = await client.post(f"{INDEX}/{product.id}", data={"_csrf_token": await csrf(client, INDEX), **data})

    assert response.status_code == 303
    assert "Product updated successfully" in (await client.get(INDEX)).text
    updated = await catalog.get_product(SYSTEM, product.id)
    assert updated is not None
    assert (updated.name, updated.price, updated.category.name) == ("Espresso", Decimal("2.80"), "Coffee")


async def test_the_admin_downloads_every_product_as_csv(client: httpx.AsyncClient, admin: accounts.User) -> None:
    product = await product_fixture(name='Tea, "loose"', price="4.5")
    page = await client.get(INDEX)

    response = await client.get(f"{INDEX}/export.csv")

    assert f'href="{INDEX}/export.csv"' in page.text  # the Export CSV button
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == 'attachment; filename="products.csv"'
    lines = response.text.split("\r\n")
    assert lines[0] == "id,name,sku,category,price,stock,inserted_at,updated_at"
    exported = next(line for line in lines if line.startswith(str(product.id)))
    assert f'{product.id},"Tea, ""loose""",{product.sku},{product.category.slug},4.50,' in exported


async def test_the_edit_form_shows_the_price_as_a_german_reader_writes_it(
    client: httpx.AsyncClient, admin: accounts.User
) -> None:
    product = await product_fixture(price="1234.50")

    page = await client.get(f"{INDEX}/{product.id}/edit?locale=de")
    data = form_data(product.category, sku=product.sku, price="1234,50")  # sent back as shown
    saved = await client.post(f"{INDEX}/{product.id}", data={"_csrf_token": await csrf(client, INDEX), **data})

    assert 'value="1234,50"' in page.text  # a decimal comma, no grouping
    assert saved.status_code == 303
    unchanged = await catalog.get_product(SYSTEM, product.id)
    assert unchanged is not None
    assert unchanged.price == Decimal("1234.50")


async def test_an_invalid_edit_changes_nothing(client: httpx.AsyncClient, admin: accounts.User) -> None:
    product = await product_fixture(name="Tea", price="3.00")
    other = await product_fixture()
    token = await csrf(client, INDEX)

    refused = await client.post(
        f"{INDEX}/{product.id}",
        data={"_csrf_token": token, **form_data(product.category, sku=other.sku, price="1.999", name=" ")},
    )
    own = await client.post(
        f"{INDEX}/{product.id}/validate",
        data=form_data(product.category, sku=product.sku),
        headers={"x-csrf-token": token},
    )

    assert refused.status_code == 422
    assert errors_of(refused.text, "product_price") == ["must have at most 2 decimal places"]
    assert errors_of(refused.text, "product_name") == ["can't be blank"]
    assert errors_of(own.text, "product_sku") == []  # its own SKU is not "taken"
    unchanged = await catalog.get_product(SYSTEM, product.id)
    assert unchanged is not None
    assert (unchanged.name, unchanged.price) == ("Tea", Decimal("3.00"))


# --- Delete ---


async def test_deleting_a_product_removes_it(client: httpx.AsyncClient, admin: accounts.User) -> None:
    product = await product_fixture()
    page = await client.get(INDEX)
    assert f'data-confirm="Delete the product {product.name}? This cannot be undone."' in page.text

    response = await client.post(f"{INDEX}/{product.id}/delete", data={"_csrf_token": await csrf(client, INDEX)})

    assert response.status_code == 303
    after = await client.get(INDEX)
    assert "Product deleted successfully" in after.text
    assert str(product.id) not in row_ids(after.text)
    assert await catalog.get_product(SYSTEM, product.id) is None


async def test_forms_need_the_csrf_token(client: httpx.AsyncClient, admin: accounts.User) -> None:
    product = await product_fixture()

    assert (await client.post(f"{INDEX}/{product.id}/delete")).status_code == 403
    assert await catalog.get_product(SYSTEM, product.id) is not None


# --- Show ---


async def test_show_lists_the_details(client: httpx.AsyncClient, admin: accounts.User) -> None:
    product = await product_fixture(name="Gyokuro", price="12.00", description="Shaded")

    page = await client.get(f"{INDEX}/{product.id}")

    assert page.status_code == 200
    assert "Gyokuro" in page.text
    assert "12.00" in page.text
    assert "Shaded" in page.text
    assert f'href="/admin/categories/{product.category_id}"' in page.text
    assert f'href="{INDEX}/{product.id}/show/edit"' in page.text
    assert f'sse-connect="{INDEX}/{product.id}"' in page.text
    missing = await client.get(f"{INDEX}/{uuid.uuid4()}")
    assert missing.headers["location"] == INDEX


async def test_editing_from_show_goes_back_to_show(client: httpx.AsyncClient, admin: accounts.User) -> None:
    product = await product_fixture(name="Gyokuro")
    page = await client.get(f"{INDEX}/{product.id}/show/edit")
    assert 'name="_return" value="show"' in page.text
    assert f'href="{INDEX}/{product.id}" aria-label="Close"' in page.text  # Cancel stays on the product's page
    data = form_data(product.category, sku=product.sku, name="Sencha")

    refused = await client.post(
        f"{INDEX}/{product.id}",
        data={"_csrf_token": await csrf(client, INDEX), "_return": "show", **data, "price": "x"},
    )
    response = await client.post(
        f"{INDEX}/{product.id}", data={"_csrf_token": await csrf(client, INDEX), "_return": "show", **data}
    )

    assert refused.status_code == 422
    assert errors_of(refused.text, "product_price") == ["is invalid"]
    assert f'sse-connect="{INDEX}/{product.id}"' in refused.text  # still over the product's page
    assert response.headers["location"] == f"{INDEX}/{product.id}"
    shown = await client.get(f"{INDEX}/{product.id}")
    assert "Product updated successfully" in shown.text
    assert "Sencha" in shown.text


# --- The live streams ---


async def test_the_list_stream_pushes_another_admins_creates_updates_and_deletes(
    web_app: FastAPI, client: httpx.AsyncClient, admin: accounts.User
) -> None:
    other_admin = accounts.Scope.for_user(await user_fixture(role="admin"))
    tea = await category_fixture(name="Tea")
    async with live_stream(web_app, client, INDEX) as stream:
        first = await stream.next_event()
        assert first.data.startswith('<hx-partial hx-target="#live-region" hx-swap="innerHTML">')

        created = await catalog.create_product(other_admin, form_data(tea, name="Pushed In"))
        inserted = await stream.next_event()
        assert inserted.data.startswith('<hx-partial hx-target="#products" hx-swap="afterbegin">')
        assert f'<tr id="products-{created.id}">' in inserted.data
        assert "Pushed In" in inserted.data
        assert 'name="_csrf_token"' in inserted.data  # its Delete form works

        await catalog.update_product(other_admin, created, {"price": "9.99"})
        replaced = await stream.next_event()
        assert replaced.data.startswith(f'<hx-partial hx-target="#products-{created.id}" hx-swap="outerHTML">')
        assert "9.99" in replaced.data

        await catalog.update_category(other_admin, tea, {"name": "Oolong"})
        refreshed = await stream.next_event()
        assert refreshed.data.startswith('<hx-partial hx-target="#live-region" hx-swap="innerHTML">')
        assert ">Oolong<" in refreshed.data

        await catalog.delete_product(other_admin, created)
        deleted = await stream.next_event()
        assert deleted.data == f'<hx-partial hx-target="#products-{created.id}" hx-swap="delete"></hx-partial>'


async def test_a_create_through_the_page_reaches_another_admins_stream(
    web_app: FastAPI, client: httpx.AsyncClient, admin: accounts.User
) -> None:
    tea = await category_fixture()
    async with client_for(web_app) as other:
        await log_in(other, (await user_fixture(role="admin")).email)
        await _create_through_the_page_seen_by(web_app, client, other, tea)


async def _create_through_the_page_seen_by(
    web_app: FastAPI, client: httpx.AsyncClient, other: httpx.AsyncClient, tea: catalog.Category
) -> None:
    async with live_stream(web_app, other, INDEX) as stream:
        await stream.next_event()
        data = form_data(tea, name="From The Form")

        response = await client.post(INDEX, data={"_csrf_token": await csrf(client, INDEX), **data})

        assert response.status_code == 303
        pushed = await stream.next_event()
        assert "From The Form" in pushed.data
        assert 'hx-swap="afterbegin"' in pushed.data


async def test_the_show_stream_follows_the_product(
    web_app: FastAPI, client: httpx.AsyncClient, admin: accounts.User
) -> None:
    product = await product_fixture(name="Gyokuro")
    async with live_stream(web_app, client, f"{INDEX}/{product.id}") as stream:
        assert "Gyokuro" in (await stream.next_event()).data

        await product_fixture()  # another product: nothing to show
        await stream.no_event()

        await catalog.update_product(SYSTEM, product, {"name": "Sencha"})
        updated = await stream.next_event()
        assert "Sencha" in updated.data
        assert "This product was just changed" in updated.data

        await catalog.delete_product(SYSTEM, product)
        deleted = await stream.next_event()
        assert "This product has been deleted." in deleted.data
