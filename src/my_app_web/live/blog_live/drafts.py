"""`/blog/drafts`: the signed-in writer's drafts (every draft, with its author, for admins: what
`blog.list_drafts` answers), newest first, each with links to edit it (and publish it there).
Live: a draft saved, published or deleted anywhere updates the list. Visitors log in first."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from my_app import blog
from my_app.accounts import Scope
from my_app.gettext import gettext as _
from my_app_web.live import LivePage, live
from my_app_web.live.blog_live.access import WriterScope

router = APIRouter(prefix="/blog", tags=["pages"], include_in_schema=False)

# The drafts shown (list_drafts gives at most 100 a query); beyond, the page says there are more.
SHOWN = 100


class DraftsIndex(LivePage):
    template = "blog_live/drafts.html"
    region_template = "blog_live/_drafts.html"

    def __init__(self, request: Request, scope: Scope) -> None:
        super().__init__(request)
        self.scope = scope

    def topics(self) -> list[str]:
        return [blog.POSTS_TOPIC]

    async def assigns(self) -> dict[str, Any]:
        # Any post's change may make or unmake a draft of this writer: the default handle_info
        # re-renders the list (one SELECT).
        page = await blog.list_drafts(self.scope, limit=SHOWN)
        drafts = sorted(page.items, key=lambda post: (post.inserted_at, post.id), reverse=True)
        return {"drafts": drafts, "more": page.next_cursor is not None, "page_title": _("Drafts")}


@router.get("/drafts", name="blog_drafts")
async def drafts(request: Request, scope: WriterScope) -> Response:
    return await live(request, DraftsIndex(request, scope))
