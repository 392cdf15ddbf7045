"""EmailWorker: builds one email from the job's `type` and delivers it (the seed's email_worker.ex).

Enqueue with `jobs.enqueue(session, deliver_email, type="welcome", user_id=...)`. A user deleted
since the job was enqueued cancels the job (never retried); an unknown `type` discards it with a
logged error; a delivery failure (mail server down) is retried with backoff, 3 runs in all, while
one the server refuses for good (a 5xx, a rejected address) is discarded at once.

Emails with a link carry a token made when the job runs: only its hash is stored, and the raw
token never sits in the jobs table.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from procrastinate import Blueprint

from my_app import emails, jobs, mailer
from my_app.jobs import Backoff, JobCancelled, JobDiscarded

blueprint = Blueprint()
MAX_ATTEMPTS = 3

# Where each emailed link lands: pages of the web layer, under BASE_URL (APP_HOST).
LINK_PATHS = {
    "confirmation": "/users/confirm/{token}",
    "reset_password": "/users/reset-password/{token}",
    "update_email": "/users/settings/confirm-email/{token}",
    "magic_link": "/users/log-in/{token}",
}


@blueprint.task(name="deliver_email", queue="emails", retry=Backoff(max_attempts=MAX_ATTEMPTS))
async def deliver_email(*, type: str, user_id: str, **params: Any) -> str:  # noqa: A002 - the seed's arg name
    """Build the `type` email for the user and deliver it; returns the message id."""
    build = _BUILDERS.get(type)
    if build is None:
        raise JobDiscarded(f"unknown email type {type!r}")
    user = await _get_user(user_id)
    email = await build(user, params)
    try:
        result = await mailer.deliver(email)
    except mailer.DeliveryError as exc:
        if exc.permanent:
            raise JobDiscarded(str(exc)) from exc
        raise
    return result.message_id


async def _get_user(user_id: str) -> Any:
    from my_app import accounts  # the accounts context enqueues this task: import it late

    try:
        key = uuid.UUID(user_id)
    except ValueError as exc:
        raise JobDiscarded(f"user_id {user_id!r} is not a UUID") from exc
    user = await accounts.get_user(key)
    if user is None:
        raise JobCancelled(f"user {user_id} no longer exists")
    return user


def link(kind: str) -> Callable[[str], str]:
    """The URL builder for `kind`'s emailed link (the context passes it the raw token)."""
    base_url = jobs.settings().base_url
    return lambda token: base_url + LINK_PATHS[kind].format(token=token)


async def _welcome(user: Any, params: dict[str, Any]) -> mailer.Email:
    return emails.welcome_email(user, url=jobs.settings().base_url + "/")


async def _password_reset(user: Any, params: dict[str, Any]) -> mailer.Email:
    # The seed's job, given a ready link; `reset_password` below makes its own token.
    url = params.get("url")
    if not isinstance(url, str):
        raise JobDiscarded("a password_reset email needs the reset `url`")
    return emails.password_reset_email(user, url)


async def _reminder(user: Any, params: dict[str, Any]) -> mailer.Email:
    return emails.reminder_email(user, url=jobs.settings().base_url + "/")


async def _confirmation(user: Any, params: dict[str, Any]) -> mailer.Email:
    from my_app import accounts
    from my_app.errors import ValidationError

    try:
        return await accounts.deliver_user_confirmation_instructions(user, link("confirmation"))
    except ValidationError as exc:  # confirmed meanwhile: nothing to send
        raise JobCancelled(str(exc)) from exc


async def _reset_password(user: Any, params: dict[str, Any]) -> mailer.Email:
    from my_app import accounts

    return await accounts.deliver_user_reset_password_instructions(user, link("reset_password"))


async def _update_email(user: Any, params: dict[str, Any]) -> mailer.Email:
    from my_app import accounts

    new_email = params.get("new_email")
    if not isinstance(new_email, str):
        raise JobDiscarded("an update_email email needs `new_email`")
    return await accounts.deliver_user_update_email_instructions(user, user.email, new_email, link("update_email"))


async def _magic_link(user: Any, params: dict[str, Any]) -> mailer.Email:
    from my_app import accounts

    return await accounts.deliver_login_instructions(user, link("magic_link"))


_BUILDERS: dict[str, Callable[[Any, dict[str, Any]], Awaitable[mailer.Email]]] = {
    "welcome": _welcome,
    "password_reset": _password_reset,
    "reminder": _reminder,
    "confirmation": _confirmation,
    "reset_password": _reset_password,
    "update_email": _update_email,
    "magic_link": _magic_link,
}
