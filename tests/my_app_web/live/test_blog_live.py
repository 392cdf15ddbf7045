"""The blog's live pages: the index, a post with its comments, the post form and the drafts page —
what each shows to whom, what their forms write (and refuse), and what their live streams push
when posts and comments change through the context."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from my_app import accounts, blog
from my_app.accounts import Scope
from tests.support.browser_forms import csrf_token_in, log_in
from tests.support.conn_case import client_for
from tests.support.fixtures.accounts import SYSTEM, user_fixture
from tests.support.fixtures.blog import comment_fixture, post_fixture, unique_slug
from tests.support.live_case import live_stream
from tests.support.query_count import count_queries


@pytest.fixture
async def ada() -> accounts.User:
    return await user_fixture(name="Ada Lovelace")


@pytest.fixture
async def bob() -> accounts.User:
    return await user_fixture(name="Bob Builder")


@pytest.fixture
async def admin() -> accounts.User:
    return await user_fixture(role="admin", name="Admin")


def published(days_ago: int) -> str:
    return (datetime(2026, 11, 30, 9, 0, tzinfo=UTC) - timedelta(days=days_ago)).isoformat()


def card_ids(html: str) -> list[str]:
    return re.findall(r'<article id="posts-([0-9a-f-]{36})"', html)


def comment_ids(html: str) -> list[str]:
    return re.findall(r'<li id="comments-([0-9a-f-]{36})"', html)


async def csrf(client: httpx.AsyncClient, path: str = "/blog") -> str:
    return csrf_token_in((await client.get(path)).text)


async def log_in_as(client: httpx.AsyncClient, user: accounts.User) -> None:
    """Sign `client` in as `user`, signing out whoever it was first (a fresh session)."""
    client.cookies.clear()
    assert (await log_in(client, user.email)).status_code == 303


# --- The index ---


async def test_the_index_lists_published_posts_newest_first(client: httpx.AsyncClient, ada: accounts.User) -> None:
    old = await post_fixture(ada, title="Old News", published_at=published(3), body="First words. " * 40)
    new = await post_fixture(ada, title="Fresh News", published_at=published(1))
    draft = await post_fixture(ada, title="Secret Draft", published_at=None)
    await comment_fixture(ada, old)
    await comment_fixture(ada, old)

    response = await client.get("/blog")

    assert response.status_code == 200
    assert card_ids(response.text)[:2] == [str(new.id), str(old.id)]
    assert str(draft.id) not in card_ids(response.text)
    assert "Secret Draft" not in response.text
    assert f'href="/blog/{old.slug}"' in response.text
    assert "Ada Lovelace" in response.text
    assert "Nov 27, 2026" in response.text  # the publication date, in the reader's locale
    assert "2 comments" in response.text
    assert "0 comments" in response.text
    assert "First words. First words." in response.text
    assert "…" in response.text  # a long body is cut short
    assert 'sse-connect="/blog"' in response.text
    assert "New Post" not in response.text  # visitors write nothing


async def test_the_index_speaks_german(client: httpx.AsyncClient, ada: accounts.User) -> None:
    await post_fixture(ada, published_at=published(3))
    await log_in_as(client, ada)

    response = await client.get("/blog?locale=de")

    assert "27.11.2026" in response.text
    assert "0 Kommentare" in response.text
    assert "Neuer Beitrag" in response.text
    assert "Meine Entwürfe" in response.text


async def test_a_deleted_authors_posts_stay_with_the_author_shown_as_deleted(
    client: httpx.AsyncClient, ada: accounts.User
) -> None:
    post = await post_fixture(ada, title="Orphaned")
    await comment_fixture(ada, post, body="A comment by Ada")
    await accounts.delete_user(SYSTEM, ada)

    index = await client.get("/blog")
    page = await client.get(f"/blog/{post.slug}")

    assert "Orphaned" in index.text
    assert "deleted user" in index.text
    assert "Ada Lovelace" not in page.text
    assert page.text.count("deleted user") == 2  # the post's author and the comment's
    assert "A comment by Ada" in page.text


async def test_load_more_shows_the_next_posts_below_those_read(client: httpx.AsyncClient, ada: accounts.User) -> None:
    posts = [await post_fixture(ada, published_at=published(days)) for days in range(25)]

    first = await client.get("/blog")
    more = await client.get("/blog?limit=40")

    assert card_ids(first.text) == [str(post.id) for post in posts[:20]]
    assert f'href="/blog?limit=40#posts-{posts[19].id}"' in first.text
    assert "Load more" in first.text
    assert card_ids(more.text) == [str(post.id) for post in posts]
    assert "Load more" not in more.text
    assert 'sse-connect="/blog?limit=40"' in more.text  # its stream follows every post shown
    assert (await client.get("/blog?limit=0")).status_code == 400


async def test_the_index_runs_the_same_number_of_queries_for_5_or_30_posts(
    client: httpx.AsyncClient, ada: accounts.User, bob: accounts.User
) -> None:
    async def queries_for_index() -> int:
        async with count_queries() as queries:
            response = await client.get("/blog?limit=40")
        assert response.status_code == 200
        return len(queries)

    for index in range(5):
        post = await post_fixture(ada if index % 2 else bob, published_at=published(index))
        await comment_fixture(bob, post)
    few = await queries_for_index()
    for index in range(25):
        author = await user_fixture()  # a different author each time: authors are joined, not fetched one by one
        post = await post_fixture(author, published_at=published(10 + index))
        await comment_fixture(ada, post)
    many = await queries_for_index()

    assert len(card_ids((await client.get("/blog?limit=40")).text)) == 30
    assert few == many == 1


async def test_the_index_stream_follows_published_edited_and_deleted_posts(
    web_app: FastAPI, client: httpx.AsyncClient, ada: accounts.User
) -> None:
    shown = await post_fixture(ada, title="Already There", published_at=published(5))
    async with live_stream(web_app, client, "/blog") as stream:
        first = await stream.next_event()
        assert first.data.startswith('<hx-partial hx-target="#live-region" hx-swap="innerHTML">')
        assert f'id="posts-{shown.id}"' in first.data

        draft = await post_fixture(ada, title="Not Yet", published_at=None)
        await stream.no_event()  # drafts are not on the index

        await blog.update_post(Scope.for_user(ada), draft, {"published_at": published(0)})
        appeared = await stream.next_event()
        assert appeared.data.startswith('<hx-partial hx-target="#posts" hx-swap="afterbegin">')
        assert f'<article id="posts-{draft.id}"' in appeared.data
        assert "Not Yet" in appeared.data

        await blog.update_post(Scope.for_user(ada), shown, {"title": "Edited Title"})
        edited = await stream.next_event()
        assert edited.data.startswith(f'<hx-partial hx-target="#posts-{shown.id}" hx-swap="outerHTML">')
        assert "Edited Title" in edited.data

        await blog.update_post(Scope.for_user(ada), shown, {"published_at": None})  # back to a draft
        unpublished = await stream.next_event()
        assert unpublished.data == f'<hx-partial hx-target="#posts-{shown.id}" hx-swap="delete"></hx-partial>'

        await blog.delete_post(Scope.for_user(ada), draft)
        deleted = await stream.next_event()
        assert deleted.data == f'<hx-partial hx-target="#posts-{draft.id}" hx-swap="delete"></hx-partial>'


# --- A post ---


async def test_a_post_shows_its_text_escaped_in_paragraphs_and_its_comments_oldest_first(
    client: httpx.AsyncClient, ada: accounts.User, bob: accounts.User
) -> None:
    post = await post_fixture(
        ada,
        title="On <b>Engines</b>",
        body="First paragraph\nstill the first.\r\n\r\nSecond <script>alert(1)</script> paragraph.",
        published_at=published(3),
    )
    first = await comment_fixture(bob, post, body="First!")
    second = await comment_fixture(ada, post, body="Thanks, <i>Bob</i>")

    response = await client.get(f"/blog/{post.slug}")

    assert response.status_code == 200
    assert "On &lt;b&gt;Engines&lt;/b&gt;" in response.text
    assert "<p>First paragraph\nstill the first.</p>" in response.text
    assert "<p>Second &lt;script&gt;alert(1)&lt;/script&gt; paragraph.</p>" in response.text
    assert "<script>alert(1)" not in response.text
    assert "by Ada Lovelace" in response.text
    assert "November 27, 2026" in response.text
    assert comment_ids(response.text) == [str(first.id), str(second.id)]
    assert "Thanks, &lt;i&gt;Bob&lt;/i&gt;" in response.text
    assert "2 comments" in response.text
    assert f'sse-connect="/blog/{post.slug}"' in response.text
    assert "Draft" not in response.text


async def test_a_post_speaks_german(client: httpx.AsyncClient, ada: accounts.User, bob: accounts.User) -> None:
    post = await post_fixture(ada, published_at=published(3))
    await comment_fixture(bob, post)
    await comment_fixture(bob, post)

    visitor = await client.get(f"/blog/{post.slug}?locale=de")
    await log_in_as(client, ada)
    author = await client.get(f"/blog/{post.slug}?locale=de")

    assert "von Ada Lovelace" in visitor.text
    assert "27. November 2026" in visitor.text
    assert "2 Kommentare" in visitor.text
    assert "Zum Kommentieren anmelden" in visitor.text
    assert "Zurück zum Blog" in visitor.text
    assert "Dein Kommentar" in author.text
    assert "Kommentieren" in author.text
    assert "Bearbeiten" in author.text


async def test_visitors_read_but_are_asked_to_log_in_to_comment(
    client: httpx.AsyncClient, ada: accounts.User, bob: accounts.User
) -> None:
    post = await post_fixture(ada)
    await comment_fixture(bob, post)

    page = await client.get(f"/blog/{post.slug}")

    assert "Log in to comment" in page.text
    assert f'href="/blog/{post.slug}/comment"' in page.text
    assert 'id="comment_body"' not in page.text
    assert "/delete" not in page.text  # no Delete, for the comment or the post
    going = await client.get(f"/blog/{post.slug}/comment")
    assert going.status_code == 303
    assert going.headers["location"] == "/users/log-in"
    logged_in = await log_in(client, bob.email)
    assert logged_in.headers["location"] == f"/blog/{post.slug}/comment"  # and from there to the form
    back = await client.get(f"/blog/{post.slug}/comment")
    assert back.headers["location"] == f"/blog/{post.slug}#comment-form"
    form = await client.get(f"/blog/{post.slug}")
    assert 'id="comment_body"' in form.text
    assert "Log in to comment" not in form.text


async def test_an_unknown_post_is_404(client: httpx.AsyncClient) -> None:
    assert (await client.get("/blog/no-such-post")).status_code == 404


async def test_a_draft_is_404_to_all_but_its_author_and_admins(
    client: httpx.AsyncClient, ada: accounts.User, bob: accounts.User, admin: accounts.User
) -> None:
    draft = await post_fixture(ada, title="Work In Progress", published_at=None)

    assert (await client.get(f"/blog/{draft.slug}")).status_code == 404  # a visitor
    await log_in_as(client, bob)
    assert (await client.get(f"/blog/{draft.slug}")).status_code == 404
    assert (await client.get(f"/blog/{draft.slug}/edit")).status_code == 404
    await log_in_as(client, ada)
    own = await client.get(f"/blog/{draft.slug}")
    assert own.status_code == 200
    assert '<span class="badge badge-neutral">Draft</span>' in own.text
    await log_in_as(client, admin)
    assert "Work In Progress" in (await client.get(f"/blog/{draft.slug}")).text


async def test_the_index_stream_counts_comments_as_they_come_and_go(
    web_app: FastAPI, client: httpx.AsyncClient, ada: accounts.User, bob: accounts.User
) -> None:
    post = await post_fixture(ada, title="Counted", published_at=published(1))
    async with live_stream(web_app, client, "/blog") as stream:
        assert "0 comments" in (await stream.next_event()).data

        comment = await comment_fixture(bob, post)
        added = await stream.next_event()
        assert added.data.startswith(f'<hx-partial hx-target="#posts-{post.id}" hx-swap="outerHTML">')
        assert "1 comment<" in added.data

        await blog.update_comment(Scope.for_user(bob), comment, {"body": "Edited"})
        await stream.no_event()  # an edit changes no count

        await blog.delete_comment(Scope.for_user(bob), comment)
        assert "0 comments" in (await stream.next_event()).data


async def test_the_post_stream_of_a_draft_is_refused_too(
    web_app: FastAPI, client: httpx.AsyncClient, ada: accounts.User
) -> None:
    draft = await post_fixture(ada, published_at=None)
    async with live_stream(web_app, client, f"/blog/{draft.slug}") as stream:
        with pytest.raises(EOFError):
            await stream.next_event()
        assert stream.status == 404


# --- Comments ---


async def test_a_reader_comments_and_the_form_comes_back_empty(
    client: httpx.AsyncClient, ada: accounts.User, bob: accounts.User
) -> None:
    post = await post_fixture(ada)
    await log_in_as(client, bob)
    token = await csrf(client, f"/blog/{post.slug}")

    response = await client.post(f"/blog/{post.slug}/comments", data={"_csrf_token": token, "body": "Well put."})

    assert response.status_code == 303
    assert response.headers["location"] == f"/blog/{post.slug}#comment-form"
    page = await client.get(f"/blog/{post.slug}")
    assert "Well put." in page.text
    assert '<textarea id="comment_body" name="body"' in page.text
    assert "Well put.</textarea>" not in page.text
    [comment] = (await blog.list_comments(SYSTEM, post)).items
    assert (comment.body, comment.author_id) == ("Well put.", bob.id)


async def test_a_blank_comment_is_refused_and_nothing_is_written(
    client: httpx.AsyncClient, ada: accounts.User, bob: accounts.User
) -> None:
    post = await post_fixture(ada)
    await log_in_as(client, bob)
    token = await csrf(client, f"/blog/{post.slug}")

    refused = await client.post(f"/blog/{post.slug}/comments", data={"_csrf_token": token, "body": "   "})
    live = await client.post(
        f"/blog/{post.slug}/comments/validate", data={"body": ""}, headers={"x-csrf-token": token, "hx-request": "true"}
    )
    fine = await client.post(
        f"/blog/{post.slug}/comments/validate", data={"body": "ok"}, headers={"x-csrf-token": token}
    )

    assert refused.status_code == 422
    assert "can&#39;t be blank" in refused.text
    assert refused.headers["hx-push-url"] == "false"
    assert '<div id="comment_body-error" class="field-errors" hx-swap-oob="true">' in live.text
    assert "can&#39;t be blank" in live.text
    assert 'field-error"' not in fine.text
    assert "can&#39;t be blank" not in fine.text
    assert (await blog.list_comments(SYSTEM, post)).items == []


async def test_visitors_cannot_comment(client: httpx.AsyncClient, ada: accounts.User) -> None:
    post = await post_fixture(ada)
    token = await csrf(client, "/users/log-in")

    response = await client.post(f"/blog/{post.slug}/comments", data={"_csrf_token": token, "body": "Spam"})

    assert response.status_code == 303
    assert response.headers["location"] == "/users/log-in"
    assert (await blog.list_comments(SYSTEM, post)).items == []


async def test_only_a_comments_author_and_admins_see_and_use_delete(
    client: httpx.AsyncClient, ada: accounts.User, bob: accounts.User, admin: accounts.User
) -> None:
    post = await post_fixture(ada)
    bobs = await comment_fixture(bob, post, body="By Bob")
    delete_path = f"/blog/{post.slug}/comments/{bobs.id}/delete"

    await log_in(client, ada.email)  # the post's author, not the comment's
    page = await client.get(f"/blog/{post.slug}")
    assert f'action="{delete_path}"' not in page.text
    forbidden = await client.post(delete_path, data={"_csrf_token": csrf_token_in(page.text)})
    assert forbidden.status_code == 403
    assert len((await blog.list_comments(SYSTEM, post)).items) == 1

    await log_in_as(client, bob)
    page = await client.get(f"/blog/{post.slug}")
    assert f'action="{delete_path}"' in page.text
    assert 'data-confirm="Delete this comment? This cannot be undone."' in page.text

    await log_in_as(client, admin)
    page = await client.get(f"/blog/{post.slug}")
    assert f'action="{delete_path}"' in page.text
    token = csrf_token_in(page.text)
    htmx = await client.post(delete_path, headers={"x-csrf-token": token, "hx-request": "true"})
    assert htmx.status_code == 204
    assert (await blog.list_comments(SYSTEM, post)).items == []
    again = await client.post(delete_path, data={"_csrf_token": token})  # deleted already: deleted all the same
    assert again.status_code == 303
    assert "Comment deleted." in (await client.get(again.headers["location"])).text


async def test_every_reader_of_a_post_sees_comments_come_and_go(
    web_app: FastAPI, client: httpx.AsyncClient, ada: accounts.User, bob: accounts.User
) -> None:
    post = await post_fixture(ada)
    other_post = await post_fixture(ada)
    # A second reader, signed out. The streams are opened one after the other: the test's sandbox is
    # one connection, which serves one query at a time.
    async with (
        httpx.AsyncClient(base_url="http://localhost:4000") as visitor,
        live_stream(web_app, client, f"/blog/{post.slug}") as reader,
    ):
        await reader.next_event()
        async with live_stream(web_app, visitor, f"/blog/{post.slug}") as other_reader:
            await other_reader.next_event()

            comment = await comment_fixture(bob, post, body="Pushed <b>live</b>")
            for stream in (reader, other_reader):
                event = await stream.next_event()
                assert event.data.startswith('<hx-partial hx-target="#comments" hx-swap="beforeend">')
                assert f'<li id="comments-{comment.id}" class="comment">' in event.data
                assert "Pushed &lt;b&gt;live&lt;/b&gt;" in event.data
                assert "Bob Builder" in event.data
                assert '<hx-partial hx-target="#comment-count" hx-swap="innerHTML">1 comment</hx-partial>' in event.data
                assert "/delete" not in event.data  # neither reader may delete it

            await comment_fixture(bob, other_post)  # another post's: nothing here
            await reader.no_event()

            await blog.update_comment(Scope.for_user(bob), comment, {"body": "Edited"})
            updated = await reader.next_event()
            assert updated.data.startswith(f'<hx-partial hx-target="#comments-{comment.id}" hx-swap="outerHTML">')
            assert "Edited" in updated.data
            await other_reader.next_event()

            await blog.delete_comment(Scope.for_user(bob), comment)
            for stream in (reader, other_reader):
                gone = await stream.next_event()
                assert f'<hx-partial hx-target="#comments-{comment.id}" hx-swap="delete"></hx-partial>' in gone.data
                assert ">0 comments</hx-partial>" in gone.data


async def test_the_comment_author_sees_delete_on_a_pushed_comment(
    web_app: FastAPI, client: httpx.AsyncClient, ada: accounts.User, bob: accounts.User
) -> None:
    post = await post_fixture(ada)
    await log_in_as(client, bob)
    async with live_stream(web_app, client, f"/blog/{post.slug}") as stream:
        await stream.next_event()
        comment = await comment_fixture(bob, post)
        event = await stream.next_event()
        assert f'action="/blog/{post.slug}/comments/{comment.id}/delete"' in event.data
        assert 'name="_csrf_token"' in event.data


async def test_the_post_stream_follows_the_post_itself(
    web_app: FastAPI, client: httpx.AsyncClient, ada: accounts.User
) -> None:
    post = await post_fixture(ada, title="Before")
    async with live_stream(web_app, client, f"/blog/{post.slug}") as stream:
        await stream.next_event()
        await post_fixture(ada)  # another post: nothing here
        await stream.no_event()

        await blog.update_post(Scope.for_user(ada), post, {"title": "After"})
        edited = await stream.next_event()
        assert edited.data.startswith('<hx-partial hx-target="#live-region" hx-swap="innerHTML">')
        assert "After" in edited.data

        await blog.delete_post(Scope.for_user(ada), post)
        deleted = await stream.next_event()
        assert "This post has been deleted or is no longer published." in deleted.data


async def test_a_post_turned_back_into_a_draft_leaves_readers_but_not_its_author(
    web_app: FastAPI, client: httpx.AsyncClient, ada: accounts.User
) -> None:
    post = await post_fixture(ada, title="Published For Now")
    async with client_for(web_app) as author:
        await log_in(author, ada.email)
        # One after the other: the test's sandbox is one connection, which serves one query at a time.
        async with live_stream(web_app, client, f"/blog/{post.slug}") as visitor:
            await visitor.next_event()
            async with live_stream(web_app, author, f"/blog/{post.slug}") as own:
                await own.next_event()

                await blog.update_post(Scope.for_user(ada), post, {"published_at": None, "title": "Draft Again"})

                assert "This post has been deleted or is no longer published." in (await visitor.next_event()).data
                seen_by_author = (await own.next_event()).data
                assert "Draft Again" in seen_by_author
                assert '<span class="badge badge-neutral">Draft</span>' in seen_by_author


# --- Writing posts ---


async def test_visitors_are_sent_to_log_in_to_write(client: httpx.AsyncClient) -> None:
    for path in ["/blog/new", "/blog/drafts"]:
        response = await client.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"] == "/users/log-in"


async def test_the_new_post_form(client: httpx.AsyncClient, ada: accounts.User) -> None:
    await log_in_as(client, ada)

    response = await client.get("/blog/new")

    assert response.status_code == 200
    assert '<form id="post-form"' in response.text
    assert 'action="/blog"' in response.text
    assert 'hx-post="/blog/validate"' in response.text
    for field in ["title", "slug", "body", "publish"]:
        assert f'id="post_{field}"' in response.text
    assert "checked" not in response.text


async def test_writing_a_published_post_goes_to_it(client: httpx.AsyncClient, ada: accounts.User) -> None:
    await log_in_as(client, ada)
    token = await csrf(client, "/blog/new")
    slug = unique_slug()
    before = datetime.now(UTC)

    response = await client.post(
        "/blog",
        data={"_csrf_token": token, "title": "Hello", "slug": slug, "body": "Hi all", "publish": "true"},
    )

    assert response.status_code == 303
    assert response.headers["location"] == f"/blog/{slug}"
    post = await blog.get_post_by_slug(SYSTEM, slug)
    assert post is not None
    assert post.author_id == ada.id
    assert post.published_at is not None
    assert post.published_at >= before
    page = await client.get(f"/blog/{slug}")
    assert "Post published." in page.text
    assert "Hello" in (await client.get("/blog")).text


async def test_writing_without_publish_saves_a_draft(client: httpx.AsyncClient, ada: accounts.User) -> None:
    await log_in_as(client, ada)
    token = await csrf(client, "/blog/new")
    slug = unique_slug()

    response = await client.post(
        "/blog", data={"_csrf_token": token, "title": "Later", "slug": slug, "body": "Soon", "publish": "false"}
    )

    assert response.headers["location"] == f"/blog/{slug}"
    post = await blog.get_post_by_slug(SYSTEM, slug)
    assert post is not None
    assert post.published_at is None
    assert "Draft saved." in (await client.get(f"/blog/{slug}")).text
    assert "Later" not in (await client.get("/blog")).text
    assert "Later" in (await client.get("/blog/drafts")).text


async def test_a_post_with_errors_is_refused_and_nothing_is_written(
    client: httpx.AsyncClient, ada: accounts.User
) -> None:
    taken = await post_fixture(ada)
    await log_in_as(client, ada)
    token = await csrf(client, "/blog/new")

    invalid = await client.post(
        "/blog", data={"_csrf_token": token, "title": "", "slug": "Not A Slug", "body": "x", "publish": "true"}
    )
    duplicate = await client.post(
        "/blog", data={"_csrf_token": token, "title": "Copy", "slug": taken.slug, "body": "x", "publish": "true"}
    )
    reserved = await client.post(
        "/blog", data={"_csrf_token": token, "title": "New", "slug": "new", "body": "x", "publish": "true"}
    )
    live = await client.post(
        "/blog/validate", data={"title": "", "slug": "Bad Slug", "body": ""}, headers={"x-csrf-token": token}
    )

    assert invalid.status_code == 422
    assert "can&#39;t be blank" in invalid.text
    assert "must be lowercase letters, digits and single dashes" in invalid.text
    assert 'value="Not A Slug"' in invalid.text  # what was typed stays
    assert "checked" in invalid.text
    assert duplicate.status_code == 422
    assert "has already been taken" in duplicate.text
    assert reserved.status_code == 422
    assert "is reserved" in reserved.text
    assert '<div id="post_title-error" class="field-errors" hx-swap-oob="true">' in live.text
    assert "must be lowercase letters, digits and single dashes" in live.text
    assert await blog.get_post_by_slug(SYSTEM, "new") is None
    assert [post.id for post in (await blog.list_posts(SYSTEM)).items] == [taken.id]


async def test_validation_messages_follow_the_locale(client: httpx.AsyncClient, ada: accounts.User) -> None:
    await log_in_as(client, ada)
    token = await csrf(client, "/blog/new?locale=de")

    response = await client.post(
        "/blog/validate", data={"title": "", "slug": "Bad", "body": ""}, headers={"x-csrf-token": token}
    )

    assert "darf nicht leer sein" in response.text
    assert "must be lowercase" not in response.text


async def test_the_author_edits_unpublishes_and_publishes_a_post(client: httpx.AsyncClient, ada: accounts.User) -> None:
    post = await post_fixture(ada, title="Original", published_at=published(3))
    await log_in_as(client, ada)
    form = await client.get(f"/blog/{post.slug}/edit")
    assert form.status_code == 200
    assert 'value="Original"' in form.text
    assert f'action="/blog/{post.slug}"' in form.text
    assert " checked" in form.text
    token = csrf_token_in(form.text)
    fields = {"_csrf_token": token, "title": "Renamed", "slug": post.slug, "body": post.body}

    kept = await client.post(f"/blog/{post.slug}", data={**fields, "publish": "true"})
    assert kept.headers["location"] == f"/blog/{post.slug}"
    renamed = await blog.get_post(SYSTEM, post.id)
    assert renamed is not None
    assert (renamed.title, renamed.published_at) == ("Renamed", post.published_at)  # its date stays

    await client.post(f"/blog/{post.slug}", data={**fields, "publish": "false"})
    unpublished = await blog.get_post(SYSTEM, post.id)
    assert unpublished is not None
    assert unpublished.published_at is None

    await client.post(f"/blog/{post.slug}", data={**fields, "publish": "true"})
    republished = await blog.get_post(SYSTEM, post.id)
    assert republished is not None
    assert republished.published_at is not None
    assert republished.published_at > post.published_at  # type: ignore[operator]


async def test_others_may_not_edit_or_delete_a_post(
    client: httpx.AsyncClient, ada: accounts.User, bob: accounts.User
) -> None:
    post = await post_fixture(ada, title="Ada's")
    await log_in_as(client, bob)
    token = await csrf(client, f"/blog/{post.slug}")
    page = await client.get(f"/blog/{post.slug}")
    assert f'href="/blog/{post.slug}/edit"' not in page.text

    assert (await client.get(f"/blog/{post.slug}/edit")).status_code == 403
    update = await client.post(
        f"/blog/{post.slug}", data={"_csrf_token": token, "title": "Bob's now", "slug": post.slug, "body": "x"}
    )
    validate = await client.post(f"/blog/{post.slug}/validate", data={"title": "x"}, headers={"x-csrf-token": token})
    delete = await client.post(f"/blog/{post.slug}/delete", data={"_csrf_token": token})

    assert (update.status_code, validate.status_code, delete.status_code) == (403, 403, 403)
    unchanged = await blog.get_post(SYSTEM, post.id)
    assert unchanged is not None
    assert unchanged.title == "Ada's"


async def test_an_edit_with_errors_changes_nothing(client: httpx.AsyncClient, ada: accounts.User) -> None:
    post = await post_fixture(ada, title="Original")
    await log_in_as(client, ada)
    token = await csrf(client, f"/blog/{post.slug}/edit")

    response = await client.post(
        f"/blog/{post.slug}", data={"_csrf_token": token, "title": " ", "slug": post.slug, "body": "New body"}
    )

    assert response.status_code == 422
    assert "can&#39;t be blank" in response.text
    unchanged = await blog.get_post(SYSTEM, post.id)
    assert unchanged is not None
    assert (unchanged.title, unchanged.body) == ("Original", post.body)


async def test_admins_edit_and_the_author_deletes(
    client: httpx.AsyncClient, ada: accounts.User, admin: accounts.User
) -> None:
    post = await post_fixture(ada, title="Ada's")
    await log_in_as(client, admin)
    page = await client.get(f"/blog/{post.slug}")
    assert f'href="/blog/{post.slug}/edit"' in page.text
    assert (await client.get(f"/blog/{post.slug}/edit")).status_code == 200

    await log_in_as(client, ada)
    page = await client.get(f"/blog/{post.slug}")
    assert 'data-confirm="Delete this post and its comments? This cannot be undone."' in page.text
    response = await client.post(f"/blog/{post.slug}/delete", data={"_csrf_token": csrf_token_in(page.text)})

    assert response.status_code == 303
    assert response.headers["location"] == "/blog"
    assert "Post deleted." in (await client.get("/blog")).text
    assert await blog.get_post(SYSTEM, post.id) is None


# --- Drafts ---


async def test_the_drafts_page_lists_the_writers_own_drafts(
    client: httpx.AsyncClient, ada: accounts.User, bob: accounts.User, admin: accounts.User
) -> None:
    mine = await post_fixture(ada, title="Ada Draft", published_at=None)
    theirs = await post_fixture(bob, title="Bob Draft", published_at=None)
    await post_fixture(ada, title="Ada Published")

    await log_in_as(client, ada)
    own = await client.get("/blog/drafts")
    await log_in_as(client, admin)
    everyone = await client.get("/blog/drafts")

    assert own.status_code == 200
    assert "Ada Draft" in own.text
    assert f'href="/blog/{mine.slug}/edit"' in own.text
    assert "Bob Draft" not in own.text
    assert "Ada Published" not in own.text
    assert "Ada Draft" in everyone.text
    assert "Bob Draft" in everyone.text  # admins see every draft, each with its author
    assert "Bob Builder" in everyone.text
    assert f'href="/blog/{theirs.slug}/edit"' in everyone.text


async def test_the_drafts_page_follows_changes(web_app: FastAPI, client: httpx.AsyncClient, ada: accounts.User) -> None:
    await log_in_as(client, ada)
    async with live_stream(web_app, client, "/blog/drafts") as stream:
        first = await stream.next_event()
        assert "No drafts." in first.data
        draft = await post_fixture(ada, title="Fresh Draft", published_at=None)
        event = await stream.next_event()
        assert f'id="drafts-{draft.id}"' in event.data
        await blog.update_post(Scope.for_user(ada), draft, {"published_at": published(0)})
        assert f'id="drafts-{draft.id}"' not in (await stream.next_event()).data


async def test_a_bad_comment_id_is_404(client: httpx.AsyncClient, ada: accounts.User) -> None:
    post = await post_fixture(ada)
    await log_in_as(client, ada)
    token = await csrf(client, f"/blog/{post.slug}")

    response = await client.post(f"/blog/{post.slug}/comments/{uuid.uuid4()}/delete", data={"_csrf_token": token})

    assert response.status_code == 303  # nothing to delete: gone is gone
