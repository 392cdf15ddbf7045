"""The posts API (phx.gen.json's post_controller_test): public reads, drafts, author/admin writes."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from my_app import accounts, blog
from tests.support.fixtures.accounts import SYSTEM
from tests.support.fixtures.api import FORBIDDEN, NOT_FOUND, UNAUTHORIZED, api_user, auth_for
from tests.support.fixtures.blog import comment_fixture, post_fixture, unique_slug

POST_KEYS = {
    "id",
    "title",
    "slug",
    "body",
    "published_at",
    "author",
    "comment_count",
    "inserted_at",
    "updated_at",
}


def post_params(**overrides: Any) -> dict[str, Any]:
    return {"post": {"title": "Hello", "slug": unique_slug(), "body": "Text", **overrides}}


async def listed_ids(client: httpx.AsyncClient, headers: dict[str, str] | None = None) -> list[str]:
    response = await client.get("/api/posts", params={"limit": 100}, headers=headers or {})
    assert response.status_code == 200, response.text
    return [post["id"] for post in response.json()["data"]]


class TestIndex:
    async def test_lists_published_posts_with_author_and_comment_count(
        self, client: httpx.AsyncClient, user: accounts.User
    ) -> None:
        post = await post_fixture(user)
        await comment_fixture(user, post)
        draft = await post_fixture(user, published_at=None)

        response = await client.get("/api/posts", params={"limit": 100})

        assert response.status_code == 200
        body = response.json()
        assert set(body) == {"data", "meta"}
        assert body["meta"] == {"limit": 100, "next_cursor": None}
        [item] = [item for item in body["data"] if item["id"] == str(post.id)]
        assert set(item) == POST_KEYS
        assert item["author"] == {"id": str(user.id), "name": user.name}
        assert item["comment_count"] == 1
        assert item["published_at"] == "2026-12-01T10:00:00Z"
        assert str(draft.id) not in [entry["id"] for entry in body["data"]]

    async def test_drafts_are_absent_even_for_their_author(
        self, client: httpx.AsyncClient, user: accounts.User, user_auth: dict[str, str]
    ) -> None:
        draft = await post_fixture(user, published_at=None)

        assert str(draft.id) not in await listed_ids(client, user_auth)
        response = await client.get("/api/posts/drafts", headers=user_auth)
        assert [post["id"] for post in response.json()["data"]] == [str(draft.id)]
        assert (await client.get("/api/posts/drafts")).json() == UNAUTHORIZED

    async def test_pages_follow_next_cursor(self, client: httpx.AsyncClient, user: accounts.User) -> None:
        made = [str((await post_fixture(user)).id) for _ in range(3)]

        first = (await client.get("/api/posts", params={"limit": 2})).json()
        seen = [post["id"] for post in first["data"]]
        cursor = first["meta"]["next_cursor"]
        while cursor:
            page = (await client.get("/api/posts", params={"limit": 2, "cursor": cursor})).json()
            seen += [post["id"] for post in page["data"]]
            cursor = page["meta"]["next_cursor"]

        assert [post_id for post_id in seen if post_id in made] == made

    async def test_a_bad_limit_is_400_and_a_bad_cursor_422(self, client: httpx.AsyncClient) -> None:
        assert (await client.get("/api/posts", params={"limit": 101})).status_code == 400
        response = await client.get("/api/posts", params={"cursor": "garbage"})
        assert response.status_code == 422
        assert response.json() == {"errors": {"cursor": ["is invalid"]}}

    async def test_an_invalid_token_is_401_even_on_a_public_read(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/api/posts", headers={"authorization": "Bearer nope"})

        assert response.status_code == 401
        assert response.json() == UNAUTHORIZED


class TestShow:
    async def test_shows_a_post_with_its_comments(self, client: httpx.AsyncClient, user: accounts.User) -> None:
        post = await post_fixture(user)
        reader = await api_user(name="Reader")
        comment = await comment_fixture(reader, post, body="Nice")

        response = await client.get(f"/api/posts/{post.id}")

        assert response.status_code == 200
        data = response.json()["data"]
        assert set(data) == POST_KEYS | {"comments"}
        assert data["comments"] == [
            {
                "id": str(comment.id),
                "body": "Nice",
                "post_id": str(post.id),
                "author": {"id": str(reader.id), "name": "Reader"},
                "inserted_at": data["comments"][0]["inserted_at"],
                "updated_at": data["comments"][0]["updated_at"],
            }
        ]

    async def test_a_draft_is_shown_to_its_author_and_admins_only(
        self, client: httpx.AsyncClient, user: accounts.User, user_auth: dict[str, str], admin_auth: dict[str, str]
    ) -> None:
        draft = await post_fixture(user, published_at=None)
        other = await auth_for(await api_user())

        for headers in (user_auth, admin_auth):
            assert (await client.get(f"/api/posts/{draft.id}", headers=headers)).status_code == 200
        for headers in (other, {}):
            response = await client.get(f"/api/posts/{draft.id}", headers=headers)
            assert response.status_code == 404
            assert response.json() == NOT_FOUND

    async def test_unknown_and_malformed_ids_are_404(self, client: httpx.AsyncClient) -> None:
        for post_id in (uuid.uuid4(), "not-an-id"):
            response = await client.get(f"/api/posts/{post_id}")
            assert response.status_code == 404
            assert response.json() == NOT_FOUND

    async def test_a_deleted_author_shows_as_null(self, client: httpx.AsyncClient, user: accounts.User) -> None:
        post = await post_fixture(user)
        await comment_fixture(user, post)
        await accounts.delete_user(SYSTEM, user)

        data = (await client.get(f"/api/posts/{post.id}")).json()["data"]

        assert data["author"] is None
        assert data["comments"][0]["author"] is None


class TestCreate:
    async def test_creates_a_post_by_the_caller(
        self, client: httpx.AsyncClient, user: accounts.User, user_auth: dict[str, str]
    ) -> None:
        params = post_params(published_at="2026-12-01T10:00:00Z")

        response = await client.post("/api/posts", json=params, headers=user_auth)

        assert response.status_code == 201, response.text
        data = response.json()["data"]
        assert response.headers["location"] == f"/api/posts/{data['id']}"
        assert data["author"] == {"id": str(user.id), "name": user.name}
        assert data["slug"] == params["post"]["slug"]
        assert data["comments"] == []
        assert data["comment_count"] == 0
        assert data["id"] in await listed_ids(client)

    async def test_without_published_at_it_is_a_draft(
        self, client: httpx.AsyncClient, user_auth: dict[str, str]
    ) -> None:
        response = await client.post("/api/posts", json=post_params(), headers=user_auth)

        assert response.json()["data"]["published_at"] is None
        assert (await client.get(f"/api/posts/{response.json()['data']['id']}")).status_code == 404

    async def test_invalid_or_taken_is_422(
        self, client: httpx.AsyncClient, user: accounts.User, user_auth: dict[str, str]
    ) -> None:
        taken = await post_fixture(user)

        invalid = await client.post("/api/posts", json={"post": {"slug": "Bad Slug"}}, headers=user_auth)
        duplicate = await client.post("/api/posts", json=post_params(slug=taken.slug), headers=user_auth)

        assert invalid.status_code == 422
        assert invalid.json() == {
            "errors": {
                "title": ["can't be blank"],
                "slug": ["must be lowercase letters, digits and single dashes"],
                "body": ["can't be blank"],
            }
        }
        assert duplicate.status_code == 422
        assert duplicate.json() == {"errors": {"slug": ["has already been taken"]}}

    async def test_without_a_token_is_401_and_a_bad_body_400(
        self, client: httpx.AsyncClient, user_auth: dict[str, str]
    ) -> None:
        unauthorized = await client.post("/api/posts", json=post_params())
        unwrapped = await client.post("/api/posts", json={"title": "x"}, headers=user_auth)

        assert unauthorized.status_code == 401
        assert unauthorized.json() == UNAUTHORIZED
        assert unwrapped.status_code == 400


class TestUpdateAndDelete:
    async def test_the_author_updates_with_patch_and_put(
        self, client: httpx.AsyncClient, user: accounts.User, user_auth: dict[str, str]
    ) -> None:
        post = await post_fixture(user)

        patched = await client.patch(f"/api/posts/{post.id}", json={"post": {"title": "New"}}, headers=user_auth)
        put = await client.put(f"/api/posts/{post.id}", json={"post": {"published_at": None}}, headers=user_auth)

        assert patched.status_code == 200
        assert patched.json()["data"]["title"] == "New"
        assert put.status_code == 200
        assert put.json()["data"]["published_at"] is None

    async def test_admins_update_and_delete_anything(
        self, client: httpx.AsyncClient, user: accounts.User, admin_auth: dict[str, str]
    ) -> None:
        post = await post_fixture(user, published_at=None)

        patched = await client.patch(f"/api/posts/{post.id}", json={"post": {"title": "Mod"}}, headers=admin_auth)
        deleted = await client.delete(f"/api/posts/{post.id}", headers=admin_auth)

        assert patched.status_code == 200
        assert deleted.status_code == 204
        assert deleted.content == b""
        assert await blog.get_post(SYSTEM, post.id) is None

    async def test_others_get_403_and_nothing_changes(self, client: httpx.AsyncClient, user: accounts.User) -> None:
        post = await post_fixture(user)
        other = await auth_for(await api_user())

        patched = await client.patch(f"/api/posts/{post.id}", json={"post": {"title": "x"}}, headers=other)
        deleted = await client.delete(f"/api/posts/{post.id}", headers=other)

        assert (patched.status_code, patched.json()) == (403, FORBIDDEN)
        assert (deleted.status_code, deleted.json()) == (403, FORBIDDEN)
        assert (await blog.get_post_or_404(SYSTEM, post.id)).title == post.title

    async def test_someone_elses_draft_is_404_and_no_token_401(
        self, client: httpx.AsyncClient, user: accounts.User
    ) -> None:
        draft = await post_fixture(user, published_at=None)
        other = await auth_for(await api_user())

        assert (await client.delete(f"/api/posts/{draft.id}", headers=other)).status_code == 404
        assert (await client.delete(f"/api/posts/{draft.id}")).status_code == 401
        assert (await client.patch("/api/posts/not-an-id", json={"post": {}}, headers=other)).status_code == 404


class TestOptionalToken:
    async def test_a_malformed_authorization_header_is_401(self, client: httpx.AsyncClient) -> None:
        for value in ("Basic abc", "Bearer ", "Bearer"):
            response = await client.get("/api/posts", headers={"authorization": value})
            assert response.status_code == 401, value
