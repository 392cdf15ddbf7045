"""How posts look in the API (phx.gen.json's PostJSON). A deleted author shows as `"author": null`.

The models document the shapes (`response_model`); `show` and `index` build the same fields as
plain dicts and render them once (`JSONBody`), as ProductJSON does. `comment_data` stays a model
for CommentJSON.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from my_app.accounts import User
from my_app.blog import Comment, Post
from my_app.pagination import Page
from my_app_web.controllers.api.json_response import JSONBody, page_body

AUTHOR_EXAMPLE: dict[str, JsonValue] = {"id": "0b6f6a52-3bb4-4e0c-9d7e-0d6c1b1f0a11", "name": "Ada Lovelace"}
POST_EXAMPLE: dict[str, JsonValue] = {
    "id": "5d0c3a7e-1f7b-4c55-9a53-2d1c0e6b8f21",
    "title": "Hello, world",
    "slug": "hello-world",
    "body": "The first post.",
    "published_at": "2026-12-01T10:00:00Z",  # null for a draft
    "author": AUTHOR_EXAMPLE,  # null once the author's account is deleted
    "comment_count": 1,
    "inserted_at": "2026-12-01T09:00:00Z",
    "updated_at": "2026-12-01T09:00:00Z",
}
COMMENT_EXAMPLE: dict[str, JsonValue] = {
    "id": "9a1e2f3b-4c5d-4e6f-8a7b-0c1d2e3f4a5b",
    "body": "Nice post.",
    "post_id": "5d0c3a7e-1f7b-4c55-9a53-2d1c0e6b8f21",
    "author": AUTHOR_EXAMPLE,
    "inserted_at": "2026-12-01T11:00:00Z",
    "updated_at": "2026-12-01T11:00:00Z",
}


class AuthorData(BaseModel):
    """Who wrote it: only the id and the name (never the email)."""

    id: uuid.UUID
    name: str


class CommentData(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": COMMENT_EXAMPLE})

    id: uuid.UUID
    body: str
    post_id: uuid.UUID
    author: AuthorData | None = Field(description="null once the author's account is deleted")
    inserted_at: datetime
    updated_at: datetime


class PostData(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": POST_EXAMPLE})

    id: uuid.UUID
    title: str
    slug: str
    body: str
    published_at: datetime | None = Field(description="null for a draft (seen only by its author and admins)")
    author: AuthorData | None = Field(description="null once the author's account is deleted")
    comment_count: int
    inserted_at: datetime
    updated_at: datetime


class PostWithComments(PostData):
    model_config = ConfigDict(json_schema_extra={"example": {**POST_EXAMPLE, "comments": [COMMENT_EXAMPLE]}})

    comments: list[CommentData] = Field(description="Oldest first")


class PostResponse(BaseModel):
    data: PostWithComments


class ListMeta(BaseModel):
    limit: int = Field(examples=[20])
    next_cursor: str | None = Field(description="Pass as `?cursor=` for the next page; null on the last.")


class PostListResponse(BaseModel):
    data: list[PostData]
    meta: ListMeta


def _author(user: User | None) -> dict[str, Any] | None:
    return {"id": user.id, "name": user.name} if user is not None else None


def _comment(comment: Comment) -> dict[str, Any]:
    """CommentData's fields, in its order."""
    return {
        "id": comment.id,
        "body": comment.body,
        "post_id": comment.post_id,
        "author": _author(comment.author),
        "inserted_at": comment.inserted_at,
        "updated_at": comment.updated_at,
    }


def comment_data(comment: Comment) -> CommentData:
    return CommentData.model_validate(_comment(comment))


def _fields(post: Post) -> dict[str, Any]:
    """PostData's fields, in its order."""
    return {
        "id": post.id,
        "title": post.title,
        "slug": post.slug,
        "body": post.body,
        "published_at": post.published_at,
        "author": _author(post.author),
        "comment_count": post.comment_count or 0,
        "inserted_at": post.inserted_at,
        "updated_at": post.updated_at,
    }


def show(post: Post, *, status_code: int = 200, headers: dict[str, str] | None = None) -> JSONBody:
    """A PostResponse: the post with its comments (the context loaded them with their authors)."""
    body = {**_fields(post), "comments": [_comment(comment) for comment in post.comments]}
    return JSONBody({"data": body}, status_code=status_code, headers=headers)


def index(page: Page[Post]) -> JSONBody:
    """A PostListResponse."""
    return page_body(page, [_fields(post) for post in page.items])
