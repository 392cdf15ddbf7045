"""How comments look in the API (phx.gen.json's CommentJSON); the shapes live beside the post's."""

from __future__ import annotations

from pydantic import BaseModel

from my_app.blog import Comment
from my_app.pagination import Page
from my_app_web.controllers.api.post_json import CommentData, ListMeta, comment_data


class CommentResponse(BaseModel):
    data: CommentData


class CommentListResponse(BaseModel):
    data: list[CommentData]
    meta: ListMeta


def show(comment: Comment) -> CommentResponse:
    return CommentResponse(data=comment_data(comment))


def index(page: Page[Comment]) -> CommentListResponse:
    return CommentListResponse(
        data=[comment_data(comment) for comment in page.items],
        meta=ListMeta(limit=page.limit, next_cursor=page.next_cursor),
    )
