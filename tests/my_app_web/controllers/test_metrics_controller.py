"""GET /metrics: Prometheus text for an admin's session or the scraper's METRICS_TOKEN, 401/403 otherwise."""

from __future__ import annotations

import asyncio
import re
import time

import httpx
import pytest
from fastapi import FastAPI

from my_app import jobs, metrics_export
from my_app.config import Settings
from tests.support.browser_forms import log_in
from tests.support.conn_case import client_for
from tests.support.fixtures.accounts import user_fixture
from tests.support.fixtures.api import auth_for, unique_email

METRICS_TOKEN = "scraper-secret-0123456789abcdef"


@pytest.fixture
def with_metrics_token(web_app: FastAPI, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    # State keeps its attributes in `_state`: patching the dict lets monkeypatch put the old value back.
    monkeypatch.setitem(web_app.state._state, "settings", settings.model_copy(update={"metrics_token": METRICS_TOKEN}))


async def test_a_visitor_gets_401_in_the_json_error_shape(client: httpx.AsyncClient) -> None:
    response = await client.get("/metrics")

    assert response.status_code == 401
    assert response.json() == {"errors": {"detail": "Unauthorized"}}


async def test_a_signed_in_user_who_is_not_an_admin_gets_403(web_app: FastAPI, db: object) -> None:
    user = await user_fixture(name="Curious User")
    async with client_for(web_app) as client:
        assert (await log_in(client, user.email)).status_code == 303
        response = await client.get("/metrics")

    assert response.status_code == 403
    assert response.json() == {"errors": {"detail": "Forbidden"}}


async def test_an_admin_s_browser_session_reads_the_metrics(web_app: FastAPI, db: object) -> None:
    admin = await user_fixture(name="Ops Admin", role="admin")
    async with client_for(web_app) as client:
        assert (await log_in(client, admin.email)).status_code == 303
        await client.get("/health")
        response = await client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    assert 'http_requests_total{method="GET",route="/health",status="200"}' in response.text
    assert "# TYPE http_request_duration_seconds histogram" in response.text
    assert "_created" not in response.text


async def test_the_scraper_s_bearer_token_reads_the_metrics(
    client: httpx.AsyncClient, with_metrics_token: None
) -> None:
    response = await client.get("/metrics", headers={"authorization": f"Bearer {METRICS_TOKEN}"})

    assert response.status_code == 200
    assert "# TYPE http_requests_total counter" in response.text


async def test_a_wrong_bearer_token_gets_401(client: httpx.AsyncClient, with_metrics_token: None) -> None:
    response = await client.get("/metrics", headers={"authorization": f"Bearer {METRICS_TOKEN}x"})

    assert response.status_code == 401


async def test_without_metrics_token_no_bearer_token_is_accepted(client: httpx.AsyncClient) -> None:
    for header in ("Bearer ", "Bearer None", "Bearer null"):
        assert (await client.get("/metrics", headers={"authorization": header})).status_code == 401


async def test_an_admin_s_api_token_is_not_the_metrics_token(
    client: httpx.AsyncClient, with_metrics_token: None
) -> None:
    admin = await user_fixture(name="Api Admin", role="admin")

    response = await client.get("/metrics", headers=await auth_for(admin))

    assert response.status_code == 401


async def test_job_counts_come_from_the_database(client: httpx.AsyncClient, with_metrics_token: None) -> None:
    registration = {"email": unique_email(), "name": "Ada", "password": "hello world!!"}
    assert (await client.post("/api/users/register", json={"user": registration})).status_code == 201  # an email job

    response = await client.get("/metrics", headers={"authorization": f"Bearer {METRICS_TOKEN}"})

    assert "# TYPE jobs gauge" in response.text
    waiting = re.search(r'^jobs\{queue="[^"]+",state="todo",task="[^"]+"\} ([0-9.]+)$', response.text, re.MULTILINE)
    assert waiting is not None, response.text
    assert float(waiting.group(1)) >= 1


async def test_when_the_database_does_not_answer_the_other_metrics_still_come_quickly(
    client: httpx.AsyncClient, with_metrics_token: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def hanging() -> list[jobs.JobCount]:
        await asyncio.sleep(3600)
        return []

    monkeypatch.setattr(jobs, "count_jobs", hanging)
    monkeypatch.setattr(metrics_export, "JOBS_COUNT_TIMEOUT", 0.2)
    started = time.monotonic()

    response = await client.get("/metrics", headers={"authorization": f"Bearer {METRICS_TOKEN}"})

    assert time.monotonic() - started < 2
    assert response.status_code == 200
    assert "# TYPE http_requests_total counter" in response.text
    assert "# TYPE jobs gauge" not in response.text
