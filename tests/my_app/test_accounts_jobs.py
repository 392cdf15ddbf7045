"""Registration and its email jobs: the user and the jobs are written together, or not at all.

Real commits (`committed_db`): a job is only visible to workers once its transaction commits.
"""

from __future__ import annotations

from typing import Any

import pytest

from my_app import accounts, jobs
from my_app.errors import ValidationError
from tests.support.fixtures.accounts import SYSTEM
from tests.support.jobs import (
    committed_db_fixture,  # noqa: F401 - fixture
    jobs_of,
)

DELIVER = "email:deliver_email"
ADA = {"email": "ada@example.com", "name": "Ada Lovelace", "password": "a long passphrase"}


class BoomError(Exception):
    """Whatever fails after the job was enqueued, before the transaction commits."""


@pytest.mark.usefixtures("committed_db")
async def test_register_user_enqueues_exactly_one_welcome_email() -> None:
    user = await accounts.register_user(ADA)

    [job] = [job for job in await jobs_of(DELIVER) if job.args["type"] == "welcome"]
    assert job.args == {"type": "welcome", "user_id": str(user.id)}
    assert (job.queue_name, job.status) == ("emails", "todo")
    assert await accounts.get_user(SYSTEM, user.id) is not None


@pytest.mark.usefixtures("committed_db")
async def test_create_user_enqueues_no_welcome_email() -> None:
    await accounts.create_user({"email": "ada@example.com", "name": "Ada Lovelace"})

    assert await jobs_of(DELIVER) == []


@pytest.mark.usefixtures("committed_db")
async def test_a_registration_that_fails_after_enqueueing_leaves_no_user_and_no_job(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    enqueue = jobs.enqueue
    enqueued: list[int | None] = []

    async def enqueue_then_fail(*args: Any, **kwargs: Any) -> int | None:
        enqueued.append(await enqueue(*args, **kwargs))
        raise BoomError("the transaction fails after the job was inserted")

    monkeypatch.setattr(jobs, "enqueue", enqueue_then_fail)

    with pytest.raises(BoomError):
        await accounts.register_user(ADA)

    assert len(enqueued) == 1
    assert enqueued[0] is not None, "the welcome job was inserted before the failure"
    assert await jobs_of(DELIVER) == []
    assert await accounts.get_user_by_email("ada@example.com") is None


@pytest.mark.usefixtures("committed_db")
async def test_a_refused_registration_enqueues_nothing() -> None:
    first = await accounts.register_user(ADA)

    with pytest.raises(ValidationError):
        await accounts.register_user({**ADA, "email": "ADA@example.com"})

    enqueued = await jobs_of(DELIVER)
    assert {job.args["user_id"] for job in enqueued} == {str(first.id)}
    assert sorted(job.args["type"] for job in enqueued) == ["confirmation", "welcome"]


@pytest.mark.usefixtures("committed_db")
async def test_a_second_password_reset_request_within_a_minute_enqueues_nothing() -> None:
    user = await accounts.create_user({"email": "ada@example.com", "name": "Ada Lovelace"})

    await accounts.request_password_reset("ada@example.com")
    await accounts.request_password_reset("ada@example.com")

    [job] = [job for job in await jobs_of(DELIVER) if job.args["type"] == "reset_password"]
    assert job.args == {"type": "reset_password", "user_id": str(user.id)}
