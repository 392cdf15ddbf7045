"""`/blog`: the published posts, newest first, live (the seed's `PostLive.Index`).

A post published anywhere (this page, another tab, the JSON API) appears at the top; an edited one
is re-rendered in place; a deleted one, or one turned back into a draft, disappears; a comment
posted or deleted re-renders its post's card with the new count (`blog.COMMENTS_TOPIC`). "Load more"
asks for the page again with a larger `limit` (read as keyset pages, so its rows never repeat or
skip): the page and its stream then show, and follow, every post down to the last one loaded.

Listing costs one SELECT per 100 posts (authors joined, comment counts correlated), whatever the
number of authors and comments.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from my_app import blog
from my_app.accounts import Scope
from my_app.gettext import gettext as _
from my_app.pubsub import Message
from my_app_web.live import LivePage, Patch, Stream, live
from my_app_web.live.blog_live.access import ReaderScope
from my_app_web.templating import path_for

router = APIRouter(prefix="/blog", tags=["pages"], include_in_schema=False)

PAGE_SIZE = 20
MAX_SHOWN = 1000
# list_posts gives at most this many a query.
_BATCH = 100
CARD_TEMPLATE = "blog_live/_post.html"
# Published posts look the same to every reader: one load per message, shared by all open pages.
VISITOR = Scope.for_user(None)


class BlogIndex(LivePage):
    template = "blog_live/index.html"
    region_template = "blog_live/_posts.html"

    def __init__(self, request: Request, scope: Scope, *, limit: int = PAGE_SIZE) -> None:
        super().__init__(request)
        self.scope = scope
        self.limit = limit
        self.posts = Stream("posts")
        # The publication dates the page spans (newest first); None while it shows no post.
        self.newest: datetime | None = None
        self.oldest: datetime | None = None
        self.complete = True  # every published post is shown: one published earlier belongs here too

    def topics(self) -> Sequence[str]:
        return [blog.POSTS_TOPIC, blog.COMMENTS_TOPIC]

    async def assigns(self) -> dict[str, Any]:
        posts, more = await newest_posts(self.limit)
        self.posts.reset(post.id for post in posts)
        self.newest = posts[0].published_at if posts else None
        self.oldest = posts[-1].published_at if posts else None
        self.complete = not more
        more_url = None
        if more:
            # Back at the last post read, whether the page reloads (no JavaScript) or not.
            more_url = f"{path_for(self.request, 'blog_index')}?limit={self.limit + PAGE_SIZE}#posts-{posts[-1].id}"
        return {"posts": posts, "more_url": more_url, "page_title": _("Blog")}

    async def handle_info(self, message: Message) -> Sequence[Patch]:
        if message.topic == blog.COMMENTS_TOPIC:
            # A comment added or removed changes its post's count: that card again, if it is shown.
            post_id = str(message.payload.get("post_id", ""))
            if message.event == "comment_updated" or post_id not in self.posts:
                return []
            return await self._post_changed(message, post_id)
        post_id = str(message.payload.get("id", ""))
        if message.event == "post_deleted":
            return [patch for patch in [self.posts.delete(post_id)] if patch is not None]
        if message.event not in ("post_created", "post_updated"):
            return []
        return await self._post_changed(message, post_id)

    async def _post_changed(self, message: Message, post_id: str) -> Sequence[Patch]:
        post = await self.shared(message, "post", lambda: blog.get_post(VISITOR, post_id))
        if post is None or post.published_at is None:  # gone meanwhile, or (back to) a draft
            return [patch for patch in [self.posts.delete(post_id)] if patch is not None]
        card = self.render_macro(CARD_TEMPLATE, "post_card", post)
        if post_id in self.posts:
            return [self.posts.insert(post.id, card)]  # in place
        if self.newest is None or post.published_at >= self.newest:
            self.newest = post.published_at
            return [self.posts.insert(post.id, card, at=0)]
        if self.complete or (self.oldest is not None and post.published_at >= self.oldest):
            return await self.refresh()  # it belongs between posts shown: the list again, in order
        return []  # older than the posts shown: "Load more" finds it


async def newest_posts(limit: int) -> tuple[list[blog.Post], bool]:
    """The `limit` most recently published posts, newest first, and whether there are more."""
    posts: list[blog.Post] = []
    cursor: str | None = None
    while True:
        page = await blog.list_posts(VISITOR, limit=min(_BATCH, limit - len(posts)), cursor=cursor, newest_first=True)
        posts.extend(page.items)
        cursor = page.next_cursor
        if cursor is None or len(posts) >= limit:
            return posts, cursor is not None


Limit = Annotated[int, Query(ge=1, le=MAX_SHOWN)]


@router.get("", name="blog_index")
async def index(request: Request, scope: ReaderScope, limit: Limit = PAGE_SIZE) -> Response:
    return await live(request, BlogIndex(request, scope, limit=limit))
