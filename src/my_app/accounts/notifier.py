"""UserNotifier (phx.gen.auth's): the accounts context's emails, and the job that delivers them.

The context enqueues `deliver_email` in the caller's transaction:
`jobs.enqueue(session, deliver_email, type="welcome", user_id=str(user.id))`. The job (task
`email:deliver_email`, queue `emails`; the seed's email_worker.ex) builds the `type` email for the
user and delivers it. A user deleted since the job was enqueued cancels the job (never retried);
an unknown `type` discards it with a logged error; a delivery failure (mail server down) is
retried with backoff, 3 runs in all, while one the server refuses for good (a 5xx, a rejected
address) is discarded at once.

Emails with a link carry a token made when the job runs (`deliver_*_instructions`): only its hash
is stored, and the raw token never sits in the jobs table.

The tasks are grouped in `blueprint`, which the job queue registers under the `email` namespace.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from procrastinate import Blueprint

from my_app import emails, mailer, repo
from my_app.accounts import user_token
from my_app.accounts.user import User
from my_app.errors import ValidationError
from my_app.jobs import Backoff, JobCancelled, JobDiscarded
from my_app.mailer import Email
from my_app.running import Slot

UrlBuilder = Callable[[str], str]
# The absolute URL of the page an emailed link of `kind` opens, with its token (None for "home").
# Kinds: "confirmation", "reset_password", "update_email", "magic_link", "home". The web layer owns
# those pages and their paths (`my_app_web.links.email_link`); the application hands it over here.
EmailLinks = Callable[[str, str | None], str]

blueprint = Blueprint()
MAX_ATTEMPTS = 3

# How the running app builds emailed links: the Application puts the web layer's here as it starts
# (`my_app.running`); None without them.
links: Slot[EmailLinks | None] = Slot("notifier links", None)


# --- Emails with a link: each makes a new token (only its hash is stored) ---


async def deliver_user_confirmation_instructions(user: User, url: UrlBuilder) -> Email:
    """Build the confirmation email with a new token, valid 7 days.

    Examples:
        email = await deliver_user_confirmation_instructions(user, lambda t: f"{base}/users/confirm/{t}")
        email.subject                                                   # "Confirm your MyApp account"
        await deliver_user_confirmation_instructions(confirmed_user, url)  # ValidationError({"email": [...]})
    """
    if user.confirmed_at is not None:
        raise ValidationError({"email": ["is already confirmed"]})
    token = await user_token.insert_token(user.id, user_token.CONFIRM, sent_to=user.email)
    return emails.confirmation_email(user, url(token))


async def deliver_user_reset_password_instructions(user: User, url: UrlBuilder) -> Email:
    """Build the reset email with a new token, valid one day.

    Examples:
        email = await deliver_user_reset_password_instructions(user, url)
        email.to  # (user.email,)
    """
    token = await user_token.insert_token(user.id, user_token.RESET_PASSWORD, sent_to=user.email)
    return emails.password_reset_email(user, url(token))


async def deliver_user_update_email_instructions(
    user: User, current_email: str, new_email: str, url: UrlBuilder
) -> Email:
    """Build the email, sent to the new address, whose link confirms the change (valid 7 days).

    Examples:
        email = await deliver_user_update_email_instructions(user, user.email, "new@example.com", url)
        email.to  # ("new@example.com",)
    """
    token = await user_token.insert_token(user.id, user_token.CHANGE_EMAIL_PREFIX + current_email, sent_to=new_email)
    return emails.update_email_email(user, new_email, url(token))


async def deliver_login_instructions(user: User, url: UrlBuilder) -> Email:
    """Build the magic-link email with a new token, valid 15 minutes.

    Examples:
        email = await deliver_login_instructions(user, url)
        email.subject  # "Your MyApp log-in link"
    """
    token = await user_token.insert_token(user.id, user_token.LOGIN, sent_to=user.email)
    return emails.magic_link_email(user, url(token))


# --- The job ---


@dataclass(frozen=True)
class EmailParams:
    """What some email types need beyond the user: the seed's ready-made reset `url`, or the `new_email`."""

    url: str | None = None
    new_email: str | None = None


@blueprint.task(name="deliver_email", queue="emails", retry=Backoff(max_attempts=MAX_ATTEMPTS))
async def deliver_email(
    *,
    type: str,  # noqa: A002 - the seed's arg name, and the key of jobs already queued
    user_id: str,
    url: str | None = None,
    new_email: str | None = None,
) -> str:
    """Build the `type` email for the user and deliver it; returns the message id."""
    build = _BUILDERS.get(type)
    if build is None:
        raise JobDiscarded(f"unknown email type {type!r}")
    user = await _get_user(user_id)
    email = await build(user, EmailParams(url=url, new_email=new_email))
    try:
        result = await mailer.deliver(email)
    except mailer.DeliveryError as exc:
        if exc.permanent:
            raise JobDiscarded(str(exc)) from exc
        raise
    return result.message_id


def link(kind: str) -> UrlBuilder:
    """The URL builder for `kind`'s emailed link (the `deliver_*_instructions` pass it the raw token).

    Examples:
        link("magic_link")("abc")  # "http://localhost:4000/users/log-in/abc"
    """
    build = _configured_links()
    return lambda token: build(kind, token)


def _configured_links() -> EmailLinks:
    configured = links.value
    if configured is None:
        # Retried: a worker started without the web layer's links is a deployment mistake to fix.
        raise RuntimeError("emailed links are not configured: start the app with links (my_app_web.links)")
    return configured


async def _get_user(user_id: str) -> User:
    try:
        key = uuid.UUID(user_id)
    except ValueError as exc:
        raise JobDiscarded(f"user_id {user_id!r} is not a UUID") from exc
    async with repo.read() as session:
        user = await session.get(User, key)
    if user is None:
        raise JobCancelled(f"user {user_id} no longer exists")
    return user


async def _welcome(user: User, params: EmailParams) -> Email:
    return emails.welcome_email(user, url=_configured_links()("home", None))


async def _password_reset(user: User, params: EmailParams) -> Email:
    # The seed's job, given a ready link; `reset_password` below makes its own token.
    if params.url is None:
        raise JobDiscarded("a password_reset email needs the reset `url`")
    return emails.password_reset_email(user, params.url)


async def _reminder(user: User, params: EmailParams) -> Email:
    return emails.reminder_email(user, url=_configured_links()("home", None))


async def _confirmation(user: User, params: EmailParams) -> Email:
    try:
        return await deliver_user_confirmation_instructions(user, link("confirmation"))
    except ValidationError as exc:  # confirmed meanwhile: nothing to send
        raise JobCancelled(str(exc)) from exc


async def _reset_password(user: User, params: EmailParams) -> Email:
    return await deliver_user_reset_password_instructions(user, link("reset_password"))


async def _update_email(user: User, params: EmailParams) -> Email:
    if params.new_email is None:
        raise JobDiscarded("an update_email email needs `new_email`")
    return await deliver_user_update_email_instructions(user, user.email, params.new_email, link("update_email"))


async def _magic_link(user: User, params: EmailParams) -> Email:
    return await deliver_login_instructions(user, link("magic_link"))


_BUILDERS: dict[str, Callable[[User, EmailParams], Awaitable[Email]]] = {
    "welcome": _welcome,
    "password_reset": _password_reset,
    "reminder": _reminder,
    "confirmation": _confirmation,
    "reset_password": _reset_password,
    "update_email": _update_email,
    "magic_link": _magic_link,
}
