"""The comments API (phx.gen.json's comment_controller_test), nested under a post."""

from __future__ import annotations

import uuid

import httpx
import pytest

from my_app import accounts, blog
from tests.support.fixtures.accounts import SYSTEM
from tests.support.fixtures.api import FORBIDDEN, NOT_FOUND, UNAUTHORIZED, api_user, auth_for
from tests.support.fixtures.blog import comment_fixture, post_fixture

COMMENT_KEYS = {"id", "body", "post_id", "author", "inserted_at", "updated_at"}


@pytest.fixture
async def post(user: accounts.User) -> blog.Post:
    return await post_fixture(user)


class TestIndex:
    async def test_lists_the_comments_publicly(
        self, client: httpx.AsyncClient, user: accounts.User, post: blog.Post
    ) -> None:
        comment = await comment_fixture(user, post, body="First")

        response = await client.get(f"/api/posts/{post.id}/comments")

        assert response.status_code == 200
        body = response.json()
        assert body["meta"] == {"limit": 20, "next_cursor": None}
        [item] = body["data"]
        assert set(item) == COMMENT_KEYS
        assert item["id"] == str(comment.id)
        assert item["author"] == {"id": str(user.id), "name": user.name}

    async def test_a_hidden_draft_or_unknown_post_is_404(self, client: httpx.AsyncClient, user: accounts.User) -> None:
        draft = await post_fixture(user, published_at=None)

        for post_id in (draft.id, uuid.uuid4(), "oops"):
            response = await client.get(f"/api/posts/{post_id}/comments")
            assert response.status_code == 404
            assert response.json() == NOT_FOUND


class TestCreate:
    async def test_a_signed_in_reader_comments(
        self, client: httpx.AsyncClient, post: blog.Post, admin: accounts.User, admin_auth: dict[str, str]
    ) -> None:
        response = await client.post(
            f"/api/posts/{post.id}/comments", json={"comment": {"body": "Nice"}}, headers=admin_auth
        )

        assert response.status_code == 201, response.text
        data = response.json()["data"]
        assert response.headers["location"] == f"/api/posts/{post.id}/comments/{data['id']}"
        assert data["author"] == {"id": str(admin.id), "name": admin.name}
        assert data["body"] == "Nice"
        shown = await client.get(response.headers["location"])
        assert shown.json()["data"] == data

    async def test_without_a_token_401_blank_422_bad_body_400(
        self, client: httpx.AsyncClient, post: blog.Post, user_auth: dict[str, str]
    ) -> None:
        path = f"/api/posts/{post.id}/comments"

        unauthorized = await client.post(path, json={"comment": {"body": "x"}})
        blank = await client.post(path, json={"comment": {"body": " "}}, headers=user_auth)
        unwrapped = await client.post(path, json={"body": "x"}, headers=user_auth)

        assert (unauthorized.status_code, unauthorized.json()) == (401, UNAUTHORIZED)
        assert (blank.status_code, blank.json()) == (422, {"errors": {"body": ["can't be blank"]}})
        assert unwrapped.status_code == 400

    async def test_on_someone_elses_draft_is_404(self, client: httpx.AsyncClient, user: accounts.User) -> None:
        draft = await post_fixture(user, published_at=None)
        other = await auth_for(await api_user())

        response = await client.post(f"/api/posts/{draft.id}/comments", json={"comment": {"body": "x"}}, headers=other)

        assert response.status_code == 404


class TestUpdateAndDelete:
    async def test_the_author_updates_and_deletes(self, client: httpx.AsyncClient, post: blog.Post) -> None:
        reader = await api_user()
        headers = await auth_for(reader)
        comment = await comment_fixture(reader, post)
        path = f"/api/posts/{post.id}/comments/{comment.id}"

        patched = await client.patch(path, json={"comment": {"body": "Edited"}}, headers=headers)
        put = await client.put(path, json={"comment": {"body": "Again"}}, headers=headers)
        deleted = await client.delete(path, headers=headers)

        assert (patched.status_code, patched.json()["data"]["body"]) == (200, "Edited")
        assert (put.status_code, put.json()["data"]["body"]) == (200, "Again")
        assert deleted.status_code == 204
        assert (await client.get(path)).status_code == 404

    async def test_others_get_403_admins_may(
        self, client: httpx.AsyncClient, user_auth: dict[str, str], admin_auth: dict[str, str], post: blog.Post
    ) -> None:
        reader = await api_user()
        comment = await comment_fixture(reader, post)
        path = f"/api/posts/{post.id}/comments/{comment.id}"

        # The post's author is not the comment's: 403.
        forbidden = await client.patch(path, json={"comment": {"body": "x"}}, headers=user_auth)
        assert (forbidden.status_code, forbidden.json()) == (403, FORBIDDEN)
        assert (await client.delete(path, headers=user_auth)).status_code == 403
        assert (await client.delete(path)).status_code == 401
        assert (await client.delete(path, headers=admin_auth)).status_code == 204

    async def test_a_comment_of_another_post_or_a_malformed_id_is_404(
        self, client: httpx.AsyncClient, user: accounts.User, user_auth: dict[str, str], post: blog.Post
    ) -> None:
        comment = await comment_fixture(user, post)
        other_post = await post_fixture(user)

        for path in (f"/api/posts/{other_post.id}/comments/{comment.id}", f"/api/posts/{post.id}/comments/oops"):
            response = await client.delete(path, headers=user_auth)
            assert (response.status_code, response.json()) == (404, NOT_FOUND)
        assert await blog.get_comment_or_404(SYSTEM, post, comment.id)
