"""The comments API, nested under a post (phx.gen.json's CommentController). Reads are public for a
post the caller may see (404 otherwise); writes need a bearer token; authors and admins change them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response, status
from pydantic import BaseModel, Field

from my_app import blog
from my_app_web.controllers.api import comment_json, errors
from my_app_web.controllers.api.params import Text
from my_app_web.controllers.api.post_controller import Cursor, Limit
from my_app_web.plugs.auth import ApiScope, OptionalApiScope

router = APIRouter(prefix="/posts/{post_id}/comments", tags=["comments"], responses=errors.SERVER_ERROR)


class CommentFields(BaseModel):
    body: Text | None = Field(default=None, examples=["Nice post."])


class CommentParams(BaseModel):
    comment: CommentFields


def _attrs(fields: BaseModel) -> dict[str, Any]:
    return fields.model_dump(exclude_unset=True)


async def _post_in_scope(post_id: str, scope: OptionalApiScope) -> blog.Post:
    return await blog.get_post_or_404(scope, post_id)


ScopedPost = Annotated[blog.Post, Depends(_post_in_scope)]


async def _comment_in_scope(post: ScopedPost, id: str, scope: OptionalApiScope) -> blog.Comment:  # noqa: A002
    return await blog.get_comment_or_404(scope, post, id)


ScopedComment = Annotated[blog.Comment, Depends(_comment_in_scope)]


@router.get(
    "",
    response_model=comment_json.CommentListResponse,
    responses={**errors.BAD_REQUEST, **errors.UNAUTHORIZED, **errors.NOT_FOUND, **errors.UNPROCESSABLE},
    summary="List a post's comments, oldest first, with their authors (public)",
)
async def index(
    post: ScopedPost, scope: OptionalApiScope, limit: Limit = 20, cursor: Cursor = None
) -> comment_json.CommentListResponse:
    return comment_json.index(await blog.list_comments(scope, post, limit=limit, cursor=cursor))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=comment_json.CommentResponse,
    responses={**errors.BAD_BODY, **errors.UNAUTHORIZED, **errors.NOT_FOUND, **errors.UNPROCESSABLE},
    summary="Comment on a post; the caller is the comment's author",
)
async def create(
    scope: ApiScope, post: ScopedPost, params: CommentParams, response: Response
) -> comment_json.CommentResponse:
    comment = await blog.create_comment(scope, post, _attrs(params.comment))
    response.headers["location"] = f"/api/posts/{post.id}/comments/{comment.id}"
    return comment_json.show(comment)


@router.get(
    "/{id}",
    response_model=comment_json.CommentResponse,
    responses={**errors.UNAUTHORIZED, **errors.NOT_FOUND},
    summary="Show a comment",
)
async def show(comment: ScopedComment) -> comment_json.CommentResponse:
    return comment_json.show(comment)


_UPDATE_RESPONSES: errors.Responses = {
    **errors.BAD_BODY,
    **errors.UNAUTHORIZED,
    **errors.FORBIDDEN,
    **errors.NOT_FOUND,
    **errors.UNPROCESSABLE,
}


@router.patch(
    "/{id}",
    response_model=comment_json.CommentResponse,
    responses=_UPDATE_RESPONSES,
    summary="Update a comment (author, admin)",
)
async def update(scope: ApiScope, comment: ScopedComment, params: CommentParams) -> comment_json.CommentResponse:
    return comment_json.show(await blog.update_comment(scope, comment, _attrs(params.comment)))


@router.put(
    "/{id}",
    response_model=comment_json.CommentResponse,
    responses=_UPDATE_RESPONSES,
    summary="Update a comment (author, admin)",
)
async def replace(scope: ApiScope, comment: ScopedComment, params: CommentParams) -> comment_json.CommentResponse:
    return comment_json.show(await blog.update_comment(scope, comment, _attrs(params.comment)))


@router.delete(
    "/{id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**errors.UNAUTHORIZED, **errors.FORBIDDEN, **errors.NOT_FOUND},
    summary="Delete a comment (author, admin)",
)
async def delete(scope: ApiScope, comment: ScopedComment) -> Response:
    await blog.delete_comment(scope, comment)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
