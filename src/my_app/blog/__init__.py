"""The Blog context: posts and their comments (the seed's `MyApp.Blog`). The web layer calls only
the functions listed in `__all__`.

Who may do what is decided here, from the caller's `Scope` (passed first):
- anyone, signed in or not, reads published posts and their comments;
- a draft (`published_at` None) is visible only to its author and admins: `get_post` answers None
  and `get_post_or_404` NotFoundError to everyone else, as if it did not exist;
- `list_posts` lists published posts only, for everyone (admins included): drafts are on the
  drafts page, `list_drafts` (the caller's own drafts; every draft for admins);
- any signed-in user writes posts and comments, always as their author (a visitor, or the system,
  which is nobody, gets ForbiddenError: a post needs an author);
- authors update and delete their own posts and comments, admins anything; others get ForbiddenError.

Deleted users: their posts and comments stay, with `author_id` set to NULL by the database (ON DELETE
SET NULL) and `author` None; the API shows `"author": null`. Only admins may then change them.
Deleting a post deletes its comments (ON DELETE CASCADE).

Every list loads what it renders in a constant number of statements: posts with their author
(joined) and comment count (a correlated count in the same SELECT); a post with its comments and
their authors (one more SELECT). Lists are keyset pages, oldest first, stable under inserts.

After a write commits, it is announced: on POSTS_TOPIC (`post_created|post_updated|post_deleted`,
`{"id"}`) and on `post_topic(post_id)` (`comment_created|comment_updated|comment_deleted`,
`{"id", "post_id"}`, for the readers of that post); comment events go to COMMENTS_TOPIC too, for
what shows every post's comment count (the blog index).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, false, func, or_, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, selectinload, with_expression

from my_app import pubsub, repo
from my_app.accounts.scope import Scope
from my_app.blog.comment import Comment, CommentInput
from my_app.blog.post import Post, PostInput, PostUpdate
from my_app.changeset import Changeset, cast, change, update_changes
from my_app.constraints import unique_violation
from my_app.errors import ForbiddenError, NotFoundError, ValidationError
from my_app.pagination import Page, paginate
from my_app.schema import parse_id

__all__ = [
    "COMMENTS_TOPIC",
    "POSTS_TOPIC",
    "Comment",
    "CommentEvent",
    "Post",
    "PostEvent",
    "can_change",
    "change_comment",
    "change_post",
    "create_comment",
    "create_post",
    "delete_comment",
    "delete_post",
    "get_comment_or_404",
    "get_post",
    "get_post_by_slug",
    "get_post_or_404",
    "list_comments",
    "list_drafts",
    "list_posts",
    "post_topic",
    "update_comment",
    "update_post",
]

POSTS_TOPIC = "blog:posts"
COMMENTS_TOPIC = "blog:comments"
PostEvent = Literal["post_created", "post_updated", "post_deleted"]
CommentEvent = Literal["comment_created", "comment_updated", "comment_deleted"]
_SLUG_TAKEN = {"slug": ["has already been taken"]}


def post_topic(post_id: uuid.UUID | str) -> str:
    """The topic a post's comment events go to: `blog:posts:<post id>`."""
    return f"{POSTS_TOPIC}:{post_id}"


# --- Posts: reading ---


async def list_posts(
    scope: Scope, *, limit: int | None = None, cursor: str | None = None, newest_first: bool = False
) -> Page[Post]:
    """One page of published posts, each with `author` and `comment_count` (one SELECT): oldest
    first by insertion (the API's order), or `newest_first` by publication date (the blog index:
    a draft published today comes first, though written last month).

    Examples:
        page = await list_posts(Scope.for_user(None), limit=20)     # Page(items=[Post(...), ...], ...)
        await list_posts(scope, limit=20, cursor=page.next_cursor)  # the next page
        await list_posts(scope, limit=20, newest_first=True)        # the latest published first
        await list_posts(scope, limit=500)                          # ValidationError({"limit": [...]})
    """
    # `published_at` is never NULL here (drafts are left out), so it can be the keyset's column.
    column = Post.published_at if newest_first else Post.inserted_at
    async with repo.read() as session:
        return await paginate(
            session,
            _posts().where(Post.published_at.is_not(None)),
            inserted_at=column,  # type: ignore[arg-type]
            row_id=Post.id,
            limit=limit,
            cursor=cursor,
            descending=newest_first,
        )


async def list_drafts(scope: Scope, *, limit: int | None = None, cursor: str | None = None) -> Page[Post]:
    """One page of drafts, oldest first: the caller's own; every draft for admins. ForbiddenError for visitors.

    Examples:
        await list_drafts(Scope.for_user(ada))     # Ada's drafts
        await list_drafts(Scope.for_user(admin))   # every draft
        await list_drafts(Scope.for_user(None))    # ForbiddenError
    """
    if scope.user is None and not scope.admin:
        raise ForbiddenError()
    statement = _posts().where(Post.published_at.is_(None))
    if not scope.admin:
        statement = statement.where(Post.author_id == scope.user_id)
    async with repo.read() as session:
        return await paginate(
            session, statement, inserted_at=Post.inserted_at, row_id=Post.id, limit=limit, cursor=cursor
        )


async def get_post(scope: Scope, post_id: uuid.UUID | str) -> Post | None:
    """The post with its author, comment count and comments (with their authors), if the caller may
    see it; None when there is none, the id is malformed, or it is a draft of someone else.

    Examples:
        await get_post(Scope.for_user(None), published.id)   # Post(...)
        await get_post(Scope.for_user(bob), adas_draft.id)   # None
        await get_post(Scope.for_user(admin), adas_draft.id) # Post(...)
    """
    key = parse_id(post_id)
    if key is None:
        return None
    async with repo.read() as session:
        return await _fetch_post(session, key, _visible_to(scope))


async def get_post_or_404(scope: Scope, post_id: uuid.UUID | str) -> Post:
    """As `get_post` (`get_post!`), but NotFoundError instead of None (a hidden draft included)."""
    post = await get_post(scope, post_id)
    if post is None:
        raise NotFoundError("post", post_id)
    return post


async def get_post_by_slug(scope: Scope, slug: str) -> Post | None:
    """As `get_post`, by slug (a post's page URL, the seeds' natural key).

    Examples:
        await get_post_by_slug(Scope.for_user(None), "hello-world")  # Post(...)
        await get_post_by_slug(Scope.for_user(bob), "adas-draft")    # None
    """
    async with repo.read() as session:
        post_id = await session.scalar(select(Post.id).where(Post.slug == slug, _visible_to(scope)))
        return await _fetch_post(session, post_id, true()) if post_id is not None else None


# --- Posts: writing ---


async def create_post(scope: Scope, attrs: Mapping[str, Any]) -> Post:
    """Create a post by the caller (a draft unless `published_at` is given).

    Examples:
        await create_post(Scope.for_user(ada), {"title": "Hi", "slug": "hi", "body": "..."})  # a draft
        await create_post(Scope.for_user(ada), {..., "published_at": "2026-12-01T10:00:00Z"})  # published
        await create_post(Scope.for_user(ada), {"slug": "hi", ...})   # again: ValidationError(slug taken)
        await create_post(Scope.for_user(None), {...})                # ForbiddenError
    """
    author_id = _author(scope)
    data = cast(PostInput, attrs)
    post = Post(**data.model_dump(), author_id=author_id)
    try:
        async with repo.transaction() as session:
            session.add(post)
            await session.flush()
            loaded = await _fetch_post(session, post.id, true())
    except IntegrityError as exc:
        if unique_violation(exc) == "posts_slug_key":
            raise ValidationError(_SLUG_TAKEN) from None
        raise
    assert loaded is not None  # noqa: S101 - inserted just above
    await _broadcast(POSTS_TOPIC, "post_created", {"id": str(loaded.id)})
    return loaded


async def update_post(scope: Scope, post: Post, attrs: Mapping[str, Any]) -> Post:
    """Change a post (its author or an admin; ForbiddenError for anyone else, nothing written).

    `"published_at": null` (or "") turns a published post back into a draft.

    Examples:
        await update_post(Scope.for_user(ada), adas_post, {"title": "New"})    # Post(title="New")
        await update_post(Scope.for_user(ada), adas_post, {"published_at": "2026-12-01T10:00:00Z"})
        await update_post(Scope.for_user(bob), adas_post, {"title": "x"})      # ForbiddenError
    """
    _require_author(scope, post.author_id)
    changes = update_changes(PostUpdate, attrs, optional={"published_at"})  # blank: back to draft
    try:
        async with repo.transaction() as session:
            await repo.update(session, Post, post.id, changes)
            loaded = await _fetch_post(session, post.id, true())
    except IntegrityError as exc:
        if unique_violation(exc) == "posts_slug_key":
            raise ValidationError(_SLUG_TAKEN) from None
        raise
    assert loaded is not None  # noqa: S101 - locked above
    await _broadcast(POSTS_TOPIC, "post_updated", {"id": str(loaded.id)})
    return loaded


async def delete_post(scope: Scope, post: Post) -> Post:
    """Delete a post and its comments (its author or an admin; else ForbiddenError, nothing deleted).

    Examples:
        await delete_post(Scope.for_user(ada), adas_post)    # Post(...): gone, comments too
        await delete_post(Scope.for_user(bob), adas_post)    # ForbiddenError
    """
    _require_author(scope, post.author_id)
    async with repo.transaction() as session:
        await session.delete(await repo.get_for_update(session, Post, post.id))
    await _broadcast(POSTS_TOPIC, "post_deleted", {"id": str(post.id)})
    return post


def change_post(post: Post | None, attrs: Mapping[str, Any] | None = None) -> Changeset[Post | None]:
    """The post form's input validated as `create_post` (new post: `post` None) or `update_post` would
    take it; writes nothing (a taken slug is only found when saving).

    Examples:
        change_post(None, {"title": "Hi", "slug": "hi", "body": "..."}).valid   # True
        change_post(None, {"slug": "Not A Slug"}).errors["slug"]  # ["must be lowercase letters, ..."]
    """
    return change(PostInput if post is None else PostUpdate, post, attrs or {})


# --- Comments ---


async def list_comments(
    scope: Scope, post: Post, *, limit: int | None = None, cursor: str | None = None
) -> Page[Comment]:
    """One page of the post's comments, oldest first, each with its author (one SELECT).

    NotFoundError when the caller may not see the post (someone else's draft).

    Examples:
        await list_comments(Scope.for_user(None), published_post, limit=50)  # Page(items=[Comment(...)])
        await list_comments(Scope.for_user(bob), adas_draft)                 # NotFoundError
    """
    if not _can_see(scope, post):
        raise NotFoundError("post", post.id)
    statement = select(Comment).options(joinedload(Comment.author)).where(Comment.post_id == post.id)
    async with repo.read() as session:
        return await paginate(
            session, statement, inserted_at=Comment.inserted_at, row_id=Comment.id, limit=limit, cursor=cursor
        )


async def get_comment_or_404(scope: Scope, post: Post, comment_id: uuid.UUID | str) -> Comment:
    """The post's comment with this id (with its author); NotFoundError when there is none (or the id is
    malformed, or belongs to another post) or the caller may not see the post."""
    key = parse_id(comment_id)
    if key is None or not _can_see(scope, post):
        raise NotFoundError("comment", comment_id)
    async with repo.read() as session:
        comment = await session.scalar(
            select(Comment).options(joinedload(Comment.author)).where(Comment.id == key, Comment.post_id == post.id)
        )
    if comment is None:
        raise NotFoundError("comment", comment_id)
    return comment


async def create_comment(scope: Scope, post: Post, attrs: Mapping[str, Any]) -> Comment:
    """Comment on a post the caller may see, as the caller (signed-in users).

    ForbiddenError for visitors; NotFoundError when the post is gone or is someone else's draft.

    Examples:
        await create_comment(Scope.for_user(bob), published_post, {"body": "Nice"})  # Comment(...)
        await create_comment(Scope.for_user(bob), adas_draft, {"body": "x"})         # NotFoundError
        await create_comment(Scope.for_user(None), published_post, {"body": "x"})   # ForbiddenError
    """
    author_id = _author(scope)
    data = cast(CommentInput, attrs)
    async with repo.transaction() as session:
        # The post as it is now, locked against deletion until the comment is in.
        visible = await session.scalar(
            select(Post.id).where(Post.id == post.id, _visible_to(scope)).with_for_update(read=True)
        )
        if visible is None:
            raise NotFoundError("post", post.id)
        comment = Comment(body=data.body, post_id=post.id, author_id=author_id)
        session.add(comment)
        await session.flush()
        loaded = await _fetch_comment(session, comment.id)
    await _broadcast_comment("comment_created", loaded)
    return loaded


async def update_comment(scope: Scope, comment: Comment, attrs: Mapping[str, Any]) -> Comment:
    """Change a comment's body (its author or an admin; else ForbiddenError, nothing written)."""
    _require_author(scope, comment.author_id)
    data = cast(CommentInput, attrs)
    async with repo.transaction() as session:
        await repo.update(session, Comment, comment.id, {"body": data.body})
        loaded = await _fetch_comment(session, comment.id)
    await _broadcast_comment("comment_updated", loaded)
    return loaded


async def delete_comment(scope: Scope, comment: Comment) -> Comment:
    """Delete a comment (its author or an admin; else ForbiddenError, nothing deleted)."""
    _require_author(scope, comment.author_id)
    async with repo.transaction() as session:
        await session.delete(await repo.get_for_update(session, Comment, comment.id))
    await _broadcast_comment("comment_deleted", comment)
    return comment


def change_comment(comment: Comment | None, attrs: Mapping[str, Any] | None = None) -> Changeset[Comment | None]:
    """The comment form's input validated as `create_comment`/`update_comment` would take it; writes nothing."""
    return change(CommentInput, comment, attrs or {})


# --- Access ---


def can_change(scope: Scope, record: Post | Comment) -> bool:
    """May the caller edit and delete this post or comment? Its author or an admin (the rule the
    writes enforce): pages ask it to show Edit and Delete, and to answer 403 before a form.

    Examples:
        can_change(Scope.for_user(ada), adas_post)    # True
        can_change(Scope.for_user(bob), adas_post)    # False
        can_change(Scope.for_user(admin), adas_post)  # True
    """
    try:
        _require_author(scope, record.author_id)
    except ForbiddenError:
        return False
    return True


# --- Helpers ---


def _posts() -> Select[Post]:
    """Posts with their author (joined) and comment count (a correlated count): one SELECT for any number."""
    count = select(func.count(Comment.id)).where(Comment.post_id == Post.id).correlate(Post).scalar_subquery()
    return select(Post).options(joinedload(Post.author), with_expression(Post.comment_count, count))


async def _fetch_post(session: AsyncSession, post_id: uuid.UUID, visible: ColumnElement[bool]) -> Post | None:
    """The post with author, comment count and comments with their authors (two SELECTs)."""
    statement = (
        _posts()
        .options(selectinload(Post.comments).joinedload(Comment.author))
        .where(Post.id == post_id, visible)
        .execution_options(populate_existing=True)
    )
    post: Post | None = await session.scalar(statement)
    return post


async def _fetch_comment(session: AsyncSession, comment_id: uuid.UUID) -> Comment:
    statement = (
        select(Comment)
        .options(joinedload(Comment.author))
        .where(Comment.id == comment_id)
        .execution_options(populate_existing=True)
    )
    return (await session.scalars(statement)).one()


def _visible_to(scope: Scope) -> ColumnElement[bool]:
    """The posts the caller may see: published ones, their own drafts; everything for admins."""
    if scope.admin:
        return true()
    own = Post.author_id == scope.user_id if scope.user_id is not None else false()
    return or_(Post.published_at.is_not(None), own)


def _can_see(scope: Scope, post: Post) -> bool:
    own = scope.user_id is not None and post.author_id == scope.user_id
    return post.published_at is not None or scope.admin or own


def _author(scope: Scope) -> uuid.UUID:
    """The caller as the author of a new post or comment; visitors (and the system) may not write."""
    if scope.user_id is None:
        raise ForbiddenError()
    return scope.user_id


def _require_author(scope: Scope, author_id: uuid.UUID | None) -> None:
    if not (scope.admin or (scope.user_id is not None and author_id == scope.user_id)):
        raise ForbiddenError()


async def _broadcast_comment(event: CommentEvent, comment: Comment) -> None:
    payload = {"id": str(comment.id), "post_id": str(comment.post_id)}
    await _broadcast(post_topic(comment.post_id), event, payload)
    await _broadcast(COMMENTS_TOPIC, event, payload)


async def _broadcast(topic: str, event: PostEvent | CommentEvent, payload: dict[str, str]) -> None:
    """Announce a committed write (after the commit, whichever door it came through)."""
    await pubsub.announce(topic, event, payload)
