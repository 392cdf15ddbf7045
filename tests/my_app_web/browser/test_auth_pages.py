"""phx.gen.auth's pages in Chromium: sign up and confirm from the emailed link, magic links, password
reset from the emailed link, log-in without JavaScript, settings, and the German log-in page."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from playwright.async_api import BrowserContext, Page, expect

from tests.support.browser import BrowserUser, Mailbox, log_in, screenshot

NEW_PASSWORD = "a brand new passphrase"


def _new_email() -> str:
    return f"browser{uuid.uuid4().hex[:10]}@example.com"


async def _flash(page: Page, text: str) -> None:
    await expect(page.locator("#flash-group")).to_contain_text(text)


async def test_sign_up_confirm_from_the_emailed_link_then_log_in(page: Page, mailbox: Mailbox) -> None:
    email = _new_email()
    await page.goto("/users/register")
    await expect(page.get_by_role("heading", name="Register for an account")).to_be_visible()
    await screenshot(page, "auth-register")

    # Live validation: the error shows as you type, before any submit.
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Name").fill("Ada Browser")
    await page.get_by_label("Password").fill("short")
    await expect(page.locator("#user_password-error")).to_contain_text("should be at least 12 character(s)")
    await expect(page.get_by_label("Password")).to_have_attribute("aria-invalid", "true")
    await screenshot(page, "auth-register-errors")
    await page.get_by_label("Password").fill("browser password 1234")
    await expect(page.locator("#user_password-error")).to_be_empty()

    await page.get_by_role("button", name="Create an account").click()

    await page.wait_for_url("**/users/log-in")
    await _flash(page, f"An email was sent to {email}, please access it to confirm your account.")
    link = await mailbox.last_link(to=email, containing="/users/confirm/")
    await page.goto(link)
    await expect(page.get_by_role("heading", name="Confirm account")).to_be_visible()
    await screenshot(page, "auth-confirm")
    await page.get_by_role("button", name="Confirm my account").click()
    await _flash(page, "User confirmed successfully.")

    await log_in(page, email, "browser password 1234")
    await expect(page.locator(".nav-user")).to_contain_text(email)
    await _flash(page, "Welcome back!")


async def test_magic_link_log_in(page: Page, mailbox: Mailbox, committed_user: BrowserUser) -> None:
    await page.goto("/users/log-in")
    await screenshot(page, "auth-log-in")
    magic_form = page.locator("#login_form_magic")
    await magic_form.get_by_label("Email").fill(committed_user.email)
    await magic_form.get_by_role("button", name="Email me a log-in link").click()
    await _flash(page, "If your email is in our system, you will receive instructions for logging in shortly.")

    link = await mailbox.last_link(to=committed_user.email, containing="/users/log-in/")
    await page.goto(link)
    await expect(page.get_by_role("heading", name=f"Welcome {committed_user.email}")).to_be_visible()
    await screenshot(page, "auth-magic-link")
    await page.get_by_role("button", name="Keep me logged in on this device").click()

    await _flash(page, "Welcome back!")
    await expect(page.locator(".nav-user")).to_contain_text(committed_user.email)
    cookies = {cookie["name"] for cookie in await page.context.cookies()}
    assert "_my_app_web_user_remember_me" in cookies


async def test_reset_the_password_from_the_emailed_link(
    page: Page, mailbox: Mailbox, committed_user: BrowserUser
) -> None:
    await page.goto("/users/log-in")
    await page.get_by_role("link", name="Forgot your password?").click()
    await expect(page.get_by_role("heading", name="Forgot your password?")).to_be_visible()
    await screenshot(page, "auth-reset-password-request")
    await page.get_by_label("Email").fill(committed_user.email)
    await page.get_by_role("button", name="Send password reset instructions").click()
    await _flash(page, "If your email is in our system, you will receive instructions to reset your password shortly.")

    link = await mailbox.last_link(to=committed_user.email, containing="/users/reset-password/")
    await page.goto(link)
    await page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    await page.get_by_label("Confirm new password").fill("something else entirely")
    await expect(page.locator("#user_password_confirmation-error")).to_contain_text("does not match password")
    await screenshot(page, "auth-reset-password")
    await page.get_by_label("Confirm new password").fill(NEW_PASSWORD)
    await expect(page.locator("#user_password_confirmation-error")).to_be_empty()
    await page.get_by_role("button", name="Reset password").click()

    await page.wait_for_url("**/users/log-in")
    await _flash(page, "Password reset successfully.")
    await log_in(page, committed_user.email, NEW_PASSWORD)
    await expect(page.locator(".nav-user")).to_contain_text(committed_user.email)


async def test_log_in_and_out_work_without_javascript(
    new_context: Callable[..., Awaitable[BrowserContext]], committed_user: BrowserUser
) -> None:
    context = await new_context(java_script_enabled=False)
    page = await context.new_page()

    await page.goto("/users/log-in")
    form = page.locator("#login_form_password")
    await form.get_by_label("Email").fill(committed_user.email)
    await form.get_by_label("Password").fill("not the password")
    await form.get_by_role("button", name="Log in").click()
    await _flash(page, "Invalid email or password")
    await expect(page.locator("#login_email")).to_have_value(committed_user.email)

    await log_in(page, committed_user.email, committed_user.password, remember_me=True)
    await expect(page.locator(".nav-user")).to_contain_text(committed_user.email)
    await _flash(page, "Welcome back!")

    await page.get_by_role("button", name="Log out").click()
    await _flash(page, "Logged out successfully.")
    await expect(page.locator(".nav-user")).to_have_count(0)


async def test_settings_change_the_password_and_stay_logged_in(page: Page, committed_user: BrowserUser) -> None:
    await log_in(page, committed_user.email, committed_user.password)
    await page.goto("/users/settings")
    await expect(page.get_by_role("heading", name="Account Settings")).to_be_visible()
    await screenshot(page, "auth-settings")

    form = page.locator("#update_password")
    await form.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    await form.get_by_label("Confirm new password").fill(NEW_PASSWORD)
    await form.get_by_role("button", name="Save Password").click()

    await _flash(page, "Password updated successfully.")
    assert page.url.endswith("/users/settings")
    await expect(page.locator(".nav-user")).to_contain_text(committed_user.email)


async def test_the_log_in_page_in_german(page: Page) -> None:
    await page.goto("/users/log-in?locale=de")

    # "Log in" is in the German catalog today (the page's newer strings come with the next extract).
    await expect(page.get_by_role("heading", name="Anmelden")).to_be_visible()
    await expect(page.locator("#login_form_password").get_by_role("button", name="Anmelden")).to_be_visible()
    await screenshot(page, "auth-log-in-de")
