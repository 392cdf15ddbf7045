"""`/blog/{slug}`: one post and its comments, live (the seed's `PostLive.Show`).

Every open page of a post subscribes to the post's topic (`blog.post_topic`): a comment written
by any reader (or through the API) is appended to every other reader's page, an edited one is
re-rendered, a deleted one disappears, and the comment count follows. When the post itself is
edited the page shows the new version; when it is deleted (or turned back into a draft someone may
no longer see) the page says so.

Signed-in readers comment through the form below the comments (live validation; without
JavaScript a plain POST-redirect-GET); visitors get a link to log in that brings them back here.
Drafts answer 404 to everyone but their author and admins (`blog.get_post_by_slug` decides).

    GET  /blog/{slug}                                the post                    blog_show
    GET  /blog/{slug}/comment                        log in, then back here      blog_comment_log_in
    POST /blog/{slug}/comments                       comment → 303, or 422       blog_comment_create
    POST /blog/{slug}/comments/validate              live validation             blog_comment_validate
    POST /blog/{slug}/comments/{id}/delete           delete → 303 (htmx: 204)    blog_comment_delete
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from my_app import blog
from my_app.accounts import Scope
from my_app.errors import NotFoundError, ValidationError
from my_app.gettext import gettext as _
from my_app.pubsub import Message
from my_app_web.flash import put_flash
from my_app_web.gettext import translate_errors
from my_app_web.live import Form, LivePage, Patch, Stream, form_params, inner, is_htmx, live
from my_app_web.live.blog_live.access import ReaderScope, WriterScope
from my_app_web.live.modals import errors_fragment
from my_app_web.plugs.csrf import verify_csrf
from my_app_web.templating import path_for

router = APIRouter(prefix="/blog", tags=["pages"], include_in_schema=False)

COMMENT_FORM = "comment"
COMMENT_FIELDS = ("body",)
COMMENT_TEMPLATE = "blog_live/_comment.html"
COUNT_ID = "comment-count"
# Published posts and their comments look the same to every reader.
VISITOR = Scope.for_user(None)
NO_ERRORS: Mapping[str, list[str]] = {}


class PostShow(LivePage):
    template = "blog_live/show.html"
    region_template = "blog_live/_show.html"

    def __init__(self, request: Request, scope: Scope, post: blog.Post, *, comment_form: Form | None = None) -> None:
        super().__init__(request)
        self.scope = scope
        self.post_id = post.id
        self.slug = post.slug
        # What `get_comment_or_404` checks the reader against (not the body or the comments: an open
        # page keeps nothing big).
        self.post_ref = blog.Post(id=post.id, author_id=post.author_id, published_at=post.published_at)
        self.comment_form = comment_form or Form(COMMENT_FORM)
        self.comments = Stream("comments")
        self._loaded: blog.Post | None = post  # for the next render (the first, or after a change)
        self._gone = False  # deleted, or no longer visible to this reader: nothing to load

    def topics(self) -> Sequence[str]:
        return [blog.POSTS_TOPIC, blog.post_topic(self.post_id)]

    async def assigns(self) -> dict[str, Any]:
        post, self._loaded = self._loaded, None
        if post is None and not self._gone:
            post = await blog.get_post(self.scope, self.post_id)
        if post is not None:
            self.slug = post.slug
            self.post_ref = blog.Post(id=post.id, author_id=post.author_id, published_at=post.published_at)
        self.comments.reset(comment.id for comment in (post.comments if post is not None else ()))
        return {
            "post": post,
            "can_change_post": post is not None and blog.can_change(self.scope, post),
            "can_change": self.can_change,
            "comment_form": self.comment_form,
            "page_title": post.title if post is not None else _("Post deleted"),
        }

    async def _load_changed(self, message: Message) -> blog.Post | None:
        """The post after a change: one load shared by every page of it on this node while it is
        published (it looks the same to everyone); a draft, only its author and admins load again."""
        post = await self.shared(message, "post", lambda: blog.get_post(VISITOR, self.post_id))
        if post is None and self.scope.user is not None:
            post = await blog.get_post(self.scope, self.post_id)
        return post

    def can_change(self, record: blog.Post | blog.Comment) -> bool:
        return blog.can_change(self.scope, record)

    async def handle_info(self, message: Message) -> Sequence[Patch]:
        if message.topic == blog.POSTS_TOPIC:
            if str(message.payload.get("id", "")) != str(self.post_id):
                return []  # another post
            if message.event == "post_deleted":
                self._gone = True
            elif message.event == "post_updated":
                self._loaded = await self._load_changed(message)
                self._gone = self._loaded is None
            return await self.refresh()
        comment_id = str(message.payload.get("id", ""))
        if message.event == "comment_deleted":
            return self._with_count(self.comments.delete(comment_id))
        if message.event not in ("comment_created", "comment_updated"):
            return []
        try:
            # One load per message for every page of this post on this node; who may see the post
            # may see all its comments.
            comment = await self.shared(
                message, "comment", lambda: blog.get_comment_or_404(self.scope, self.post_ref, comment_id)
            )
        except NotFoundError:
            return self._with_count(self.comments.delete(comment_id))
        html = self.render_macro(COMMENT_TEMPLATE, "comment_item", comment, self.slug, self.can_change(comment))
        if message.event == "comment_created":
            return self._with_count(self.comments.insert(comment.id, html))
        return [patch for patch in [self.comments.update(comment.id, html)] if patch is not None]

    def _with_count(self, patch: Patch | None) -> list[Patch]:
        if patch is None:
            return []
        count = self.render_macro(COMMENT_TEMPLATE, "comment_count", len(self.comments))
        return [patch, inner(COUNT_ID, count)]


async def visible_post(scope: Scope, slug: str) -> blog.Post:
    """The post with this slug if the reader may see it (NotFoundError otherwise: drafts included)."""
    post = await blog.get_post_by_slug(scope, slug)
    if post is None:
        raise NotFoundError("post", slug)
    return post


async def show_page(
    request: Request, scope: Scope, post: blog.Post, *, comment_form: Form | None = None, status_code: int = 200
) -> Response:
    page = PostShow(request, scope, post, comment_form=comment_form)
    live_url = path_for(request, "blog_show", slug=post.slug)
    response = await live(request, page, live_url=live_url, status_code=status_code)
    if status_code != 200:
        response.headers["hx-push-url"] = "false"  # a comment refused: the address stays the post's
    return response


@router.get("/{slug}", name="blog_show")
async def show(request: Request, slug: str, scope: ReaderScope) -> Response:
    return await show_page(request, scope, await visible_post(scope, slug))


@router.get("/{slug}/comment", name="blog_comment_log_in")
async def comment_log_in(request: Request, slug: str, scope: WriterScope) -> RedirectResponse:
    """ "Log in to comment": visitors pass the log-in page (which brings them back here) on the way."""
    return RedirectResponse(path_for(request, "blog_show", slug=slug) + "#comment-form", status_code=303)


@router.post("/{slug}/comments", name="blog_comment_create", dependencies=[Depends(verify_csrf)])
async def create_comment(request: Request, slug: str, scope: WriterScope) -> Response:
    post = await visible_post(scope, slug)
    params = await form_params(request)
    try:
        await blog.create_comment(scope, post, params)
    except ValidationError as exc:
        form = Form(COMMENT_FORM, {"body": params.get("body", "")}, translate_errors(exc.errors))
        return await show_page(request, scope, post, comment_form=form, status_code=422)
    # The comment reaches this page (and every other reader's) through the post's live stream.
    return RedirectResponse(path_for(request, "blog_show", slug=post.slug) + "#comment-form", status_code=303)


@router.post("/{slug}/comments/validate", name="blog_comment_validate", dependencies=[Depends(verify_csrf)])
async def validate_comment(request: Request, slug: str, scope: WriterScope) -> HTMLResponse:
    # Every field's errors: the page shows only those of fields the reader has typed in.
    errors = translate_errors(blog.change_comment(None, await form_params(request)).errors)
    return errors_fragment(request, COMMENT_FORM, COMMENT_FIELDS, errors)


@router.post(
    "/{slug}/comments/{comment_id:uuid}/delete", name="blog_comment_delete", dependencies=[Depends(verify_csrf)]
)
async def delete_comment(request: Request, slug: str, comment_id: uuid.UUID, scope: WriterScope) -> Response:
    post = await visible_post(scope, slug)
    try:
        comment = await blog.get_comment_or_404(scope, post, comment_id)
    except NotFoundError:
        comment = None  # deleted already (another tab, an admin): deleted all the same
    if comment is not None:
        await blog.delete_comment(scope, comment)  # ForbiddenError (403) unless its author or an admin
    if is_htmx(request):
        return Response(status_code=204)  # the comment leaves every page through the stream
    put_flash(request, "info", _("Comment deleted."))
    return RedirectResponse(path_for(request, "blog_show", slug=post.slug) + "#comments", status_code=303)
