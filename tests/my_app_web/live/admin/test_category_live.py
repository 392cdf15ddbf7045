"""The admin category pages (the seed's `category_live_test.exs`): list, new, edit, validate, delete
(refused while products remain), show, who may see them, and what their live streams push."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from fastapi import FastAPI

from my_app import accounts, catalog
from tests.my_app_web.live.admin.pages import csrf, errors_of
from tests.support.browser_forms import log_in
from tests.support.fixtures.accounts import SYSTEM, user_fixture
from tests.support.fixtures.catalog import category_fixture, product_fixture, unique_slug
from tests.support.live_case import live_stream

INDEX = "/admin/categories"
HTMX_SLOT = {"hx-request": "true", "hx-target": "category-modal-slot"}


def row_ids(html: str) -> list[str]:
    return re.findall(r'<tr id="categories-([0-9a-f-]{36})"', html)


# --- Who may see them ---


async def test_a_visitor_is_sent_to_log_in_and_comes_back(client: httpx.AsyncClient) -> None:
    admin = await user_fixture(role="admin")

    response = await client.get(INDEX)

    assert response.status_code == 303
    assert response.headers["location"] == "/users/log-in"
    assert (await log_in(client, admin.email)).headers["location"] == INDEX
    assert (await client.get(INDEX)).status_code == 200


async def test_a_user_who_is_not_an_admin_gets_403_and_changes_nothing(client: httpx.AsyncClient) -> None:
    user = await user_fixture()
    category = await category_fixture(name="Tea")
    await log_in(client, user.email)
    token = await csrf(client, "/")

    for path in [INDEX, f"{INDEX}/new", f"{INDEX}/{category.id}", f"{INDEX}/{category.id}/edit"]:
        response = await client.get(path)
        assert response.status_code == 403, path
        assert "Forbidden" in response.text
    data = {"_csrf_token": token, "name": "Coffee", "slug": "coffee"}
    for path in [INDEX, f"{INDEX}/validate", f"{INDEX}/{category.id}", f"{INDEX}/{category.id}/delete"]:
        assert (await client.post(path, data=data)).status_code == 403, path
    assert await catalog.get_category_by_slug(SYSTEM, "coffee") is None
    unchanged = await catalog.get_category(SYSTEM, category.id)
    assert unchanged is not None
    assert unchanged.name == "Tea"


async def test_the_live_stream_refuses_the_same_way(web_app: FastAPI, client: httpx.AsyncClient) -> None:
    async with live_stream(web_app, client, INDEX) as stream:
        with pytest.raises(EOFError):
            await stream.next_event()
        assert stream.status == 303
    await log_in(client, (await user_fixture()).email)
    async with live_stream(web_app, client, INDEX) as stream:
        with pytest.raises(EOFError):
            await stream.next_event()
        assert stream.status == 403


# --- The list ---


async def test_lists_the_categories_with_the_admin_navigation(client: httpx.AsyncClient, admin: accounts.User) -> None:
    tea = await category_fixture(name="Tea", slug=unique_slug("tea"), description="Leaves")

    response = await client.get(INDEX)

    assert response.status_code == 200
    assert "Listing Categories" in response.text
    assert str(tea.id) in row_ids(response.text)
    assert f"<code>{tea.slug}</code>" in response.text
    assert f'href="{INDEX}/{tea.id}"' in response.text  # show
    assert f'hx-get="{INDEX}/{tea.id}/edit"' in response.text  # edit, as a modal
    assert f'action="{INDEX}/{tea.id}/delete"' in response.text  # delete, a form with CSRF
    assert f'data-confirm="Delete the category {tea.name}? This cannot be undone."' in response.text
    assert f'sse-connect="{INDEX}"' in response.text
    nav = response.text.split('class="admin-nav"', 1)[1].split("</nav>", 1)[0]
    assert f'href="{INDEX}" aria-current="page">Categories' in nav
    assert 'href="/admin/products">Products' in nav
    assert 'href="/users">Users' in nav


async def test_each_row_counts_the_products_of_its_category(client: httpx.AsyncClient, admin: accounts.User) -> None:
    tea = await category_fixture(name="Tea")
    empty = await category_fixture(name="Empty")
    for _ in range(3):
        await product_fixture(category=tea)

    response = await client.get(INDEX)

    assert ">Products</th>" in response.text
    assert _count_cell(response.text, tea.id) == "3"
    assert _count_cell(response.text, empty.id) == "0"  # the one that can be deleted


def _count_cell(html: str, category_id: uuid.UUID) -> str:
    row = html.split(f'<tr id="categories-{category_id}">', 1)[1].split("</tr>", 1)[0]
    found = re.search(r'<td class="number" data-label="Products">([^<]*)</td>', row)
    assert found is not None, row
    return found.group(1)


async def test_the_page_speaks_german(client: httpx.AsyncClient, admin: accounts.User) -> None:
    response = await client.get(f"{INDEX}/new?locale=de")

    assert "Kategorien" in response.text
    assert "Neue Kategorie" in response.text
    assert "Listing Categories" not in response.text


# --- New ---


async def test_new_opens_the_modal_over_the_list(client: httpx.AsyncClient, admin: accounts.User) -> None:
    tea = await category_fixture()

    response = await client.get(f"{INDEX}/new")

    assert response.status_code == 200
    assert str(tea.id) in row_ids(response.text)  # the list is under it
    assert 'id="category-modal"' in response.text
    assert f'action="{INDEX}"' in response.text
    assert f'hx-post="{INDEX}/validate"' in response.text
    for field in ["name", "slug", "description"]:
        assert f'id="category_{field}"' in response.text
    htmx = await client.get(f"{INDEX}/new", headers=HTMX_SLOT)
    assert htmx.text.lstrip().startswith('<div id="category-modal-slot"')
    assert "<html" not in htmx.text


async def test_validation_as_you_type_writes_nothing(client: httpx.AsyncClient, admin: accounts.User) -> None:
    taken = await category_fixture(name="Books")
    token = await csrf(client, INDEX)
    headers = {"x-csrf-token": token, "hx-request": "true"}

    response = await client.post(f"{INDEX}/validate", data={"name": "BOOKS", "slug": "Not A Slug"}, headers=headers)
    slug_taken = await client.post(f"{INDEX}/validate", data={"name": "Fine", "slug": taken.slug}, headers=headers)
    fine = await client.post(f"{INDEX}/validate", data={"name": "Fine", "slug": "fine"}, headers=headers)

    assert response.status_code == 200
    assert '<div id="category_name-error" class="field-errors" hx-swap-oob="true">' in response.text
    assert errors_of(response.text, "category_name") == ["has already been taken"]  # any letter case
    assert errors_of(response.text, "category_slug") == ["has invalid format"]
    assert errors_of(slug_taken.text, "category_slug") == ["has already been taken"]
    assert errors_of(slug_taken.text, "category_name") == []
    assert all(errors_of(fine.text, f"category_{field}") == [] for field in ("name", "slug", "description"))
    assert await catalog.get_category_by_slug(SYSTEM, "fine") is None


async def test_creating_a_category_adds_it_and_says_so(client: httpx.AsyncClient, admin: accounts.User) -> None:
    slug = unique_slug("tea")
    token = await csrf(client, f"{INDEX}/new")

    response = await client.post(INDEX, data={"_csrf_token": token, "name": "Green Tea", "slug": slug})

    assert response.status_code == 303
    assert response.headers["location"] == INDEX
    page = await client.get(INDEX)
    assert "Category created successfully" in page.text
    created = await catalog.get_category_by_slug(SYSTEM, slug)
    assert created is not None
    assert created.name == "Green Tea"
    assert str(created.id) in row_ids(page.text)


async def test_invalid_input_shows_the_modal_again_and_creates_nothing(
    client: httpx.AsyncClient, admin: accounts.User
) -> None:
    before = len(await catalog.list_categories(SYSTEM))
    token = await csrf(client, INDEX)

    response = await client.post(INDEX, data={"_csrf_token": token, "name": "Typed", "slug": "Bad Slug"})

    assert response.status_code == 422
    assert 'id="category-modal"' in response.text
    assert "has invalid format" in response.text
    assert 'value="Typed"' in response.text  # what was typed stays
    assert response.headers["hx-push-url"] == "false"
    assert len(await catalog.list_categories(SYSTEM)) == before


# --- Edit ---


async def test_editing_a_category_saves_it(client: httpx.AsyncClient, admin: accounts.User) -> None:
    tea = await category_fixture(name="Tea")
    page = await client.get(f"{INDEX}/{tea.id}/edit")
    assert "Edit Category" in page.text
    assert 'value="Tea"' in page.text
    assert (await client.get(f"{INDEX}/{uuid.uuid4()}/edit")).status_code == 404

    response = await client.post(
        f"{INDEX}/{tea.id}", data={"_csrf_token": await csrf(client, INDEX), "name": "Black Tea", "slug": tea.slug}
    )

    assert response.status_code == 303
    assert "Category updated successfully" in (await client.get(INDEX)).text
    updated = await catalog.get_category(SYSTEM, tea.id)
    assert updated is not None
    assert updated.name == "Black Tea"


async def test_an_invalid_edit_changes_nothing(client: httpx.AsyncClient, admin: accounts.User) -> None:
    tea = await category_fixture(name="Tea")
    other = await category_fixture(name="Coffee")
    token = await csrf(client, INDEX)

    blank = await client.post(f"{INDEX}/{tea.id}", data={"_csrf_token": token, "name": " ", "slug": tea.slug})
    taken = await client.post(f"{INDEX}/{tea.id}", data={"_csrf_token": token, "name": "coffee", "slug": tea.slug})
    live = await client.post(
        f"{INDEX}/{tea.id}/validate", data={"name": "Tea", "slug": other.slug}, headers={"x-csrf-token": token}
    )
    own = await client.post(
        f"{INDEX}/{tea.id}/validate", data={"name": "TEA", "slug": tea.slug}, headers={"x-csrf-token": token}
    )

    assert blank.status_code == 422
    assert "can&#39;t be blank" in blank.text
    assert taken.status_code == 422
    assert "has already been taken" in taken.text
    assert errors_of(live.text, "category_slug") == ["has already been taken"]
    assert errors_of(own.text, "category_name") == []  # its own name and slug are not "taken"
    assert errors_of(own.text, "category_slug") == []
    unchanged = await catalog.get_category(SYSTEM, tea.id)
    assert unchanged is not None
    assert unchanged.name == "Tea"


# --- Delete ---


async def test_deleting_a_category_removes_it(client: httpx.AsyncClient, admin: accounts.User) -> None:
    tea = await category_fixture()

    response = await client.post(f"{INDEX}/{tea.id}/delete", data={"_csrf_token": await csrf(client, INDEX)})

    assert response.status_code == 303
    after = await client.get(INDEX)
    assert "Category deleted successfully" in after.text
    assert str(tea.id) not in row_ids(after.text)
    assert await catalog.get_category(SYSTEM, tea.id) is None


async def test_a_category_with_products_is_not_deleted_and_the_page_says_why(
    client: httpx.AsyncClient, admin: accounts.User
) -> None:
    tea = await category_fixture()
    await product_fixture(category=tea)
    token = await csrf(client, INDEX)

    response = await client.post(
        f"{INDEX}/{tea.id}/delete", data={"_csrf_token": token}, headers={"x-csrf-token": token, **HTMX_SLOT}
    )

    assert response.status_code == 303
    followed = await client.get(response.headers["location"], headers=HTMX_SLOT)
    assert followed.status_code == 200
    assert "This category still has products. Move or delete them first." in followed.text
    assert 'class="flash flash-error"' in followed.text
    assert await catalog.get_category(SYSTEM, tea.id) is not None


# --- Show ---


async def test_show_lists_the_details_and_edits_in_place(client: httpx.AsyncClient, admin: accounts.User) -> None:
    tea = await category_fixture(name="Tea", description="Leaves, dried")

    page = await client.get(f"{INDEX}/{tea.id}")
    assert page.status_code == 200
    assert "Leaves, dried" in page.text
    assert f'href="{INDEX}/{tea.id}/show/edit"' in page.text
    assert f'sse-connect="{INDEX}/{tea.id}"' in page.text
    modal = await client.get(f"{INDEX}/{tea.id}/show/edit")
    assert 'name="_return" value="show"' in modal.text

    response = await client.post(
        f"{INDEX}/{tea.id}",
        data={"_csrf_token": await csrf(client, INDEX), "_return": "show", "name": "Herbal", "slug": tea.slug},
    )

    assert response.headers["location"] == f"{INDEX}/{tea.id}"
    assert "Herbal" in (await client.get(f"{INDEX}/{tea.id}")).text


async def test_a_missing_category_goes_back_to_the_list(client: httpx.AsyncClient, admin: accounts.User) -> None:
    response = await client.get(f"{INDEX}/{uuid.uuid4()}")

    assert response.status_code == 303
    assert response.headers["location"] == INDEX
    assert "That category no longer exists." in (await client.get(INDEX)).text


# --- The live stream ---


async def test_the_list_stream_pushes_creates_updates_and_deletes(
    web_app: FastAPI, client: httpx.AsyncClient, admin: accounts.User
) -> None:
    await category_fixture(name="Zebra")
    async with live_stream(web_app, client, INDEX) as stream:
        first = await stream.next_event()
        assert first.data.startswith('<hx-partial hx-target="#live-region" hx-swap="innerHTML">')

        created = await category_fixture(name="Pushed In")
        inserted = await stream.next_event()  # the list again, in name order
        assert inserted.data.startswith('<hx-partial hx-target="#live-region" hx-swap="innerHTML">')
        assert inserted.data.index("Pushed In") < inserted.data.index("Zebra")
        assert f'<tr id="categories-{created.id}">' in inserted.data
        assert 'name="_csrf_token"' in inserted.data  # its Delete form works

        await catalog.update_category(SYSTEM, created, {"name": "Renamed"})
        renamed = await stream.next_event()  # the list again: a new name may move the row
        assert renamed.data.startswith('<hx-partial hx-target="#live-region" hx-swap="innerHTML">')
        assert renamed.data.index("Renamed") < renamed.data.index("Zebra")

        product = await product_fixture(category=created)
        counted = await stream.next_event()  # a product added anywhere changes its category's count
        assert _count_cell(counted.data, created.id) == "1"
        await catalog.delete_product(SYSTEM, product)
        assert _count_cell((await stream.next_event()).data, created.id) == "0"

        await catalog.delete_category(SYSTEM, created)
        deleted = await stream.next_event()
        assert deleted.data == f'<hx-partial hx-target="#categories-{created.id}" hx-swap="delete"></hx-partial>'


async def test_the_users_page_has_the_admin_navigation_too(client: httpx.AsyncClient, admin: accounts.User) -> None:
    response = await client.get("/users")

    nav = response.text.split('class="admin-nav"', 1)[1].split("</nav>", 1)[0]
    assert 'href="/users" aria-current="page">Users' in nav
    assert f'href="{INDEX}">Categories' in nav
