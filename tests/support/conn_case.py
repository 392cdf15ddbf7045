"""ConnCase: an HTTP client on the ASGI app that shares the test's sandboxed transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection

from my_app.config import Settings
from my_app_web.endpoint import create_app


@pytest.fixture(scope="session")
def web_app(settings: Settings) -> FastAPI:
    # The core is started once by `started_app`; the web app only routes requests.
    return create_app(settings, start_application=False)


@pytest.fixture
async def client(web_app: FastAPI, db: AsyncConnection) -> AsyncIterator[httpx.AsyncClient]:
    """`conn` of Phoenix's ConnCase: requests go straight to the app, in the test's transaction."""
    async with client_for(web_app) as http:
        yield http


def client_for(app: FastAPI) -> httpx.AsyncClient:
    # raise_app_exceptions=False: a crashing endpoint must answer 500, as it does behind uvicorn.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://localhost:4000")
