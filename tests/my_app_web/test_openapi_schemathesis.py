"""schemathesis against /api/openapi.json: every operation, as an admin and as a user, answers as documented.

For each operation: cases of valid data (with unknown ids, and with the ids of real records),
and of invalid data (wrong types, missing fields), the same ones on every run. Each is sent
with an admin's bearer token and with a user's, and each response must be no server error,
carry a status the operation lists, the documented content type and a body matching the
documented schema; invalid data must be refused with a 4xx.

Each request runs in a savepoint that is rolled back after it, with the cache and the rate
limits emptied: a case that deletes the caller, revokes their token or logs in too often
leaves nothing behind for the next one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from schemathesis import Case
from schemathesis.generation import GenerationMode
from schemathesis.schemas import APIOperation, BaseSchema
from sqlalchemy.ext.asyncio import AsyncConnection

from my_app import cache as app_cache
from my_app.config import Settings
from my_app_web.endpoint import create_app
from tests.support.fixtures.api import api_user, auth_for, reset_rate_limits
from tests.support.fixtures.blog import comment_fixture, post_fixture
from tests.support.fixtures.catalog import category_fixture, product_fixture
from tests.support.openapi_fuzz import api_schema, checks, coverage_cases, generated_cases, operations, request_kwargs


@cache
def _schema() -> BaseSchema:
    # Built at collection time to name one test per operation; the tests run against `web_app`.
    return api_schema(create_app(Settings(), start_application=False).openapi())


@dataclass(frozen=True)
class Records:
    """Real records whose ids replace the generated ones in some cases, and the two callers."""

    path_ids: dict[str, dict[str, str]]
    identities: dict[str, dict[str, str]]


@pytest.fixture
async def records(db: AsyncConnection) -> Records:
    admin = await api_user(role="admin", name="Admin")
    user = await api_user()
    category = await category_fixture()
    product = await product_fixture(category=category)
    post = await post_fixture(user)
    comment = await comment_fixture(user, post)
    return Records(
        path_ids={
            "/api/users/{id}": {"id": str(user.id)},
            "/api/categories/{id}": {"id": str(category.id)},
            "/api/products/{id}": {"id": str(product.id)},
            "/api/posts/{id}": {"id": str(post.id)},
            "/api/posts/{post_id}/comments": {"post_id": str(post.id)},
            "/api/posts/{post_id}/comments/{id}": {"post_id": str(post.id), "id": str(comment.id)},
        },
        identities={"admin": await auth_for(admin), "user": await auth_for(user)},
    )


def _cases(operation: APIOperation, records: Records) -> Iterator[Case]:
    yield from coverage_cases(_schema(), operation)
    yield from generated_cases(operation, GenerationMode.POSITIVE)
    if (ids := records.path_ids.get(operation.path)) is not None:
        yield from generated_cases(operation, GenerationMode.POSITIVE, path_parameters=ids)
    yield from generated_cases(operation, GenerationMode.NEGATIVE)


@pytest.mark.parametrize("operation", operations(_schema()), ids=lambda operation: operation.label)
async def test_operation_answers_as_documented(
    operation: APIOperation,
    records: Records,
    web_app: FastAPI,
    db: AsyncConnection,
    client: httpx.AsyncClient,
) -> None:
    response_checks = checks()
    callers = list(records.identities.values())
    statuses: set[int] = set()
    # The callers take turns: each meets every kind of case, and the run stays short.
    for index, case in enumerate(_cases(operation, records)):
        headers = callers[index % len(callers)]
        response = await _send_alone(client, db, web_app, request_kwargs(case, headers))
        case.validate_response(response, checks=response_checks, headers=headers)
        statuses.add(response.status_code)
    # Some case reached the operation itself, not only the router's 405 for another method.
    assert statuses - {405}, f"{operation.label}: every answer was 405"


@pytest.mark.parametrize(
    "operation",
    [operation for operation in operations(_schema()) if "requestBody" in operation.definition.raw],
    ids=lambda operation: operation.label,
)
async def test_a_body_over_the_limit_is_refused_as_documented(
    operation: APIOperation,
    records: Records,
    settings: Settings,
    web_app: FastAPI,
    db: AsyncConnection,
    client: httpx.AsyncClient,
) -> None:
    [case] = generated_cases(operation, GenerationMode.POSITIVE, max_examples=1)
    headers = records.identities["admin"]
    kwargs = request_kwargs(case, headers)
    kwargs.pop("json", None)
    kwargs["content"] = b" " * (settings.max_body_bytes + 1)

    response = await _send_alone(client, db, web_app, kwargs)

    assert response.status_code == 413
    case.validate_response(response, checks=checks(), headers=headers)


async def _send_alone(
    client: httpx.AsyncClient, db: AsyncConnection, app: FastAPI, kwargs: dict[str, Any]
) -> httpx.Response:
    """Send one request in a savepoint rolled back afterwards, with fresh cache and rate limits."""
    savepoint = await db.begin_nested()
    try:
        return await client.request(**kwargs)
    finally:
        await savepoint.rollback()
        if kwargs["method"] not in {"GET", "HEAD"}:
            await app_cache.clear()  # a rolled-back write may have replaced a cached value
        await reset_rate_limits(app)
