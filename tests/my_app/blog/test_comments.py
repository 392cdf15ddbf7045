"""Blog: comments (the seed's `blog_test.exs`, describe "comments"): who comments where, who changes what."""

from __future__ import annotations

import uuid

import pytest

from my_app import accounts, blog, pubsub
from my_app.accounts.scope import Scope
from my_app.errors import ForbiddenError, NotFoundError, ValidationError
from tests.support.fixtures.accounts import SYSTEM
from tests.support.fixtures.blog import comment_fixture, post_fixture
from tests.support.pubsub import broadcasts
from tests.support.query_count import count_queries

pytestmark = pytest.mark.usefixtures("db")

VISITOR = Scope.for_user(None)


@pytest.fixture
async def post(ada: accounts.User) -> blog.Post:
    return await post_fixture(ada)


class TestCreate:
    async def test_a_signed_in_user_comments_as_themself(self, bob: accounts.User, post: blog.Post) -> None:
        comment = await blog.create_comment(Scope.for_user(bob), post, {"body": " Nice ", "author_id": str(post.id)})

        assert comment.body == "Nice"
        assert comment.post_id == post.id
        assert comment.author_id == bob.id
        assert comment.author is not None
        assert comment.author.name == "Bob"
        assert comment.inserted_at is not None

    async def test_invalid_bodies_are_refused(self, bob: accounts.User, post: blog.Post) -> None:
        with pytest.raises(ValidationError) as blank:
            await blog.create_comment(Scope.for_user(bob), post, {"body": "  "})
        with pytest.raises(ValidationError) as long:
            await blog.create_comment(Scope.for_user(bob), post, {"body": "x" * 10_001})

        assert blank.value.errors == {"body": ["can't be blank"]}
        assert long.value.errors == {"body": ["should be at most 10000 character(s)"]}

    async def test_visitors_may_not_comment(self, post: blog.Post) -> None:
        with pytest.raises(ForbiddenError):
            await blog.create_comment(VISITOR, post, {"body": "Hi"})

    async def test_only_the_author_and_admins_comment_on_a_draft(
        self, ada: accounts.User, bob: accounts.User, admin: accounts.User
    ) -> None:
        draft = await post_fixture(ada, published_at=None)

        await comment_fixture(ada, draft)
        await comment_fixture(admin, draft)
        with pytest.raises(NotFoundError):
            await comment_fixture(bob, draft)

    async def test_a_post_unpublished_meanwhile_refuses_others_comments(
        self, ada: accounts.User, bob: accounts.User, post: blog.Post
    ) -> None:
        await blog.update_post(Scope.for_user(ada), post, {"published_at": None})

        # `post` is the stale, published copy: the context checks the post as it is now.
        with pytest.raises(NotFoundError):
            await comment_fixture(bob, post)

    async def test_a_deleted_post_cannot_be_commented(self, ada: accounts.User, bob: accounts.User) -> None:
        post = await post_fixture(ada)
        await blog.delete_post(Scope.for_user(ada), post)

        with pytest.raises(NotFoundError):
            await comment_fixture(bob, post)


class TestList:
    async def test_lists_the_posts_comments_oldest_first_with_authors(
        self, ada: accounts.User, bob: accounts.User, post: blog.Post
    ) -> None:
        first = await comment_fixture(bob, post, body="1")
        second = await comment_fixture(ada, post, body="2")
        await comment_fixture(ada, await post_fixture(ada))  # another post's

        page = await blog.list_comments(VISITOR, post)

        assert [comment.id for comment in page.items] == [first.id, second.id]
        assert [comment.author.name for comment in page.items if comment.author] == ["Bob", "Ada"]

    async def test_pages_of_comments_in_constant_statements(self, bob: accounts.User, post: blog.Post) -> None:
        made = [(await comment_fixture(bob, post)).id for _ in range(7)]

        seen: list[uuid.UUID] = []
        cursor: str | None = None
        async with count_queries() as queries:
            while True:
                page = await blog.list_comments(VISITOR, post, limit=3, cursor=cursor)
                seen += [comment.id for comment in page.items if comment.author is not None]
                if page.next_cursor is None:
                    break
                cursor = page.next_cursor

        assert seen == made
        assert len(queries) == 3, queries  # one SELECT a page

    async def test_a_hidden_drafts_comments_are_not_found(
        self, ada: accounts.User, bob: accounts.User, admin: accounts.User
    ) -> None:
        draft = await post_fixture(ada, published_at=None)
        await comment_fixture(ada, draft)

        with pytest.raises(NotFoundError):
            await blog.list_comments(Scope.for_user(bob), draft)
        assert len((await blog.list_comments(Scope.for_user(admin), draft)).items) == 1

    async def test_get_comment_or_404(self, bob: accounts.User, post: blog.Post, ada: accounts.User) -> None:
        comment = await comment_fixture(bob, post)
        other_post = await post_fixture(ada)

        assert (await blog.get_comment_or_404(VISITOR, post, comment.id)).id == comment.id
        for post_, comment_id in ((other_post, comment.id), (post, uuid.uuid4()), (post, "oops")):
            with pytest.raises(NotFoundError):
                await blog.get_comment_or_404(VISITOR, post_, comment_id)


class TestUpdateAndDelete:
    async def test_the_author_updates_and_deletes(self, bob: accounts.User, post: blog.Post) -> None:
        comment = await comment_fixture(bob, post)

        updated = await blog.update_comment(Scope.for_user(bob), comment, {"body": "Edited"})
        assert updated.body == "Edited"
        assert updated.author is not None

        await blog.delete_comment(Scope.for_user(bob), comment)
        assert (await blog.list_comments(VISITOR, post)).items == []

    async def test_admins_change_anyones(self, bob: accounts.User, admin: accounts.User, post: blog.Post) -> None:
        comment = await comment_fixture(bob, post)

        assert (await blog.update_comment(Scope.for_user(admin), comment, {"body": "Moderated"})).body == "Moderated"
        await blog.delete_comment(SYSTEM, comment)

    async def test_others_get_forbidden_even_the_posts_author(
        self, ada: accounts.User, bob: accounts.User, post: blog.Post
    ) -> None:
        comment = await comment_fixture(bob, post)

        for scope in (Scope.for_user(ada), VISITOR):
            with pytest.raises(ForbiddenError):
                await blog.update_comment(scope, comment, {"body": "Hijacked"})
            with pytest.raises(ForbiddenError):
                await blog.delete_comment(scope, comment)
        assert (await blog.list_comments(VISITOR, post)).items[0].body == comment.body

    async def test_a_blank_update_is_refused(self, bob: accounts.User, post: blog.Post) -> None:
        comment = await comment_fixture(bob, post)

        with pytest.raises(ValidationError) as raised:
            await blog.update_comment(Scope.for_user(bob), comment, {"body": ""})

        assert raised.value.errors == {"body": ["can't be blank"]}

    async def test_change_comment_validates_without_writing(self) -> None:
        assert blog.change_comment(None, {"body": "Hi"}).valid
        assert blog.change_comment(None, {}).errors == {"body": ["can't be blank"]}

    async def test_a_deleted_authors_comment_stays_and_only_admins_change_it(
        self, bob: accounts.User, admin: accounts.User, post: blog.Post
    ) -> None:
        comment = await comment_fixture(bob, post)
        await accounts.delete_user(SYSTEM, bob)
        [orphan] = (await blog.list_comments(VISITOR, post)).items

        assert orphan.id == comment.id
        assert orphan.author is None
        with pytest.raises(ForbiddenError):
            await blog.update_comment(Scope.for_user(bob), orphan, {"body": "Ghost"})
        await blog.delete_comment(Scope.for_user(admin), orphan)


class TestBroadcasts:
    async def test_comment_writes_are_announced_on_the_posts_topic(self, bob: accounts.User, post: blog.Post) -> None:
        with pubsub.subscribe(blog.post_topic(post.id)) as subscription:
            comment = await comment_fixture(bob, post)
            await blog.update_comment(Scope.for_user(bob), comment, {"body": "Edited"})
            await blog.delete_comment(Scope.for_user(bob), comment)
            with pytest.raises(ValidationError):
                await blog.create_comment(Scope.for_user(bob), post, {"body": ""})
            heard = await broadcasts(subscription)

        expected = {"id": str(comment.id), "post_id": str(post.id)}
        assert heard == [
            ("comment_created", expected),
            ("comment_updated", expected),
            ("comment_deleted", expected),
        ]

    async def test_comment_writes_are_announced_on_the_comments_topic_too(
        self, bob: accounts.User, post: blog.Post
    ) -> None:
        with pubsub.subscribe(blog.COMMENTS_TOPIC) as subscription:
            comment = await comment_fixture(bob, post)
            await blog.delete_comment(Scope.for_user(bob), comment)
            heard = await broadcasts(subscription)

        expected = {"id": str(comment.id), "post_id": str(post.id)}
        assert heard == [("comment_created", expected), ("comment_deleted", expected)]

    async def test_the_topic_names_the_post(self) -> None:
        post_id = uuid.uuid4()
        assert blog.post_topic(post_id) == f"blog:posts:{post_id}"
