"""The blog seeds: demo posts (some drafts) with comments, by the demo users, once."""

from __future__ import annotations

import pytest

from my_app import accounts, blog
from my_app.accounts.scope import Scope
from my_app.config import Settings
from my_app.priv import seeds

pytestmark = pytest.mark.usefixtures("db")


async def test_seeds_make_posts_and_comments_once(settings: Settings) -> None:
    await seeds.run(settings)
    assert await seeds.seed_blog(settings) == []

    visitor = Scope.for_user(None)
    for slug, _, author_email, published, comments in seeds.DEMO_POSTS:
        author = await accounts.get_user_by_email(author_email)
        assert author is not None
        own = await blog.get_post_by_slug(Scope.for_user(author), slug)
        assert own is not None
        assert own.author_id == author.id
        assert [c.body for c in own.comments] == [body for _, body in comments]
        public = await blog.get_post_by_slug(visitor, slug)
        assert (public is not None) is published


async def test_get_post_by_slug_hides_drafts_from_others(settings: Settings) -> None:
    await seeds.run(settings)
    bob = await accounts.get_user_by_email("bob@example.com")
    assert bob is not None

    assert await blog.get_post_by_slug(Scope.for_user(bob), "a-draft-by-alice") is None
    assert await blog.get_post_by_slug(Scope.for_user(bob), "no-such-post") is None
