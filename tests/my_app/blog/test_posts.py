"""Blog: posts (the seed's `blog_test.exs`, describe "posts"): CRUD, validation, drafts, access, pages."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from my_app import accounts, blog, pubsub
from my_app.accounts.scope import Scope
from my_app.blog.post import RESERVED_SLUGS
from my_app.errors import ForbiddenError, NotFoundError, ValidationError
from tests.support.fixtures.accounts import SYSTEM, user_fixture
from tests.support.fixtures.blog import comment_fixture, post_fixture, unique_slug, valid_post_attributes
from tests.support.pubsub import broadcasts
from tests.support.query_count import count_queries

pytestmark = pytest.mark.usefixtures("db")

VISITOR = Scope.for_user(None)
INVALID_ATTRS: dict[str, Any] = {"title": None, "slug": None, "body": None}


async def all_published(scope: Scope) -> list[uuid.UUID]:
    return [post.id for post in (await blog.list_posts(scope, limit=100)).items]


class TestCreate:
    async def test_create_post_with_valid_data_makes_the_caller_its_author(self, ada: accounts.User) -> None:
        post = await blog.create_post(
            Scope.for_user(ada),
            {"title": " Hello ", "slug": "hello-world", "body": "Text", "published_at": "2026-12-01T10:00:00Z"},
        )

        assert post.title == "Hello"
        assert post.slug == "hello-world"
        assert post.body == "Text"
        assert post.published_at == datetime(2026, 12, 1, 10, tzinfo=UTC)
        assert post.author_id == ada.id
        assert post.author is not None
        assert post.author.name == "Ada"
        assert post.comment_count == 0
        assert post.comments == []

    async def test_author_id_in_attrs_is_ignored(self, ada: accounts.User, bob: accounts.User) -> None:
        post = await blog.create_post(Scope.for_user(ada), valid_post_attributes(author_id=str(bob.id)))

        assert post.author_id == ada.id

    async def test_without_published_at_it_is_a_draft(self, ada: accounts.User) -> None:
        post = await post_fixture(ada, published_at=None)

        assert post.published_at is None
        assert post.draft

    async def test_a_naive_published_at_is_taken_as_utc(self, ada: accounts.User) -> None:
        post = await post_fixture(ada, published_at="2026-12-01T10:00:00")

        assert post.published_at == datetime(2026, 12, 1, 10, tzinfo=UTC)

    async def test_invalid_data_returns_ecto_errors(self, ada: accounts.User) -> None:
        with pytest.raises(ValidationError) as raised:
            await blog.create_post(Scope.for_user(ada), INVALID_ATTRS)

        assert raised.value.errors == {
            "title": ["can't be blank"],
            "slug": ["can't be blank"],
            "body": ["can't be blank"],
        }

    async def test_bad_slug_long_title_and_bad_date_are_refused(self, ada: accounts.User) -> None:
        attrs = valid_post_attributes(slug="Not A Slug", title="x" * 201, published_at="yesterday")

        with pytest.raises(ValidationError) as raised:
            await blog.create_post(Scope.for_user(ada), attrs)

        assert raised.value.errors == {
            "title": ["should be at most 200 character(s)"],
            "slug": ["must be lowercase letters, digits and single dashes"],
            "published_at": ["is invalid"],
        }

    @pytest.mark.parametrize("slug", sorted(RESERVED_SLUGS))
    async def test_a_slug_the_blog_pages_use_is_reserved(self, ada: accounts.User, slug: str) -> None:
        with pytest.raises(ValidationError) as raised:
            await blog.create_post(Scope.for_user(ada), valid_post_attributes(slug=slug))

        assert raised.value.errors == {"slug": ["is reserved"]}
        assert await blog.get_post_by_slug(Scope.for_system(), slug) is None

    async def test_a_taken_slug_has_already_been_taken(
        self, db: AsyncConnection, ada: accounts.User, bob: accounts.User
    ) -> None:
        slug = unique_slug()
        await post_fixture(ada, slug=slug)

        with pytest.raises(ValidationError) as raised:
            await post_fixture(bob, slug=slug)

        assert raised.value.errors == {"slug": ["has already been taken"]}
        count = (await db.execute(text("SELECT count(*) FROM posts WHERE slug = :slug"), {"slug": slug})).scalar()
        assert count == 1

    async def test_visitors_and_the_system_may_not_write(self) -> None:
        for scope in (VISITOR, SYSTEM):
            with pytest.raises(ForbiddenError):
                await blog.create_post(scope, valid_post_attributes())


class TestDraftVisibility:
    async def test_list_posts_lists_published_posts_for_everyone_never_drafts(
        self, ada: accounts.User, bob: accounts.User, admin: accounts.User
    ) -> None:
        published = await post_fixture(ada)
        draft = await post_fixture(ada, published_at=None)

        for scope in (VISITOR, Scope.for_user(bob), Scope.for_user(ada), Scope.for_user(admin)):
            listed = await all_published(scope)
            assert published.id in listed
            assert draft.id not in listed

    async def test_a_draft_is_visible_to_its_author_and_admins_only(
        self, ada: accounts.User, bob: accounts.User, admin: accounts.User
    ) -> None:
        draft = await post_fixture(ada, published_at=None)

        for scope in (Scope.for_user(ada), Scope.for_user(admin), SYSTEM):
            found = await blog.get_post(scope, draft.id)
            assert found is not None
            assert found.id == draft.id
        for scope in (Scope.for_user(bob), VISITOR):
            assert await blog.get_post(scope, draft.id) is None
            with pytest.raises(NotFoundError):
                await blog.get_post_or_404(scope, draft.id)

    async def test_list_drafts_shows_own_drafts_and_all_to_admins(
        self, ada: accounts.User, bob: accounts.User, admin: accounts.User
    ) -> None:
        adas = await post_fixture(ada, published_at=None)
        bobs = await post_fixture(bob, published_at=None)
        await post_fixture(ada)

        assert [post.id for post in (await blog.list_drafts(Scope.for_user(ada))).items] == [adas.id]
        admin_drafts = [post.id for post in (await blog.list_drafts(Scope.for_user(admin), limit=100)).items]
        assert {adas.id, bobs.id} <= set(admin_drafts)
        with pytest.raises(ForbiddenError):
            await blog.list_drafts(VISITOR)

    async def test_get_post_is_none_for_unknown_or_malformed_ids(self) -> None:
        assert await blog.get_post(VISITOR, uuid.uuid4()) is None
        assert await blog.get_post(VISITOR, "not-an-id") is None
        with pytest.raises(NotFoundError):
            await blog.get_post_or_404(VISITOR, "not-an-id")

    async def test_get_post_loads_comments_with_their_authors(self, ada: accounts.User, bob: accounts.User) -> None:
        post = await post_fixture(ada)
        first = await comment_fixture(bob, post, body="First")
        second = await comment_fixture(ada, post, body="Second")

        found = await blog.get_post_or_404(VISITOR, post.id)

        assert [comment.id for comment in found.comments] == [first.id, second.id]
        assert [comment.author.name for comment in found.comments if comment.author] == ["Bob", "Ada"]
        assert found.comment_count == 2


class TestUpdateAndDelete:
    async def test_the_author_updates_and_publishes(self, ada: accounts.User) -> None:
        draft = await post_fixture(ada, published_at=None)

        post = await blog.update_post(
            Scope.for_user(ada), draft, {"title": "New", "published_at": "2026-12-02T08:00:00+01:00"}
        )

        assert post.title == "New"
        assert post.published_at == datetime(2026, 12, 2, 7, tzinfo=UTC)
        assert post.slug == draft.slug

    async def test_published_at_null_unpublishes(self, ada: accounts.User) -> None:
        post = await post_fixture(ada)

        updated = await blog.update_post(Scope.for_user(ada), post, {"published_at": None})

        assert updated.published_at is None
        assert post.id not in await all_published(VISITOR)

    async def test_an_admin_updates_and_deletes_anything(self, ada: accounts.User, admin: accounts.User) -> None:
        post = await post_fixture(ada)

        assert (await blog.update_post(Scope.for_user(admin), post, {"title": "By admin"})).title == "By admin"
        await blog.delete_post(Scope.for_user(admin), post)
        assert await blog.get_post(SYSTEM, post.id) is None

    async def test_others_get_forbidden_and_nothing_changes(self, ada: accounts.User, bob: accounts.User) -> None:
        post = await post_fixture(ada)

        for scope in (Scope.for_user(bob), VISITOR):
            with pytest.raises(ForbiddenError):
                await blog.update_post(scope, post, {"title": "Hijacked"})
            with pytest.raises(ForbiddenError):
                await blog.delete_post(scope, post)
        found = await blog.get_post_or_404(VISITOR, post.id)
        assert found.title == post.title

    async def test_update_with_blank_or_taken_values_is_refused(self, ada: accounts.User) -> None:
        other = await post_fixture(ada)
        post = await post_fixture(ada)

        with pytest.raises(ValidationError) as blank:
            await blog.update_post(Scope.for_user(ada), post, {"title": "", "body": None})
        with pytest.raises(ValidationError) as taken:
            await blog.update_post(Scope.for_user(ada), post, {"slug": other.slug})

        assert blank.value.errors == {"title": ["can't be blank"], "body": ["can't be blank"]}
        assert taken.value.errors == {"slug": ["has already been taken"]}

    async def test_deleting_a_post_deletes_its_comments(
        self, db: AsyncConnection, ada: accounts.User, bob: accounts.User
    ) -> None:
        post = await post_fixture(ada)
        await comment_fixture(bob, post)

        await blog.delete_post(Scope.for_user(ada), post)

        count = (await db.execute(text("SELECT count(*) FROM comments WHERE post_id = :id"), {"id": post.id})).scalar()
        assert count == 0

    async def test_change_post_validates_without_writing(self) -> None:
        assert blog.change_post(None, valid_post_attributes()).valid
        assert blog.change_post(None, {"slug": "Bad Slug"}).errors["slug"] == [
            "must be lowercase letters, digits and single dashes"
        ]


class TestDeletedAuthor:
    async def test_posts_and_comments_stay_with_no_author(self, ada: accounts.User, bob: accounts.User) -> None:
        post = await post_fixture(ada)
        comment = await comment_fixture(ada, post)
        await comment_fixture(bob, post)

        await accounts.delete_user(SYSTEM, ada)

        found = await blog.get_post_or_404(VISITOR, post.id)
        assert found.author_id is None
        assert found.author is None
        assert found.comment_count == 2
        orphan = next(c for c in found.comments if c.id == comment.id)
        assert orphan.author_id is None
        assert orphan.author is None
        listed = next(p for p in (await blog.list_posts(VISITOR, limit=100)).items if p.id == post.id)
        assert listed.author is None

    async def test_only_admins_may_then_change_them(self, ada: accounts.User, admin: accounts.User) -> None:
        post = await post_fixture(ada)
        await accounts.delete_user(SYSTEM, ada)
        orphan = await blog.get_post_or_404(VISITOR, post.id)

        with pytest.raises(ForbiddenError):
            await blog.update_post(Scope.for_user(ada), orphan, {"title": "Ghost"})
        assert (await blog.update_post(Scope.for_user(admin), orphan, {"title": "Kept"})).title == "Kept"


class TestPagesAndQueries:
    async def test_keyset_pages_never_repeat_or_skip(self, ada: accounts.User) -> None:
        made = [(await post_fixture(ada)).id for _ in range(5)]

        seen: list[uuid.UUID] = []
        cursor: str | None = None
        while True:
            page = await blog.list_posts(VISITOR, limit=2, cursor=cursor)
            seen += [post.id for post in page.items]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
            # An insert between pages lands after the cursor: no repeats, no skips.
            made.append((await post_fixture(ada)).id)

        mine = [post_id for post_id in seen if post_id in made]
        assert mine == made
        assert len(seen) == len(set(seen))

    async def test_newest_first_pages_by_publication_date_without_repeats_or_skips(self, ada: accounts.User) -> None:
        # Written in one order, published in the reverse one: the index follows publication.
        made = [await post_fixture(ada, published_at=f"2026-11-{day:02d}T10:00:00Z") for day in range(1, 6)]

        seen: list[uuid.UUID] = []
        cursor: str | None = None
        while True:
            page = await blog.list_posts(VISITOR, limit=2, cursor=cursor, newest_first=True)
            seen += [post.id for post in page.items]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
            await post_fixture(ada, published_at="2026-12-24T10:00:00Z")  # newer: before the cursor, not in later pages

        assert [post_id for post_id in seen if post_id in {post.id for post in made}] == [
            post.id for post in reversed(made)
        ]
        assert len(seen) == len(set(seen))

    async def test_a_bad_limit_or_cursor_is_refused(self) -> None:
        with pytest.raises(ValidationError) as limit:
            await blog.list_posts(VISITOR, limit=101)
        with pytest.raises(ValidationError) as cursor:
            await blog.list_posts(VISITOR, cursor="garbage")

        assert "limit" in limit.value.errors
        assert cursor.value.errors == {"cursor": ["is invalid"]}

    async def test_listing_50_posts_runs_as_many_statements_as_listing_5(
        self, ada: accounts.User, bob: accounts.User
    ) -> None:
        authors = [ada, bob, *[await user_fixture() for _ in range(3)]]
        for index in range(50):
            post = await post_fixture(authors[index % len(authors)])
            for commenter in authors[: index % 3]:
                await comment_fixture(commenter, post)

        async with count_queries() as five:
            small = await blog.list_posts(VISITOR, limit=5)
            _render(small.items)
        async with count_queries() as fifty:
            large = await blog.list_posts(VISITOR, limit=50)
            _render(large.items)

        assert len(large.items) == 50
        assert len(five) == len(fifty) == 1, fifty
        assert sum(post.comment_count or 0 for post in large.items) == sum(index % 3 for index in range(50))

    async def test_a_post_with_its_comments_is_two_statements(self, ada: accounts.User, bob: accounts.User) -> None:
        post = await post_fixture(ada)
        for _ in range(10):
            await comment_fixture(bob, post)

        async with count_queries() as queries:
            found = await blog.get_post_or_404(VISITOR, post.id)
            assert [c.author.name for c in found.comments if c.author] == ["Bob"] * 10

        assert len(queries) == 2, queries


def _render(posts: list[blog.Post]) -> list[tuple[str | None, int | None]]:
    """What the list's JSON reads of each post: its author's name and comment count."""
    return [(post.author.name if post.author else None, post.comment_count) for post in posts]


class TestBroadcasts:
    async def test_post_writes_are_announced_after_commit(self, ada: accounts.User) -> None:
        with pubsub.subscribe(blog.POSTS_TOPIC) as subscription:
            post = await post_fixture(ada)
            await blog.update_post(Scope.for_user(ada), post, {"title": "New"})
            await blog.delete_post(Scope.for_user(ada), post)
            heard = await broadcasts(subscription)

        expected = {"id": str(post.id)}
        assert heard == [("post_created", expected), ("post_updated", expected), ("post_deleted", expected)]

    async def test_a_refused_write_announces_nothing(self, ada: accounts.User, bob: accounts.User) -> None:
        post = await post_fixture(ada)
        with pubsub.subscribe(blog.POSTS_TOPIC) as subscription:
            with pytest.raises(ValidationError):
                await post_fixture(ada, slug=post.slug)
            with pytest.raises(ForbiddenError):
                await blog.delete_post(Scope.for_user(bob), post)
            assert await broadcasts(subscription) == []
