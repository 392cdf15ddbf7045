"""The notifier's email job, run by a real procrastinate worker on committed jobs: delivery, retries, cancel."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from my_app import accounts, jobs, mailer, repo
from my_app.accounts import User, notifier
from my_app.config import Settings
from tests.support.fixtures.accounts import SYSTEM
from tests.support.jobs import (
    committed_db_fixture,  # noqa: F401 - fixture
    job_errors,
    job_row,
    job_settings_fixture,  # noqa: F401 - fixture
    jobs_of,
    restore_mailer_fixture,  # noqa: F401 - fixture
    retry_at_once_fixture,  # noqa: F401 - fixture
    run_until,
    run_worker,
)
from tests.support.smtp import (
    FreePortController,
    Inbox,
    closed_port_fixture,  # noqa: F401 - fixture
)

pytestmark = pytest.mark.usefixtures("committed_db", "restore_mailer")
ADA = {"email": "ada@example.com", "name": "Ada Lovelace", "password": "a long passphrase"}


async def create_user(email: str = "ada@example.com") -> User:
    return await accounts.create_user({"email": email, "name": "Ada Lovelace"})


async def email_job(type: str, user: User) -> int:  # noqa: A002 - the worker's arg name
    """The id of the one `type` email job enqueued for `user`."""
    [job_id] = [
        job.id
        for job in await jobs_of("email:deliver_email")
        if job.args["type"] == type and job.args["user_id"] == str(user.id)
    ]
    return job_id


async def enqueue_email(type: str, user_id: str, **params: Any) -> int:  # noqa: A002 - the worker's arg name
    async with repo.transaction() as session:
        job_id = await jobs.enqueue(session, notifier.deliver_email, type=type, user_id=user_id, **params)
    assert job_id is not None
    return job_id


@pytest.fixture
def smtp_down(settings: Settings, closed_port: int) -> Iterator[Settings]:
    """The mailer sends through an SMTP server that refuses connections, for the test."""
    down = settings.model_copy(
        update={
            "mailer_adapter": "smtp",
            "smtp_host": "127.0.0.1",
            "smtp_port": closed_port,
            "smtp_security": "none",
            "smtp_timeout": 2.0,
        }
    )
    with mailer.running.holding(down):
        yield down


async def test_registering_delivers_the_welcome_email_to_the_user() -> None:
    user = await accounts.register_user(ADA)

    row = await run_until(await email_job("welcome", user), "emails")

    assert (row.status, row.attempts) == ("succeeded", 1)
    [email] = [email for email in mailer.test_adapter.sent() if email.subject == "Welcome to MyApp"]
    assert email.to == ("ada@example.com",)
    assert "Ada Lovelace" in email.text_body
    assert email.html_body is not None
    assert email.from_ == "MyApp <noreply@localhost>"


@pytest.mark.usefixtures("smtp_down", "retry_at_once")
async def test_a_mail_server_that_is_down_is_retried_then_the_job_fails_after_three_runs() -> None:
    user = await create_user()
    job_id = await enqueue_email("welcome", str(user.id))

    row = await run_until(job_id, "emails", states=frozenset({"failed", "succeeded", "aborted"}))

    assert (row.status, row.attempts) == ("failed", 3)
    errors = await job_errors(job_id)
    assert [attempt for attempt, _ in errors] == [1, 2, 3]
    for _, error in errors:
        assert error.startswith("DeliveryError: smtp delivery failed:"), error
    # Failed jobs are kept for inspection; one more pass runs nothing.
    await run_worker("emails")
    assert (await job_row(job_id)).status == "failed"
    assert mailer.test_adapter.sent() == []


@pytest.mark.usefixtures("smtp_down")
async def test_a_failed_delivery_is_retried_after_the_backoff(job_settings: Callable[..., Settings]) -> None:
    job_settings(job_backoff_base=100, job_backoff_max=10_000)
    user = await create_user()
    job_id = await enqueue_email("welcome", str(user.id))

    await run_worker("emails")

    row = await job_row(job_id)
    assert (row.status, row.attempts) == ("todo", 1)
    assert row.scheduled_at is not None
    wait = row.scheduled_at - datetime.now(UTC)
    assert timedelta(seconds=90) < wait <= timedelta(seconds=111)
    assert [attempt for attempt, _ in await job_errors(job_id)] == [1]


@pytest.mark.usefixtures("retry_at_once")
async def test_the_job_of_a_deleted_user_is_cancelled_not_retried() -> None:
    user = await accounts.register_user(ADA)
    welcome = await email_job("welcome", user)
    await accounts.delete_user(SYSTEM, user)

    await run_until(welcome, "emails")
    await run_worker("emails")  # a retry would be due at once: nothing must run

    row = await job_row(welcome)
    assert (row.status, row.attempts) == ("aborted", 1)
    assert await job_errors(welcome) == [(1, f"cancelled: user {user.id} no longer exists")]
    assert mailer.test_adapter.sent() == []


@pytest.mark.usefixtures("retry_at_once")
async def test_an_unknown_email_type_is_discarded_after_one_run() -> None:
    user = await create_user()
    job_id = await enqueue_email("birthday", str(user.id))

    await run_until(job_id, "emails")
    await run_worker("emails")  # a retry would be due at once: nothing must run

    row = await job_row(job_id)
    assert (row.status, row.attempts) == ("failed", 1)
    assert await job_errors(job_id) == [(1, "discarded: unknown email type 'birthday'")]
    assert mailer.test_adapter.sent() == []


@pytest.mark.usefixtures("retry_at_once")
async def test_a_user_id_that_is_not_a_uuid_is_discarded() -> None:
    job_id = await enqueue_email("welcome", "not-a-uuid")

    row = await run_until(job_id, "emails")

    assert (row.status, row.attempts) == ("failed", 1)
    [(_, error)] = await job_errors(job_id)
    assert error.startswith("discarded: user_id 'not-a-uuid' is not a UUID")


@pytest.mark.usefixtures("retry_at_once")
async def test_a_job_for_an_unknown_user_id_is_cancelled() -> None:
    missing = str(uuid.uuid4())
    job_id = await enqueue_email("reminder", missing)

    row = await run_until(job_id, "emails")

    assert (row.status, row.attempts) == ("aborted", 1)
    assert await job_errors(job_id) == [(1, f"cancelled: user {missing} no longer exists")]


@pytest.mark.usefixtures("retry_at_once")
async def test_an_address_the_server_refuses_for_good_is_discarded_after_one_run(settings: Settings) -> None:
    inbox = Inbox()
    controller = FreePortController(inbox, hostname="127.0.0.1", port=0)
    controller.start()
    try:
        smtp = settings.model_copy(
            update={
                "mailer_adapter": "smtp",
                "smtp_host": "127.0.0.1",
                "smtp_port": controller.port,
                "smtp_security": "none",
                "smtp_timeout": 2.0,
            }
        )
        with mailer.running.holding(smtp):
            # The test server answers 550 (no such user) for this address: retrying cannot help.
            user = await create_user("refuse@example.com")
            job_id = await enqueue_email("welcome", str(user.id))

            row = await run_until(job_id, "emails", states=frozenset({"failed", "succeeded", "aborted"}))
    finally:
        controller.stop()

    assert (row.status, row.attempts) == ("failed", 1)
    [(attempt, error)] = await job_errors(job_id)
    assert attempt == 1
    assert error.startswith("discarded: smtp delivery failed:"), error
    assert inbox.received == []
