"""Writing posts: `/blog/new` and `/blog/{slug}/edit` (the seed's `PostLive.Form`), with live
validation as you type, and deleting a post.

Any signed-in user writes posts (as their author); only the author or an admin edits and deletes
one (`blog.can_change`; others get 403, and a draft they may not see is 404). "Publish" sets
`published_at` to now (a post published already keeps its date); left unticked the post is (or
goes back to being) a draft. Saving goes to the post.

    GET  /blog/new                 the form                            blog_new
    POST /blog                     create → 303 the post, or 422       blog_create
    POST /blog/validate            live validation                     blog_validate
    GET  /blog/{slug}/edit         the form, filled in                 blog_edit
    POST /blog/{slug}              update → 303 the post, or 422       blog_update
    POST /blog/{slug}/validate     live validation                     blog_validate_edit
    POST /blog/{slug}/delete       delete → 303 /blog                  blog_delete
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from my_app import blog
from my_app.accounts import Scope
from my_app.errors import ForbiddenError, ValidationError
from my_app.gettext import N_
from my_app.gettext import gettext as _
from my_app_web.flash import put_flash
from my_app_web.gettext import translate_errors
from my_app_web.html import render
from my_app_web.live import Form, form_params
from my_app_web.live.blog_live.access import WriterScope
from my_app_web.live.blog_live.show import visible_post
from my_app_web.live.modals import errors_fragment
from my_app_web.plugs.csrf import verify_csrf
from my_app_web.templating import path_for

router = APIRouter(prefix="/blog", tags=["pages"], include_in_schema=False)

FORM_NAME = "post"
TEXT_FIELDS = ("title", "slug", "body")
PUBLISH_FIELD = "publish"
NO_ERRORS: Mapping[str, list[str]] = {}
# The post schema's slug message, for the catalogs (the page shows it through `translate_errors`).
SLUG_FORMAT_MESSAGE = N_("must be lowercase letters, digits and single dashes")


def post_attrs(params: Mapping[str, str], post: blog.Post | None) -> dict[str, Any]:
    """What the form asks of `create_post` / `update_post`: the text fields, and `published_at` from
    the Publish box (now, unless the post is published already; "" makes it a draft again)."""
    attrs: dict[str, Any] = {field: params.get(field, "") for field in TEXT_FIELDS}
    if params.get(PUBLISH_FIELD) in ("true", "on"):
        if post is None or post.published_at is None:
            attrs["published_at"] = datetime.now(UTC)
    elif post is not None:
        attrs["published_at"] = ""
    return attrs


def form_errors(params: Mapping[str, str]) -> dict[str, list[str]]:
    """What is wrong with the form's fields (the core's English messages); writes nothing.

    A new post's rules for edits too: the form always sends every field, and none may be blank
    (`change_post` of a post would let a blank field mean "unchanged").
    """
    return dict(blog.change_post(None, {field: params.get(field, "") for field in TEXT_FIELDS}).errors)


def form_page(
    request: Request,
    *,
    post: blog.Post | None,
    values: Mapping[str, Any] | None = None,
    errors: Mapping[str, list[str]] = NO_ERRORS,
    status_code: int = 200,
) -> HTMLResponse:
    """The post form: new (empty) or for `post`, or as posted with the errors that refused it."""
    if values is None:
        values = {field: getattr(post, field, "") for field in TEXT_FIELDS} if post is not None else {}
        publish = post is not None and post.published_at is not None
    else:
        publish = values.get(PUBLISH_FIELD) in ("true", "on")
    form = Form(FORM_NAME, {field: values.get(field, "") for field in TEXT_FIELDS}, errors)
    if post is None:
        title, action, validate, cancel = (
            _("New Post"),
            path_for(request, "blog_create"),
            path_for(request, "blog_validate"),
            path_for(request, "blog_index"),
        )
    else:
        title, action, validate, cancel = (
            _("Edit Post"),
            path_for(request, "blog_update", slug=post.slug),
            path_for(request, "blog_validate_edit", slug=post.slug),
            path_for(request, "blog_show", slug=post.slug),
        )
    return render(
        request,
        "blog_live/form.html",
        status_code=status_code,
        page_title=title,
        post=post,
        form=form,
        publish=publish,
        action=action,
        validate=validate,
        cancel_url=cancel,
    )


async def changeable_post(scope: Scope, slug: str) -> blog.Post:
    """The post to edit: 404 if the writer may not see it, 403 if they may see but not change it."""
    post = await visible_post(scope, slug)
    if not blog.can_change(scope, post):
        raise ForbiddenError()
    return post


@router.get("/new", name="blog_new")
async def new(request: Request, scope: WriterScope) -> HTMLResponse:
    return form_page(request, post=None)


@router.post("", name="blog_create", dependencies=[Depends(verify_csrf)])
async def create(request: Request, scope: WriterScope) -> Response:
    params = await form_params(request)
    try:
        if errors := form_errors(params):
            raise ValidationError(errors)
        post = await blog.create_post(scope, post_attrs(params, None))
    except ValidationError as exc:  # a taken slug only the save can tell
        return form_page(request, post=None, values=params, errors=translate_errors(exc.errors), status_code=422)
    put_flash(request, "info", _("Post published.") if post.published_at else _("Draft saved."))
    return RedirectResponse(path_for(request, "blog_show", slug=post.slug), status_code=303)


@router.post("/validate", name="blog_validate", dependencies=[Depends(verify_csrf)])
async def validate(request: Request, scope: WriterScope) -> HTMLResponse:
    errors = translate_errors(form_errors(await form_params(request)))
    return errors_fragment(request, FORM_NAME, TEXT_FIELDS, errors)


@router.get("/{slug}/edit", name="blog_edit")
async def edit(request: Request, slug: str, scope: WriterScope) -> HTMLResponse:
    return form_page(request, post=await changeable_post(scope, slug))


@router.post("/{slug}", name="blog_update", dependencies=[Depends(verify_csrf)])
async def update(request: Request, slug: str, scope: WriterScope) -> Response:
    post = await changeable_post(scope, slug)
    params = await form_params(request)
    try:
        if errors := form_errors(params):
            raise ValidationError(errors)
        post = await blog.update_post(scope, post, post_attrs(params, post))
    except ValidationError as exc:
        return form_page(request, post=post, values=params, errors=translate_errors(exc.errors), status_code=422)
    put_flash(request, "info", _("Post saved."))
    return RedirectResponse(path_for(request, "blog_show", slug=post.slug), status_code=303)


@router.post("/{slug}/validate", name="blog_validate_edit", dependencies=[Depends(verify_csrf)])
async def validate_edit(request: Request, slug: str, scope: WriterScope) -> HTMLResponse:
    await changeable_post(scope, slug)
    errors = translate_errors(form_errors(await form_params(request)))
    return errors_fragment(request, FORM_NAME, TEXT_FIELDS, errors)


@router.post("/{slug}/delete", name="blog_delete", dependencies=[Depends(verify_csrf)])
async def delete(request: Request, slug: str, scope: WriterScope) -> RedirectResponse:
    post = await changeable_post(scope, slug)
    await blog.delete_post(scope, post)
    put_flash(request, "info", _("Post deleted."))
    return RedirectResponse(path_for(request, "blog_index"), status_code=303)
