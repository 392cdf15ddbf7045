"""The posts API (phx.gen.json's PostController). Reads are public (a bearer token is optional: with
one, the caller also sees their own drafts, admins every draft); writes need a bearer token.

Who may see or change which post is the Blog context's decision; this module parses, calls, renders.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response, status
from pydantic import BaseModel, Field

from my_app import blog
from my_app_web.controllers.api import errors, post_json
from my_app_web.controllers.api.json_response import JSONBody
from my_app_web.controllers.api.params import Text
from my_app_web.plugs.auth import ApiScope, OptionalApiScope

router = APIRouter(prefix="/posts", tags=["posts"], responses=errors.SERVER_ERROR)


Limit = Annotated[int, Query(ge=1, le=100, description="At most 100")]
Cursor = Annotated[str | None, Query(description="`meta.next_cursor` of the previous page")]


class PostFields(BaseModel):
    title: Text | None = Field(default=None, examples=["Hello, world"])
    slug: Text | None = Field(default=None, examples=["hello-world"])
    body: Text | None = Field(default=None, examples=["The first post."])
    published_at: Text | None = Field(
        default=None,
        examples=["2026-12-01T10:00:00Z"],
        description="ISO 8601 (UTC when no offset). Absent on create: a draft; null on update: back to draft.",
    )


class PostParams(BaseModel):
    post: PostFields


def _attrs(fields: BaseModel) -> dict[str, Any]:
    return fields.model_dump(exclude_unset=True)


async def _post_in_scope(id: str, scope: OptionalApiScope) -> blog.Post:  # noqa: A002 - the route's name
    """The post `id` names if the caller may see it; 404 otherwise (someone else's draft, a malformed id)."""
    return await blog.get_post_or_404(scope, id)


ScopedPost = Annotated[blog.Post, Depends(_post_in_scope)]


@router.get(
    "",
    response_model=post_json.PostListResponse,
    responses={**errors.BAD_REQUEST, **errors.UNAUTHORIZED, **errors.UNPROCESSABLE},
    summary="List published posts, oldest first, with their author and comment count (public)",
)
async def index(scope: OptionalApiScope, limit: Limit = 20, cursor: Cursor = None) -> JSONBody:
    return post_json.index(await blog.list_posts(scope, limit=limit, cursor=cursor))


@router.get(
    "/drafts",
    response_model=post_json.PostListResponse,
    responses={**errors.BAD_REQUEST, **errors.UNAUTHORIZED, **errors.UNPROCESSABLE},
    summary="List the caller's drafts, oldest first (every draft for admins)",
)
async def drafts(scope: ApiScope, limit: Limit = 20, cursor: Cursor = None) -> JSONBody:
    return post_json.index(await blog.list_drafts(scope, limit=limit, cursor=cursor))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=post_json.PostResponse,
    responses={**errors.BAD_BODY, **errors.UNAUTHORIZED, **errors.UNPROCESSABLE},
    summary="Create a post; the caller is its author (a draft unless `published_at` is given)",
)
async def create(params: PostParams, scope: ApiScope) -> JSONBody:
    post = await blog.create_post(scope, _attrs(params.post))
    return post_json.show(post, status_code=status.HTTP_201_CREATED, headers={"location": f"/api/posts/{post.id}"})


@router.get(
    "/{id}",
    response_model=post_json.PostResponse,
    responses={**errors.UNAUTHORIZED, **errors.NOT_FOUND},
    summary="Show a post with its comments (drafts: their author and admins only, else 404)",
)
async def show(post: ScopedPost) -> JSONBody:
    return post_json.show(post)


_UPDATE_RESPONSES: errors.Responses = {
    **errors.BAD_BODY,
    **errors.UNAUTHORIZED,
    **errors.FORBIDDEN,
    **errors.NOT_FOUND,
    **errors.UNPROCESSABLE,
}


@router.patch(
    "/{id}", response_model=post_json.PostResponse, responses=_UPDATE_RESPONSES, summary="Update a post (author, admin)"
)
async def update(scope: ApiScope, post: ScopedPost, params: PostParams) -> JSONBody:
    return post_json.show(await blog.update_post(scope, post, _attrs(params.post)))


@router.put(
    "/{id}", response_model=post_json.PostResponse, responses=_UPDATE_RESPONSES, summary="Update a post (author, admin)"
)
async def replace(scope: ApiScope, post: ScopedPost, params: PostParams) -> JSONBody:
    return post_json.show(await blog.update_post(scope, post, _attrs(params.post)))


@router.delete(
    "/{id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**errors.UNAUTHORIZED, **errors.FORBIDDEN, **errors.NOT_FOUND},
    summary="Delete a post and its comments (author, admin)",
)
async def delete(scope: ApiScope, post: ScopedPost) -> Response:
    await blog.delete_post(scope, post)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
