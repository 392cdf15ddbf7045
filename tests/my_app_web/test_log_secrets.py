"""No password, token or cookie ever reaches a log line: everything the app logs during a whole auth
flow (every logger, at DEBUG), rendered as in production (JSON), is searched for every secret the
flow used (issue 12: structured logs)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI
from starlette.types import Message

from my_app import accounts
from tests.support.browser_forms import submit
from tests.support.conn_case import client_for
from tests.support.fixtures.accounts import extract_user_token, unique_user_email, url_for
from tests.support.log_capture import AppLog, app_log_fixture  # noqa: F401 - fixture

PASSWORD = "first password !!"
NEW_PASSWORD = "second password !!"


async def connect_socket(app: FastAPI, query: str) -> list[Message]:
    """Open /socket/websocket on the app (as uvicorn would hand it over), then hang up."""
    incoming: asyncio.Queue[Message] = asyncio.Queue()
    await incoming.put({"type": "websocket.connect"})
    sent: list[Message] = []

    async def receive() -> Message:
        return await incoming.get()

    async def send(message: Message) -> None:
        sent.append(message)
        if message["type"] in ("websocket.accept", "websocket.close"):
            await incoming.put({"type": "websocket.disconnect", "code": 1000})

    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "scheme": "ws",
        "http_version": "1.1",
        "path": "/socket/websocket",
        "raw_path": b"/socket/websocket",
        "root_path": "",
        "query_string": query.encode(),
        "headers": [(b"host", b"localhost:4000"), (b"origin", b"http://localhost:4000")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 4000),
        "subprotocols": [],
        "state": {},
    }
    await asyncio.wait_for(app(scope, receive, send), 10)
    return sent


async def test_the_logs_of_a_whole_auth_flow_show_no_secret(
    web_app: FastAPI, db: object, app_log: AppLog, settings: Any
) -> None:
    email = unique_user_email()
    secrets: dict[str, str] = {"password": PASSWORD, "new password": NEW_PASSWORD}
    async with client_for(web_app) as browser:
        # Register, then confirm through the emailed link.
        registered = await submit(
            browser, "/users/register", "/users/register", {"email": email, "name": "Ada", "password": PASSWORD}
        )
        assert registered.status_code == 303, registered.text
        user = await accounts.get_user_by_email(email)
        assert user is not None
        secrets["confirm token"] = extract_user_token(
            await accounts.deliver_user_confirmation_instructions(user, url_for("confirm"))
        )
        confirm = f"/users/confirm/{secrets['confirm token']}"
        assert (await submit(browser, confirm, confirm, {})).status_code == 303

        # Log in with the password, remembered.
        logged_in = await submit(
            browser, "/users/log-in", "/users/log-in", {"email": email, "password": PASSWORD, "remember_me": "true"}
        )
        assert logged_in.status_code == 303, logged_in.text
        secrets["session cookie"] = browser.cookies[settings.session_cookie]
        secrets["remember-me cookie"] = browser.cookies[settings.remember_me_cookie]
        socket_token = (await browser.get("/api/socket-token")).json()["data"]["token"]
        secrets["socket token"] = socket_token

    # A new browser that has only the remember-me cookie is signed back in.
    async with client_for(web_app) as returning:
        returning.cookies.set(settings.remember_me_cookie, secrets["remember-me cookie"])
        assert (await returning.get("/users/settings")).status_code == 200

    async with client_for(web_app) as api:
        # An API token, and a request with it.
        created = await api.post("/api/sessions", json={"email": email, "password": PASSWORD})
        assert created.status_code == 201, created.text
        secrets["api token"] = created.json()["data"]["token"]
        secrets["authorization header"] = f"Bearer {secrets['api token']}"
        me = await api.get("/api/users/me", headers={"authorization": secrets["authorization header"]})
        assert me.status_code == 200

    async with client_for(web_app) as browser:
        # Forgot the password: ask for a reset, then set a new one through the emailed link.
        asked = await submit(browser, "/users/reset-password", "/users/reset-password", {"email": email})
        assert asked.status_code in (200, 303)
        secrets["reset token"] = extract_user_token(
            await accounts.deliver_user_reset_password_instructions(user, url_for("reset-password"))
        )
        reset = f"/users/reset-password/{secrets['reset token']}"
        done = await submit(browser, reset, reset, {"password": NEW_PASSWORD, "password_confirmation": NEW_PASSWORD})
        assert done.status_code == 303, done.text

        # A magic link.
        secrets["magic-link token"] = extract_user_token(
            await accounts.deliver_login_instructions(user, url_for("log-in"))
        )
        magic = f"/users/log-in/{secrets['magic-link token']}"
        assert (await submit(browser, magic, magic, {})).status_code == 303

    # A socket opened with the token in its URL (the token is no longer valid: the password changed).
    await connect_socket(web_app, f"token={socket_token}&vsn=2.0.0")

    output = app_log.text()
    found = {name: value for name, value in secrets.items() if value in output}
    assert found == {}, f"secrets in the log: {sorted(found)}"
    requests = app_log.access_lines()
    routes = {(line["method"], line["route"], line["status"]) for line in requests}
    assert ("POST", "/users/register", 303) in routes
    assert ("POST", "/users/confirm/{token}", 303) in routes
    assert ("POST", "/users/log-in", 303) in routes
    assert ("GET", "/users/settings", 200) in routes
    assert ("POST", "/api/sessions", 201) in routes
    assert ("GET", "/api/users/me", 200) in routes
    assert ("POST", "/users/reset-password/{token}", 303) in routes
    assert ("POST", "/users/log-in/{token}", 303) in routes
    signed_in = [line for line in requests if line["route"] in ("/users/settings", "/api/users/me")]
    assert {line["user_id"] for line in signed_in} == {str(user.id)}
    fields = {"request_id", "method", "route", "path", "status", "duration_ms", "user_id", "client", "timestamp"}
    for line in requests:
        assert fields <= set(line)
