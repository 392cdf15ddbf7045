"""Phoenix's `check_origin` on `/socket/websocket` (the `CHECK_ORIGIN` setting): which pages may open a socket.

The matching rules come first, as `OriginCheck` sees them; then real upgrades on a server, as a
browser would send them (websockets' `origin=` sets the Origin header; without it, none is sent,
as from the Node client).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets
from sqlalchemy.ext.asyncio import AsyncConnection
from websockets.typing import Origin

from my_app.config import ConfigError, Settings
from my_app_web.channels.channel import Channel, ChannelSocket
from my_app_web.channels.origin_check import OriginCheck
from my_app_web.channels.socket_handler import SocketHandler
from my_app_web.endpoint import Endpoint, create_app
from tests.support.channel_case import connect, serving, token_for
from tests.support.fixtures.accounts import user_fixture

LOBBY = "room:lobby"
EVIL = "https://evil.example"


def check(value: str, app_host: str | None = "example.com") -> OriginCheck:
    parsed = OriginCheck.parse(value, app_host=app_host)
    assert parsed is not None
    return parsed


# --- The rules ---


def test_true_allows_the_app_host_with_any_scheme_and_port() -> None:
    allowed = check("true", app_host="example.com")
    for origin in ("https://example.com", "http://example.com", "http://example.com:4000", "https://EXAMPLE.com"):
        assert allowed.allows(origin), origin
    for origin in (EVIL, "https://www.example.com", "https://example.com.evil.example", "https://xexample.com"):
        assert not allowed.allows(origin), origin


def test_a_listed_origin_with_a_scheme_pins_its_scheme_and_port() -> None:
    allowed = check("https://example.com, https://admin.example.com:8443")
    assert allowed.allows("https://example.com")
    assert allowed.allows("https://example.com:443")  # the scheme's default port
    assert allowed.allows("https://admin.example.com:8443")
    assert not allowed.allows("http://example.com")  # another scheme
    assert not allowed.allows("https://example.com:8443")  # another port
    assert not allowed.allows("https://admin.example.com")  # 443, not 8443
    assert not allowed.allows(EVIL)


def test_a_listed_origin_without_a_scheme_allows_any_scheme() -> None:
    allowed = check("//example.com,//localhost:4000")
    assert allowed.allows("https://example.com")
    assert allowed.allows("http://example.com:8080")
    assert allowed.allows("http://localhost:4000")
    assert not allowed.allows("http://localhost:4001")
    assert not allowed.allows("https://sub.example.com")


def test_a_wildcard_allows_the_domain_and_its_subdomains_only() -> None:
    allowed = check("//*.example.com")
    for origin in ("https://example.com", "https://chat.example.com", "http://a.b.example.com:8080"):
        assert allowed.allows(origin), origin
    for origin in ("https://notexample.com", "https://example.com.evil.example", "https://example.co", EVIL):
        assert not allowed.allows(origin), origin


@pytest.mark.parametrize("origin", ["null", "", "not a url", "https://", "http://example.com:port", "file:///etc"])
def test_an_origin_without_a_usable_host_is_refused(origin: str) -> None:
    assert not check("true").allows(origin)
    assert not check("//example.com").allows(origin)


def test_false_is_no_check_and_the_default_depends_on_the_environment(settings: Settings) -> None:
    assert OriginCheck.parse("false", app_host="example.com") is None
    assert OriginCheck.parse(" FALSE ", app_host="example.com") is None
    dev = settings.model_copy(update={"env": "dev", "check_origin": None})
    test = settings.model_copy(update={"env": "test", "check_origin": None})
    prod = settings.model_copy(update={"env": "prod", "check_origin": None, "app_host": "example.com"})
    assert OriginCheck.from_settings(dev) is None
    assert OriginCheck.from_settings(test) is None
    on_in_prod = OriginCheck.from_settings(prod)
    assert on_in_prod is not None
    assert on_in_prod.allows("https://example.com")
    assert not on_in_prod.allows(EVIL)
    # An explicit setting wins in every environment.
    assert OriginCheck.from_settings(prod.model_copy(update={"check_origin": "false"})) is None
    listed = OriginCheck.from_settings(dev.model_copy(update={"check_origin": "//example.org"}))
    assert listed is not None
    assert listed.allows("http://example.org")
    assert not listed.allows("http://localhost")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("example.com", "without a host"),
        ("https://example.com,localhost", "without a host"),
        ("//example.com:http", "invalid origin"),
        (" , ", "empty"),
    ],
)
def test_a_setting_that_cannot_be_read_stops_start_up_with_its_reason(value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        OriginCheck.parse(value, app_host="example.com")


def test_true_without_an_app_host_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="APP_HOST"):
        OriginCheck.parse("true", app_host=None)


# --- On a server ---


class OpenChannel(Channel):
    async def join(self, topic: str, payload: dict[str, Any], socket: ChannelSocket) -> dict[str, Any] | None:
        return {}


class CountingSocket(SocketHandler):
    """Anyone connects; counts the connects it was asked to decide."""

    channels = (("open:*", OpenChannel),)

    def __init__(self) -> None:
        self.connects = 0

    async def connect(self, params: dict[str, str], connect_info: dict[str, Any]) -> dict[str, Any] | None:
        self.connects += 1
        return {}


@contextlib.asynccontextmanager
async def counting_server(check_origin: str) -> AsyncIterator[tuple[str, CountingSocket]]:
    handler = CountingSocket()
    app = Endpoint()
    app.socket("/socket", handler, check_origin=OriginCheck.parse(check_origin, app_host="example.com"))
    async with serving(app) as url:
        yield url, handler


async def status_for(url: str, origin: str | None, token: str | None = None) -> int:
    """The HTTP status of a refused upgrade from `origin` (fails if it is accepted)."""
    query = f"?vsn=2.0.0&token={token}" if token else "?vsn=2.0.0"
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(f"{url}/socket/websocket{query}", origin=Origin(origin) if origin else None):
            pass
    return refused.value.response.status_code


async def joins(url: str, origin: str | None, token: str | None = None, topic: str = "open:a") -> None:
    """A socket from `origin` opens, joins `topic` and is answered."""
    async with connect(url, token, origin=Origin(origin) if origin else None) as client:
        assert (await client.join(topic))[4] == {"status": "ok", "response": {}}


async def test_an_allowed_origin_connects_and_joins() -> None:
    async with counting_server("https://example.com,//*.example.org") as (url, handler):
        await joins(url, "https://example.com")
        await joins(url, "http://chat.example.org:8080")
        assert handler.connects == 2


async def test_a_refused_origin_gets_403_before_the_socket_module_is_asked() -> None:
    async with counting_server("https://example.com,//*.example.org") as (url, handler):
        for origin in (EVIL, "http://example.com", "https://example.org.evil.example", "null"):
            assert await status_for(url, origin) == 403, origin
        assert handler.connects == 0  # nothing authenticated, so nothing could join
        await joins(url, "https://example.com")  # and the endpoint still serves the allowed


async def test_a_request_without_an_origin_header_is_allowed(caplog: pytest.LogCaptureFixture) -> None:
    async with counting_server("https://example.com") as (url, handler):
        await joins(url, None)
        assert handler.connects == 1
        assert await status_for(url, EVIL) == 403
    assert "refused a socket from origin 'https://evil.example'" in caplog.text


async def test_the_app_accepts_any_origin_in_test_and_dev_by_default(
    web_app: Endpoint, db: AsyncConnection, settings: Settings
) -> None:
    assert settings.check_origin is None
    token = await token_for(settings, await user_fixture())
    async with serving(web_app) as url:
        await joins(url, EVIL, token, LOBBY)


async def test_the_app_checks_origins_against_app_host_in_prod_by_default(
    settings: Settings, db: AsyncConnection
) -> None:
    prod = settings.model_copy(update={"env": "prod", "app_host": "example.com", "check_origin": None})
    token = await token_for(prod, await user_fixture())
    async with serving(create_app(prod, start_application=False)) as url:
        assert await status_for(url, EVIL, token) == 403
        await joins(url, "https://example.com", token, LOBBY)
        await joins(url, None, token, LOBBY)  # the Node client, a mobile app


async def test_the_app_reads_a_check_origin_list(settings: Settings, db: AsyncConnection) -> None:
    listed = settings.model_copy(update={"check_origin": "//*.example.com"})
    token = await token_for(listed, await user_fixture())
    async with serving(create_app(listed, start_application=False)) as url:
        assert await status_for(url, "http://localhost:4000", token) == 403
        await joins(url, "https://chat.example.com", token, LOBBY)
