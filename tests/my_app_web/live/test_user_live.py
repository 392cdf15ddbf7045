"""The live user pages (the seed's `user_live_test.exs`): list, new, edit, delete, show, who may see
them, and what their live streams push when users change through the context."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from my_app import accounts
from my_app.accounts import Role
from tests.support.browser_forms import csrf_token_in, log_in
from tests.support.fixtures.accounts import SYSTEM, unique_user_email, user_fixture
from tests.support.fixtures.api import reset_rate_limits
from tests.support.live_case import LiveStreamReader, live_stream

HTMX_SLOT = {"hx-request": "true", "hx-target": "user-modal-slot"}


@pytest.fixture(autouse=True)
async def _fresh_rate_limits(web_app: FastAPI) -> AsyncIterator[None]:
    await reset_rate_limits(web_app)
    yield
    await reset_rate_limits(web_app)


@pytest.fixture
async def admin(client: httpx.AsyncClient) -> accounts.User:
    """An admin, logged in with `client`."""
    user = await user_fixture(role="admin", name="Ada Admin")
    assert (await log_in(client, user.email)).status_code == 303
    return user


async def csrf(client: httpx.AsyncClient, path: str = "/users") -> str:
    return csrf_token_in((await client.get(path)).text)


@asynccontextmanager
async def opened_stream(web_app: FastAPI, client: httpx.AsyncClient, path: str) -> AsyncIterator[LiveStreamReader]:
    """A live stream past its first render (the page as it was when it connected)."""
    async with live_stream(web_app, client, path) as stream:
        await stream.next_event()
        yield stream


def row_ids(html: str) -> list[str]:
    return re.findall(r'<tr id="users-([0-9a-f-]{36})"', html)


# --- The list ---


async def test_lists_all_users(client: httpx.AsyncClient, admin: accounts.User) -> None:
    other = await user_fixture(name="Bob Builder")

    response = await client.get("/users")

    assert response.status_code == 200
    assert "Listing Users" in response.text
    assert "New User" in response.text
    assert {str(admin.id), str(other.id)} <= set(row_ids(response.text))
    assert other.email in response.text
    assert "Bob Builder" in response.text
    assert '<span class="badge badge-admin">Admin</span>' in response.text
    assert f'href="/users/{other.id}"' in response.text  # Show
    assert f'hx-get="/users/{other.id}/edit"' in response.text  # Edit, as a modal
    assert f'action="/users/{other.id}/delete"' in response.text  # Delete, a form with CSRF
    # The page opens its own live stream.
    assert 'sse-connect="/users"' in response.text


async def test_the_list_shows_the_first_users_and_a_link_to_more(
    client: httpx.AsyncClient, admin: accounts.User
) -> None:
    for _ in range(3):
        await user_fixture()
    everyone = len(await accounts.list_users(SYSTEM))

    short = await client.get("/users?limit=2")
    full = await client.get(f"/users?limit={everyone}")

    assert len(row_ids(short.text)) == 2
    assert 'href="/users?limit=52"' in short.text
    assert 'sse-connect="/users?limit=2"' in short.text
    assert len(row_ids(full.text)) == everyone
    assert "Show more users" not in full.text


async def test_the_inserted_date_is_formatted_for_the_locale(client: httpx.AsyncClient, admin: accounts.User) -> None:
    english = await client.get("/users")
    german = await client.get("/users?locale=de")

    assert admin.inserted_at.strftime("%b") in english.text
    assert admin.inserted_at.strftime("%d.%m.%Y") in german.text


# --- Who may see it ---


async def test_a_user_who_is_not_an_admin_gets_403(client: httpx.AsyncClient) -> None:
    user = await user_fixture()
    other = await user_fixture()
    await log_in(client, user.email)
    token = await csrf(client, "/")

    for path in ["/users", "/users/new", f"/users/{other.id}", f"/users/{other.id}/edit", f"/users/{user.id}"]:
        response = await client.get(path)
        assert response.status_code == 403, path
        assert "Forbidden" in response.text
    for path in ["/users", "/users/validate", f"/users/{other.id}", f"/users/{other.id}/delete"]:
        response = await client.post(path, data={"_csrf_token": token, "email": "x@example.com", "name": "X"})
        assert response.status_code == 403, path
    assert await accounts.get_user_by_email("x@example.com") is None
    assert await accounts.get_user(SYSTEM, other.id) is not None


async def test_a_visitor_is_sent_to_log_in_and_comes_back_afterwards(client: httpx.AsyncClient) -> None:
    admin = await user_fixture(role="admin")

    response = await client.get("/users")

    assert response.status_code == 303
    assert response.headers["location"] == "/users/log-in"
    logged_in = await log_in(client, admin.email)
    assert logged_in.headers["location"] == "/users"
    assert (await client.get("/users")).status_code == 200


async def test_the_live_stream_refuses_the_same_way(web_app: FastAPI, client: httpx.AsyncClient) -> None:
    async with live_stream(web_app, client, "/users") as stream:
        with pytest.raises(EOFError):
            await stream.next_event()
        assert stream.status == 303
    user = await user_fixture()
    await log_in(client, user.email)
    async with live_stream(web_app, client, "/users") as stream:
        with pytest.raises(EOFError):
            await stream.next_event()
        assert stream.status == 403
        # Nothing reaches a refused stream when users change.
        await user_fixture()


# --- New user ---


async def test_new_user_opens_the_modal_over_the_list(client: httpx.AsyncClient, admin: accounts.User) -> None:
    response = await client.get("/users/new")

    assert response.status_code == 200
    assert admin.email in response.text  # the list is under it (without JavaScript this is the page)
    assert 'id="user-modal"' in response.text
    assert 'role="dialog"' in response.text
    assert '<form id="user-form"' in response.text
    assert 'action="/users"' in response.text
    assert 'hx-post="/users/validate"' in response.text  # live validation
    for field in ["email", "name", "role", "password"]:
        assert f'id="user_{field}"' in response.text
    assert '<option value="user" selected>' in response.text
    assert 'sse-connect="/users"' in response.text  # the stream is the list's: the modal is not live


async def test_with_htmx_new_user_answers_just_the_modal(client: httpx.AsyncClient, admin: accounts.User) -> None:
    response = await client.get("/users/new", headers=HTMX_SLOT)

    assert response.status_code == 200
    assert response.text.lstrip().startswith('<div id="user-modal-slot"')
    assert "<html" not in response.text
    assert admin.email not in response.text  # no list: only the modal
    assert 'id="user-modal"' in response.text


async def test_validation_as_you_type_shows_errors_and_writes_nothing(
    client: httpx.AsyncClient, admin: accounts.User
) -> None:
    token = await csrf(client)

    response = await client.post(
        "/users/validate",
        data={"email": "not an email", "name": "", "role": "user", "password": "short"},
        headers={"x-csrf-token": token, "hx-request": "true"},
    )

    assert response.status_code == 200
    assert '<div id="user_email-error" class="field-errors" hx-swap-oob="true">' in response.text
    assert "must be a valid email" in response.text
    assert "can&#39;t be blank" in response.text
    assert "should be at least 12 character(s)" in response.text
    assert await accounts.get_user_by_email("not an email") is None
    fine = await client.post(
        "/users/validate",
        data={"email": unique_user_email(), "name": "Fine", "role": "admin", "password": ""},
        headers={"x-csrf-token": token, "hx-request": "true"},
    )
    assert "field-error" not in fine.text.replace("field-errors", "")


async def test_validation_messages_follow_the_locale(client: httpx.AsyncClient, admin: accounts.User) -> None:
    token = await csrf(client, "/users?locale=de")

    response = await client.post("/users/validate", data={"email": "", "name": "x"}, headers={"x-csrf-token": token})

    assert "can&#39;t be blank" not in response.text
    assert "user_email-error" in response.text


async def test_saving_a_new_user_with_errors_shows_the_modal_again(
    client: httpx.AsyncClient, admin: accounts.User
) -> None:
    token = await csrf(client)

    response = await client.post(
        "/users", data={"_csrf_token": token, "email": "bad", "name": "Someone", "role": "admin"}
    )

    assert response.status_code == 422
    assert 'id="user-modal"' in response.text
    assert "must be a valid email" in response.text
    assert 'value="bad"' in response.text  # what was typed stays
    assert 'value="Someone"' in response.text
    assert '<option value="admin" selected>' in response.text
    assert response.headers["hx-push-url"] == "false"
    assert 'sse-connect="/users"' in response.text

    taken = await client.post("/users", data={"_csrf_token": token, "email": admin.email, "name": "Copy"})
    assert taken.status_code == 422
    assert "has already been taken" in taken.text


async def test_saving_a_new_user_adds_it_and_says_so(client: httpx.AsyncClient, admin: accounts.User) -> None:
    email = unique_user_email()
    token = await csrf(client, "/users/new")

    response = await client.post(
        "/users",
        data={"_csrf_token": token, "email": email, "name": "New Person", "role": "admin", "password": ""},
    )

    assert response.status_code == 303
    assert response.headers["location"] == "/users"
    page = await client.get("/users")
    assert "User created successfully" in page.text
    assert email in page.text
    assert 'id="user-modal"' not in page.text
    created = await accounts.get_user_by_email(email)
    assert created is not None
    assert created.role == Role.ADMIN
    assert created.name == "New Person"
    assert created.hashed_password is None  # no password given: they log in by emailed link


async def test_an_htmx_save_gets_the_empty_slot_and_the_flash(client: httpx.AsyncClient, admin: accounts.User) -> None:
    token = await csrf(client)
    response = await client.post(
        "/users",
        data={"email": unique_user_email(), "name": "Via htmx", "password": "a long enough password"},
        headers={"x-csrf-token": token, **HTMX_SLOT},
    )
    assert response.status_code == 303

    followed = await client.get(response.headers["location"], headers=HTMX_SLOT)

    assert followed.text.lstrip().startswith('<div id="user-modal-slot"')
    assert 'id="user-modal"' not in followed.text
    assert "User created successfully" in followed.text  # the form takes the flash out of band
    assert "<html" not in followed.text


async def test_forms_need_the_csrf_token(client: httpx.AsyncClient, admin: accounts.User) -> None:
    other = await user_fixture()

    created = await client.post("/users", data={"email": unique_user_email(), "name": "No Token"})
    deleted = await client.post(f"/users/{other.id}/delete")

    assert created.status_code == 403
    assert deleted.status_code == 403
    assert await accounts.get_user(SYSTEM, other.id) is not None


# --- Edit ---


async def test_edit_opens_the_modal_with_the_users_details(client: httpx.AsyncClient, admin: accounts.User) -> None:
    other = await user_fixture(name="Bob Builder")

    response = await client.get(f"/users/{other.id}/edit")

    assert response.status_code == 200
    assert "Edit User" in response.text
    assert f'action="/users/{other.id}"' in response.text
    assert f'value="{other.email}"' in response.text
    assert 'value="Bob Builder"' in response.text
    assert 'id="user_password"' not in response.text
    assert (await client.get(f"/users/{uuid.uuid4()}/edit")).status_code == 404


async def test_updating_a_user_saves_it_and_says_so(client: httpx.AsyncClient, admin: accounts.User) -> None:
    other = await user_fixture(name="Bob Builder")
    token = await csrf(client, f"/users/{other.id}/edit")

    response = await client.post(
        f"/users/{other.id}", data={"_csrf_token": token, "email": other.email, "name": "Robert", "role": "admin"}
    )

    assert response.status_code == 303
    assert response.headers["location"] == "/users"
    assert "User updated successfully" in (await client.get("/users")).text
    updated = await accounts.get_user(SYSTEM, other.id)
    assert updated is not None
    assert (updated.name, updated.role) == ("Robert", Role.ADMIN)


async def test_updating_with_errors_shows_the_modal_again(client: httpx.AsyncClient, admin: accounts.User) -> None:
    other = await user_fixture(name="Bob Builder")
    token = await csrf(client)

    blank = await client.post(f"/users/{other.id}", data={"_csrf_token": token, "email": other.email, "name": " "})
    taken = await client.post(f"/users/{other.id}", data={"_csrf_token": token, "email": admin.email, "name": "B"})
    live = await client.post(
        f"/users/{other.id}/validate", data={"email": "nope", "name": ""}, headers={"x-csrf-token": token}
    )

    assert blank.status_code == 422
    assert "can&#39;t be blank" in blank.text
    assert taken.status_code == 422
    assert "has already been taken" in taken.text
    assert "must be a valid email" in live.text
    assert "can&#39;t be blank" in live.text
    unchanged = await accounts.get_user(SYSTEM, other.id)
    assert unchanged is not None
    assert unchanged.name == "Bob Builder"


# --- Delete ---


async def test_deleting_a_user_removes_it(client: httpx.AsyncClient, admin: accounts.User) -> None:
    other = await user_fixture()
    page = await client.get("/users")
    assert str(other.id) in row_ids(page.text)

    response = await client.post(f"/users/{other.id}/delete", data={"_csrf_token": csrf_token_in(page.text)})

    assert response.status_code == 303
    assert response.headers["location"] == "/users"
    after = await client.get("/users")
    assert "User deleted successfully" in after.text
    assert str(other.id) not in row_ids(after.text)
    assert await accounts.get_user(SYSTEM, other.id) is None


# --- Show ---


async def test_show_lists_the_users_details(client: httpx.AsyncClient, admin: accounts.User) -> None:
    other = await user_fixture(name="Bob Builder")

    response = await client.get(f"/users/{other.id}")

    assert response.status_code == 200
    assert "Bob Builder" in response.text
    assert other.email in response.text
    assert '<dl class="list">' in response.text
    assert f'href="/users/{other.id}/show/edit"' in response.text
    assert 'href="/users"' in response.text  # back
    assert f'sse-connect="/users/{other.id}"' in response.text


async def test_editing_from_show_goes_back_to_show(client: httpx.AsyncClient, admin: accounts.User) -> None:
    other = await user_fixture(name="Bob Builder")
    page = await client.get(f"/users/{other.id}/show/edit")
    assert 'name="_return" value="show"' in page.text
    assert f'href="/users/{other.id}" aria-label="Close"' in page.text  # Cancel stays on the user's page

    response = await client.post(
        f"/users/{other.id}",
        data={"_csrf_token": csrf_token_in(page.text), "_return": "show", "email": other.email, "name": "Robert"},
    )

    assert response.headers["location"] == f"/users/{other.id}"
    shown = await client.get(f"/users/{other.id}")
    assert "User updated successfully" in shown.text
    assert "Robert" in shown.text


async def test_a_deleted_users_page_goes_back_to_the_list(client: httpx.AsyncClient, admin: accounts.User) -> None:
    response = await client.get(f"/users/{uuid.uuid4()}")

    assert response.status_code == 303
    assert response.headers["location"] == "/users"
    assert "That user no longer exists." in (await client.get("/users")).text


# --- The live streams ---


async def test_the_list_stream_pushes_creates_updates_and_deletes(
    web_app: FastAPI, client: httpx.AsyncClient, admin: accounts.User
) -> None:
    async with live_stream(web_app, client, "/users") as stream:
        first = await stream.next_event()
        assert first.data.startswith('<hx-partial hx-target="#live-region" hx-swap="innerHTML">')
        assert f'id="users-{admin.id}"' in first.data

        created = await accounts.admin_create_user(
            SYSTEM, {"email": unique_user_email(), "name": "Pushed In", "role": "user"}
        )
        inserted = await stream.next_event()
        assert inserted.data.startswith('<hx-partial hx-target="#users" hx-swap="beforeend">')
        assert f'<tr id="users-{created.id}">' in inserted.data
        assert "Pushed In" in inserted.data
        assert 'name="_csrf_token"' in inserted.data  # its Delete form works

        await accounts.update_user(SYSTEM, created, {"name": "Renamed"})
        replaced = await stream.next_event()
        assert replaced.data.startswith(f'<hx-partial hx-target="#users-{created.id}" hx-swap="outerHTML">')
        assert "Renamed" in replaced.data

        await accounts.delete_user(SYSTEM, created)
        deleted = await stream.next_event()
        assert deleted.data == f'<hx-partial hx-target="#users-{created.id}" hx-swap="delete"></hx-partial>'


async def test_a_cut_short_list_pushes_nothing_about_users_it_does_not_show(
    web_app: FastAPI, client: httpx.AsyncClient, admin: accounts.User
) -> None:
    hidden = await user_fixture()
    shown = len(await accounts.list_users(SYSTEM)) - 1
    async with live_stream(web_app, client, f"/users?limit={shown}") as stream:
        await stream.next_event()
        await accounts.update_user(SYSTEM, hidden, {"name": "Not Shown"})
        await user_fixture()  # after the last one shown: "Show more" finds it
        await accounts.delete_user(SYSTEM, hidden)
        await stream.no_event()


async def test_pages_share_one_query_per_message(
    web_app: FastAPI, client: httpx.AsyncClient, admin: accounts.User, monkeypatch: pytest.MonkeyPatch
) -> None:
    loads: list[Any] = []
    get_user = accounts.get_user

    async def counting_get_user(scope: accounts.Scope, user_id: Any) -> accounts.User | None:
        loads.append(user_id)
        return await get_user(scope, user_id)

    monkeypatch.setattr(accounts, "get_user", counting_get_user)
    # Opened one after the other: the test's sandbox is one connection, which serves one query at a time.
    async with (
        opened_stream(web_app, client, "/users") as one,
        opened_stream(web_app, client, "/users") as two,
        opened_stream(web_app, client, "/users") as three,
    ):
        loads.clear()
        created = await user_fixture(name="Seen Thrice")
        for stream in (one, two, three):
            assert "Seen Thrice" in (await stream.next_event()).data
        assert loads == [str(created.id)]


async def test_pushed_rows_speak_the_language_of_the_page(
    web_app: FastAPI, client: httpx.AsyncClient, admin: accounts.User
) -> None:
    await client.get("/users?locale=de")  # the session remembers the choice
    async with live_stream(web_app, client, "/users") as stream:
        await stream.next_event()
        created = await user_fixture()
        event = await stream.next_event()
        assert created.inserted_at.strftime("%d.%m.%Y") in event.data


async def test_an_admin_who_loses_the_role_stops_seeing_changes(
    web_app: FastAPI, client: httpx.AsyncClient, admin: accounts.User
) -> None:
    async with live_stream(web_app, client, "/users") as stream:
        await stream.next_event()
        await accounts.update_user(SYSTEM, admin, {"role": "user"})
        event = await stream.next_event()
        assert event.data.startswith('<hx-partial hx-target="#live-region" hx-swap="innerHTML">')
        assert "no longer an administrator" in event.data
        await user_fixture()
        await stream.no_event()
    assert (await client.get("/users")).status_code == 403


async def test_the_show_stream_follows_the_user(
    web_app: FastAPI, client: httpx.AsyncClient, admin: accounts.User
) -> None:
    other = await user_fixture(name="Bob Builder")
    async with live_stream(web_app, client, f"/users/{other.id}") as stream:
        first = await stream.next_event()
        assert "Bob Builder" in first.data

        await user_fixture()  # someone else: nothing to show
        await stream.no_event()

        await accounts.update_user(SYSTEM, other, {"name": "Robert"})
        updated = await stream.next_event()
        assert "Robert" in updated.data
        assert "This user was just changed" in updated.data

        await accounts.delete_user(SYSTEM, other)
        deleted = await stream.next_event()
        assert "This user has been deleted." in deleted.data
        assert f'hx-get="/users/{other.id}"' in deleted.data  # which now leads back to the list
