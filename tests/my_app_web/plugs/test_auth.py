"""The browser side of UserAuth: session and remember-me cookies, and the page guards.

The pages themselves come with the live UI; here small named endpoints stand in for them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from my_app import accounts
from my_app.accounts.user import Role
from my_app.config import Settings
from my_app_web.endpoint import create_app
from my_app_web.flash import pop_flash
from my_app_web.plugs.auth import (
    CurrentSession,
    OptionalApiScope,
    authorize_page,
    log_in_user,
    log_out_user,
    redirect_if_user_is_authenticated,
    require_authenticated_user,
    require_sudo_mode,
)
from tests.support.conn_case import client_for
from tests.support.fixtures.accounts import user_fixture

pages = APIRouter()


@pages.post("/test/log-in/{email}")
async def log_in(email: str, request: Request, response: Response, remember: bool = False) -> dict[str, str]:
    user = await accounts.get_user_by_email(email)
    assert user is not None
    await log_in_user(request, response, user, remember_me=remember)
    return {"ok": "yes"}


@pages.post("/test/log-out")
async def log_out(request: Request, response: Response) -> dict[str, str]:
    await log_out_user(request, response)
    return {"ok": "yes"}


@pages.get("/test/whoami")
async def whoami(session: CurrentSession) -> dict[str, str | None]:
    return {"email": session.user.email if session else None}


@pages.get("/test/private")
async def private(session: Annotated[accounts.Session, Depends(require_authenticated_user)]) -> dict[str, str]:
    return {"email": session.user.email}


@pages.get("/test/log-in-page", dependencies=[Depends(redirect_if_user_is_authenticated)])
async def log_in_page() -> dict[str, str]:
    return {"page": "log in"}


@pages.get("/test/settings")
async def settings_page(session: Annotated[accounts.Session, Depends(require_sudo_mode)]) -> dict[str, str]:
    return {"email": session.user.email}


@pages.get("/test/admin")
async def admin_page(session: Annotated[accounts.Session, Depends(authorize_page(Role.ADMIN))]) -> dict[str, str]:
    return {"email": session.user.email}


@pages.get("/test/public-read")
async def public_read(scope: OptionalApiScope) -> dict[str, str | None]:
    return {"user": scope.user.email if scope.user else None}


@pages.post("/test/plant/{value}")
async def plant(value: str, request: Request) -> dict[str, str]:
    """Stands in for anything a visitor's session picks up before log-in (or an attacker plants)."""
    request.session["planted"] = value
    return {"ok": "yes"}


@pages.get("/test/session")
async def session_data(request: Request) -> dict[str, object]:
    return dict(request.session)


@pages.get("/test/flash")
async def flash(request: Request) -> dict[str, str]:
    return pop_flash(request)


@pytest.fixture(scope="module")
def pages_app(settings: Settings) -> FastAPI:
    app = create_app(settings, start_application=False)
    app.include_router(pages)
    return app


@pytest.fixture
async def browser(pages_app: FastAPI, db: AsyncConnection) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(pages_app) as client:
        yield client


async def test_logging_in_starts_a_session_the_next_request_sees(browser: httpx.AsyncClient) -> None:
    user = await user_fixture()
    assert (await browser.get("/test/whoami")).json() == {"email": None}

    await browser.post(f"/test/log-in/{user.email}")

    assert (await browser.get("/test/whoami")).json() == {"email": user.email}
    assert (await browser.get("/test/private")).json() == {"email": user.email}


async def test_logging_in_starts_from_an_empty_session_no_fixation(browser: httpx.AsyncClient) -> None:
    user = await user_fixture()
    await browser.post("/test/plant/from-before-log-in")
    assert (await browser.get("/test/session")).json() == {"planted": "from-before-log-in"}

    await browser.post(f"/test/log-in/{user.email}")

    # Nothing from before the log-in survives it: only what log_in_user puts there.
    assert set((await browser.get("/test/session")).json()) == {"user_token", "live_socket_id"}


async def test_a_new_log_in_replaces_the_old_session_token(browser: httpx.AsyncClient) -> None:
    user = await user_fixture()
    await browser.post(f"/test/log-in/{user.email}")
    first = (await browser.get("/test/session")).json()["user_token"]
    await browser.post(f"/test/log-in/{user.email}")

    assert (await browser.get("/test/session")).json()["user_token"] != first


async def test_logging_out_ends_the_session_and_deletes_its_token(browser: httpx.AsyncClient) -> None:
    user = await user_fixture()
    await browser.post(f"/test/log-in/{user.email}")
    stolen = dict(browser.cookies)

    await browser.post("/test/log-out")

    assert (await browser.get("/test/whoami")).json() == {"email": None}
    # The old cookie is useless now: its session token was deleted.
    browser.cookies.clear()
    browser.cookies.update(stolen)
    assert (await browser.get("/test/whoami")).json() == {"email": None}


async def test_the_remember_me_cookie_logs_the_user_back_in(browser: httpx.AsyncClient) -> None:
    user = await user_fixture()
    response = await browser.post(f"/test/log-in/{user.email}", params={"remember": "true"})
    cookie = response.headers["set-cookie"]
    assert "_my_app_web_user_remember_me=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie.replace("samesite", "SameSite")
    assert "Max-Age=5184000" in cookie  # 60 days

    browser.cookies.delete("_my_app_key")  # the browser session ended; the remember-me cookie stays
    assert (await browser.get("/test/whoami")).json() == {"email": user.email}


async def test_a_forged_remember_me_cookie_is_ignored(browser: httpx.AsyncClient) -> None:
    browser.cookies.set("_my_app_web_user_remember_me", "forged.value.here")

    assert (await browser.get("/test/whoami")).json() == {"email": None}


async def test_pages_for_signed_in_users_send_visitors_to_log_in_with_a_flash(browser: httpx.AsyncClient) -> None:
    response = await browser.get("/test/private")

    assert response.status_code == 303
    assert response.headers["location"] == "/users/log-in"
    assert (await browser.get("/test/flash")).json() == {"error": "You must log in to access this page."}


async def test_visitor_pages_send_signed_in_users_home(browser: httpx.AsyncClient) -> None:
    user = await user_fixture()
    assert (await browser.get("/test/log-in-page")).status_code == 200
    await browser.post(f"/test/log-in/{user.email}")

    response = await browser.get("/test/log-in-page")

    assert (response.status_code, response.headers["location"]) == (303, "/")


async def test_sudo_mode_needs_a_log_in_within_20_minutes(browser: httpx.AsyncClient, db: AsyncConnection) -> None:
    user = await user_fixture()
    await browser.post(f"/test/log-in/{user.email}")
    assert (await browser.get("/test/settings")).status_code == 200

    # Age every session token of this user past the sudo window (authenticated_at).
    await db.execute(
        text("UPDATE user_tokens SET authenticated_at = authenticated_at - interval '21 minutes' WHERE user_id = :id"),
        {"id": user.id},
    )
    response = await browser.get("/test/settings")

    assert (response.status_code, response.headers["location"]) == (303, "/users/log-in")
    assert (await browser.get("/test/flash")).json() == {"error": "You must re-authenticate to access this page."}


async def test_pages_for_admins_refuse_other_users_with_403(browser: httpx.AsyncClient) -> None:
    user, admin = await user_fixture(), await user_fixture(role="admin")
    await browser.post(f"/test/log-in/{user.email}")
    refused = await browser.get("/test/admin")
    assert refused.status_code == 403

    await browser.post(f"/test/log-in/{admin.email}")
    assert (await browser.get("/test/admin")).json() == {"email": admin.email}


async def test_a_public_read_is_anonymous_without_a_token_and_the_user_with_one(browser: httpx.AsyncClient) -> None:
    user = await user_fixture()
    token = await accounts.create_api_token(user)

    assert (await browser.get("/test/public-read")).json() == {"user": None}
    signed = await browser.get("/test/public-read", headers={"authorization": f"Bearer {token}"})
    assert signed.json() == {"user": user.email}
    # A token sent but not valid is refused, not quietly read as anonymous.
    forged = await browser.get("/test/public-read", headers={"authorization": "Bearer not-a-token"})
    assert forged.status_code == 401
