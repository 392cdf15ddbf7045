"""The chat page in Chromium: the official phoenix client on our channels, two people talking."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from playwright.async_api import BrowserContext, Page, expect

from my_app import chat
from tests.support.browser import BrowserUser, Pages, log_in, screenshot

STALE_TOKEN = """
new MutationObserver((records, observer) => {
  const meta = document.querySelector('meta[name="socket-token"]');
  if (meta) { meta.content = "expired"; observer.disconnect(); }
}).observe(document, {childList: true, subtree: true});
"""
NewContext = Callable[..., Awaitable[BrowserContext]]
MakeUser = Callable[..., Awaitable[BrowserUser]]


async def open_chat(new_context: NewContext, person: BrowserUser, path: str = "/chat") -> Page:
    page = await (await new_context()).new_page()
    await log_in(page, person.email, person.password)
    await page.goto(path)
    await expect(page.locator("[data-chat-status]")).to_have_text("Connected")
    return page


async def test_two_people_see_each_others_messages_and_presence(
    new_context: NewContext, make_user: MakeUser, pages: Pages
) -> None:
    alice = await make_user(name="Alice Liddell")
    bob = await make_user(name="Bob Builder")
    alice_page = await open_chat(new_context, alice)
    bob_page = await open_chat(new_context, bob)

    # Each sees both, themself first.
    for page in (alice_page, bob_page):
        await expect(page.locator("[data-chat-presence] li[data-user-id]")).to_have_count(2)
    await expect(alice_page.locator("[data-chat-presence] li[data-user-id]")).to_have_text(
        ["Alice Liddell (you)", "Bob Builder"]
    )
    await expect(bob_page.locator("[data-chat-presence] li[data-user-id]")).to_have_text(
        ["Bob Builder (you)", "Alice Liddell"]
    )

    # Enter sends; what was typed is shown as text, never as HTML.
    composer = alice_page.get_by_role("textbox", name="Message")
    await composer.fill("Hello <b>Bob</b> <img src=x>")
    await composer.press("Enter")
    await expect(composer).to_have_value("")
    for page in (alice_page, bob_page):
        message = page.locator(".chat-message").last
        await expect(message.locator(".chat-message-author")).to_have_text("Alice Liddell")
        await expect(message.locator(".chat-message-body")).to_have_text("Hello <b>Bob</b> <img src=x>")
        await expect(message.locator("time")).to_have_text(re.compile(r"\d"))
        assert await message.locator("b, img").count() == 0
    await expect(alice_page.locator(".chat-message").last).to_have_class(re.compile(r"\bis-mine\b"))
    await expect(bob_page.locator(".chat-message").last).not_to_have_class(re.compile(r"\bis-mine\b"))

    # Shift+Enter makes a new line; Enter sends both lines as one message.
    reply = bob_page.get_by_role("textbox", name="Message")
    await reply.fill("Hi Alice")
    await reply.press("Shift+Enter")
    await reply.press_sequentially("how are you?")
    await reply.press("Enter")
    for page in (alice_page, bob_page):
        await expect(page.locator(".chat-message")).to_have_count(2)
        await expect(page.locator(".chat-message-body").last).to_have_text("Hi Alice\nhow are you?")
    # The newest message is at the bottom, in view.
    await expect(alice_page.locator(".chat-message").last).to_be_in_viewport()

    await screenshot(alice_page, "chat")

    # Bob closes the page: he leaves Alice's list.
    await bob_page.close()
    await expect(alice_page.locator("[data-chat-presence] li[data-user-id]")).to_have_text(["Alice Liddell (you)"])
    await expect(alice_page.locator("[data-chat-presence]")).to_contain_text("Nobody else is here yet.")
    assert pages.csp_violations() == []  # the same-origin WebSocket is allowed by default-src 'self'


async def test_private_rooms_of_the_user_are_listed_and_joined(new_context: NewContext, make_user: MakeUser) -> None:
    alice = await make_user(name="Alice Liddell")
    general = await chat.create_room({"slug": "general", "name": "General talk"})
    await chat.create_room({"slug": "secret", "name": "Secret plans"})
    await chat.add_member(general, alice.user)
    page = await open_chat(new_context, alice)

    rooms = page.get_by_role("navigation", name="Rooms")
    await expect(rooms.get_by_role("link")).to_have_text(["Lobby", "General talk"])
    await rooms.get_by_role("link", name="General talk").click()

    await expect(page).to_have_url(re.compile(r"/chat/rooms/general$"))
    await expect(page.get_by_role("heading", level=1)).to_have_text("General talk")
    await expect(page.locator("[data-chat-status]")).to_have_text("Connected")
    await expect(page.locator("[data-chat-presence] li[data-user-id]")).to_have_text(["Alice Liddell (you)"])
    composer = page.get_by_role("textbox", name="Message")
    await composer.fill("Only members read this")
    await composer.press("Enter")
    await expect(page.locator(".chat-message-body")).to_have_text(["Only members read this"])


async def test_a_refused_socket_token_is_replaced_by_a_fresh_one(new_context: NewContext, make_user: MakeUser) -> None:
    """As when the page's token expired while it was open: the client fetches /chat/token and reconnects."""
    alice = await make_user(name="Alice Liddell")
    page = await (await new_context()).new_page()
    await log_in(page, alice.email, alice.password)

    # The page's token is swapped for a worthless one as the parser inserts it, before chat.js runs.
    # (Rewriting the HTML with page.route would do too, but Chromium then treats the page as a public
    # one and blocks its WebSocket to the loopback address: Local Network Access.)
    await page.add_init_script(STALE_TOKEN)
    async with page.expect_response(re.compile(r"/chat/token$")) as fresh:
        await page.goto("/chat")
    assert (await fresh.value).status == 200

    await expect(page.locator("[data-chat-status]")).to_have_text("Connected")
    await expect(page.locator("[data-chat-presence] li[data-user-id]")).to_have_text(["Alice Liddell (you)"])
