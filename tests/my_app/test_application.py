"""The application: the process-wide tuning (the garbage collector's young-generation threshold), and
its ownership of the running instances (an app started inside another takes over until it stops)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from my_app import accounts, application, jobs, mailer, presence, pubsub, repo
from my_app.accounts import User
from my_app.config import Settings
from my_app.mailer import Email
from tests.support.jobs import (
    committed_db_fixture,  # noqa: F401 - fixture
    restore_mailer_fixture,  # noqa: F401 - fixture
    run_until,
)


@pytest.fixture
def thresholds() -> Iterator[tuple[int, int, int]]:
    """The thresholds before the test, restored after it."""
    before = gc.get_threshold()
    yield before
    gc.set_threshold(*before)


def test_gc_threshold_sets_the_young_generation_and_keeps_the_older_ones(thresholds: tuple[int, int, int]) -> None:
    application.tune_garbage_collector(Settings(_env_file=None, gc_threshold=12_345))  # type: ignore[call-arg]
    assert gc.get_threshold() == (12_345, thresholds[1], thresholds[2])


def test_gc_threshold_zero_leaves_the_collector_alone(thresholds: tuple[int, int, int]) -> None:
    gc.set_threshold(700, thresholds[1], thresholds[2])
    application.tune_garbage_collector(Settings(_env_file=None, gc_threshold=0))  # type: ignore[call-arg]
    assert gc.get_threshold() == (700, thresholds[1], thresholds[2])


def test_the_default_is_50000() -> None:
    assert Settings(_env_file=None).gc_threshold == 50_000  # type: ignore[call-arg]


# --- One owner for the running instances: an app started inside another ---


def _links_to(host: str) -> accounts.notifier.EmailLinks:
    return lambda kind, token: f"https://{host}/{kind}/{token or ''}"


def _instances() -> dict[str, object]:
    """What each module-level function uses right now."""
    queue = jobs.running.value
    return {
        "app": application.current(),
        "engine": repo.engine(),
        "pubsub node": pubsub.node_id(),
        "presence": presence.current(),
        "job queue": queue,
        "job connector": jobs.procrastinate_app.connector,
        "job pool": queue.connector.pool if queue is not None else None,
        "mailer settings": mailer.running.value,
        "links": accounts.notifier.links.value,
    }


def _owned_by(app: application.Application) -> dict[str, object]:
    """The instances `app` made when it started."""
    assert app.repo is not None
    assert app.pubsub is not None
    assert app.job_queue is not None
    return {
        "app": app,
        "engine": app.repo.engine,
        "pubsub node": app.pubsub.node_id,
        "presence": app.presence,
        "job queue": app.job_queue,
        "job connector": app.job_queue.connector,
        "job pool": app.job_queue.pool,
        "mailer settings": app.settings,
        "links": app.links,
    }


async def _welcome_job_runs(email: str) -> Email:
    """Register a user and enqueue the welcome email in the same transaction; run it; the email sent."""
    user = User(email=email, name="Ada Lovelace")
    async with repo.transaction() as session:
        session.add(user)
        await session.flush()
        job_id = await jobs.enqueue(session, accounts.notifier.deliver_email, type="welcome", user_id=str(user.id))
    assert job_id is not None
    row = await run_until(job_id, "emails")
    assert row.status == "succeeded"
    [sent] = [sent for sent in mailer.test_adapter.sent() if any(email in address for address in sent.to)]
    return sent


@pytest.mark.usefixtures("committed_db", "restore_mailer")
async def test_an_app_started_inside_another_owns_every_instance_until_it_stops(
    started_app: application.Application, settings: Settings
) -> None:
    outer = _instances()
    assert outer == _owned_by(started_app)
    inner_settings = settings.model_copy(update={"mail_from": "Inner <inner@example.com>"})

    async with application.lifespan(inner_settings, run_jobs=False, links=_links_to("inner.example")) as inner_app:
        inner = _instances()
        assert inner == _owned_by(inner_app)
        for name, instance in inner.items():
            assert instance is not outer[name], f"{name} is still the first app's"
        assert inner_app.presence is not None
        assert inner_app.presence.pubsub_node is inner_app.pubsub
        # Enqueued in the caller's transaction and run by a worker, all on the inner app.
        sent = await _welcome_job_runs("inner@example.com")
        assert sent.from_ == "Inner <inner@example.com>"
        assert "https://inner.example/home/" in sent.text_body

    assert _instances() == outer
    assert inner_app.job_queue is not None
    assert inner_app.job_queue.pool.closed
    # And the first app works as before.
    sent = await _welcome_job_runs("outer@example.com")
    assert sent.from_ == settings.mail_from
    assert "https://inner.example" not in sent.text_body


def test_current_raises_when_no_app_runs() -> None:
    with application.running.holding(None), pytest.raises(RuntimeError, match="no app is running"):
        application.current()
