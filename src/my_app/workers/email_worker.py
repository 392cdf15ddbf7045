"""EmailWorker: builds one email from the job's `type` and delivers it (the seed's email_worker.ex).

Enqueue with `jobs.enqueue(session, deliver_email, type="welcome", user_id=...)`. A user deleted
since the job was enqueued cancels the job (never retried); an unknown `type` discards it with a
logged error; a delivery failure (mail server down) is retried with backoff, 3 runs in all.
"""

from __future__ import annotations

import uuid
from typing import Any

from procrastinate import Blueprint

from my_app import emails, mailer
from my_app.jobs import Backoff, JobCancelled, JobDiscarded

blueprint = Blueprint()
MAX_ATTEMPTS = 3


@blueprint.task(name="deliver_email", queue="emails", retry=Backoff(max_attempts=MAX_ATTEMPTS))
async def deliver_email(*, type: str, user_id: str, **params: Any) -> str:  # noqa: A002 - the seed's arg name
    """Build the `type` email for the user and deliver it; returns the message id."""
    build = _BUILDERS.get(type)
    if build is None:
        raise JobDiscarded(f"unknown email type {type!r}")
    user = await _get_user(user_id)
    email = build(user, params)
    result = await mailer.deliver(email)
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


def _welcome(user: Any, params: dict[str, Any]) -> mailer.Email:
    return emails.welcome_email(user)


def _password_reset(user: Any, params: dict[str, Any]) -> mailer.Email:
    url = params.get("url")
    if not isinstance(url, str):
        raise JobDiscarded("a password_reset email needs the reset `url`")
    return emails.password_reset_email(user, url)


def _reminder(user: Any, params: dict[str, Any]) -> mailer.Email:
    return emails.reminder_email(user)


_BUILDERS = {"welcome": _welcome, "password_reset": _password_reset, "reminder": _reminder}
