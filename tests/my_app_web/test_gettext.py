"""The request's language: the user's setting, then `?locale=` (remembered), then Accept-Language, then English."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, PlainTextResponse
from sqlalchemy.ext.asyncio import AsyncConnection

from my_app import accounts
from my_app.config import Settings
from my_app.gettext import use_locale
from my_app_web import gettext
from my_app_web.endpoint import create_app
from my_app_web.plugs.auth import CurrentSession
from my_app_web.plugs.csrf import csrf_token
from my_app_web.templating import templates
from tests.support.browser_forms import log_in
from tests.support.conn_case import client_for
from tests.support.fixtures.accounts import SYSTEM, user_fixture

PAGE = '<html lang="{{ current_locale() }}"><h1>{{ _("Log in") }}</h1></html>'


async def page(request: Request) -> HTMLResponse:
    return HTMLResponse(templates.env.from_string(PAGE).render(request=request))


async def signed_in_page(request: Request, session: CurrentSession) -> HTMLResponse:
    return HTMLResponse(templates.env.from_string(PAGE).render(request=request))


async def csrf(request: Request) -> PlainTextResponse:
    return PlainTextResponse(csrf_token(request))


@pytest.fixture(scope="module")
def app(settings: Settings) -> FastAPI:
    app = create_app(settings, start_application=False)
    app.add_api_route("/test/page", page, methods=["GET"])
    app.add_api_route("/test/signed-in", signed_in_page, methods=["GET"])
    app.add_api_route("/test/csrf", csrf, methods=["GET"])
    return app


@pytest.fixture
async def client(app: FastAPI, db: AsyncConnection) -> httpx.AsyncClient:
    async with client_for(app) as http:
        yield http  # type: ignore[misc]


def lang(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    return response.text.split('lang="', 1)[1].split('"', 1)[0]


# --- Negotiation ---


def test_accept_language_is_read_in_order_of_preference() -> None:
    assert gettext.accept_language("fr-CH, de;q=0.9, en;q=0.8, *;q=0.5") == ["fr-CH", "de", "en"]
    assert gettext.accept_language("en;q=0.5, de") == ["de", "en"]
    assert gettext.accept_language("de;q=0, en") == ["en"]
    assert gettext.accept_language("de;q=oops, en") == ["en"]
    assert gettext.accept_language("") == []


@pytest.mark.parametrize(
    ("query", "session", "accept", "expected"),
    [
        ("de", "en", "en", "de"),  # ?locale= first
        (None, "de", "en", "de"),  # then the remembered choice
        ("fr", "de", "en", "de"),  # a locale we do not speak is ignored
        (None, None, "fr-FR, de-CH;q=0.8, en;q=0.5", "de"),  # then the browser's, region aside
        (None, None, "fr, es", "en"),  # English when nothing matches
        (None, None, None, "en"),
    ],
)
def test_negotiation_order(query: str | None, session: str | None, accept: str | None, expected: str) -> None:
    assert gettext.negotiate(query_locale=query, session_locale=session, accept=accept) == expected


async def test_a_page_is_in_english_by_default_and_in_german_for_a_german_browser(client: httpx.AsyncClient) -> None:
    english = await client.get("/test/page")
    assert lang(english) == "en"
    assert "<h1>Log in</h1>" in english.text

    german = await client.get("/test/page", headers={"accept-language": "de-DE,de;q=0.9,en;q=0.8"})
    assert lang(german) == "de"
    assert "<h1>Anmelden</h1>" in german.text


async def test_locale_in_the_url_wins_over_the_browser_and_sticks_as_you_follow_links(
    client: httpx.AsyncClient,
) -> None:
    english_browser = {"accept-language": "en"}

    assert lang(await client.get("/test/page?locale=de", headers=english_browser)) == "de"
    # The next pages, without ?locale=, stay German: the choice is in the session.
    assert lang(await client.get("/test/page", headers=english_browser)) == "de"
    assert lang(await client.get("/", headers=english_browser)) in {"de", "en"}  # any page keeps the choice
    assert lang(await client.get("/test/page", headers=english_browser)) == "de"
    # ...until another is chosen.
    assert lang(await client.get("/test/page?locale=en", headers={"accept-language": "de"})) == "en"
    assert lang(await client.get("/test/page", headers={"accept-language": "de"})) == "en"


async def test_a_locale_we_do_not_speak_in_the_url_changes_nothing(client: httpx.AsyncClient) -> None:
    assert lang(await client.get("/test/page?locale=xx", headers={"accept-language": "de"})) == "de"
    assert lang(await client.get("/test/page", headers={"accept-language": "en"})) == "en"


async def test_the_signed_in_users_setting_wins_over_the_url_session_and_browser(client: httpx.AsyncClient) -> None:
    user = await user_fixture()
    await accounts.update_user_locale(SYSTEM, user, "de")
    await log_in(client, user.email)

    assert lang(await client.get("/test/signed-in?locale=en", headers={"accept-language": "en"})) == "de"
    assert lang(await client.get("/test/signed-in", headers={"accept-language": "en"})) == "de"


async def test_a_signed_in_user_without_a_setting_gets_the_url_or_browser_locale(client: httpx.AsyncClient) -> None:
    user = await user_fixture()
    await log_in(client, user.email)

    assert lang(await client.get("/test/signed-in", headers={"accept-language": "de"})) == "de"
    assert lang(await client.get("/test/signed-in?locale=en", headers={"accept-language": "de"})) == "en"


async def test_the_visitors_choice_survives_logging_in_and_out(client: httpx.AsyncClient) -> None:
    user = await user_fixture()
    english_browser = {"accept-language": "en"}
    assert lang(await client.get("/test/page?locale=de", headers=english_browser)) == "de"

    await log_in(client, user.email)  # a new session...
    assert lang(await client.get("/test/signed-in", headers=english_browser)) == "de"  # ...keeps the choice

    token = (await client.get("/test/csrf")).text
    logged_out = await client.post("/users/log-out", data={"_csrf_token": token})
    assert logged_out.status_code == 303
    assert lang(await client.get("/test/page", headers=english_browser)) == "de"


async def test_concurrent_requests_keep_their_own_locale(client: httpx.AsyncClient, app: FastAPI) -> None:
    import asyncio

    async with client_for(app) as other:
        responses = await asyncio.gather(
            *(
                (client if index % 2 else other).get(
                    "/test/page", headers={"accept-language": "de" if index % 2 else "en"}
                )
                for index in range(10)
            )
        )
    assert [lang(response) for response in responses] == ["en", "de"] * 5


# --- In templates ---

MOMENT = datetime(2026, 11, 27, 14, 5, tzinfo=UTC)


def test_dates_and_numbers_are_formatted_for_the_locale() -> None:
    with use_locale("en"):
        assert gettext.format_datetime(MOMENT) == "Nov 27, 2026, 2:05:00\u202fPM"
        assert gettext.format_date(MOMENT) == "Nov 27, 2026"
        assert gettext.format_date(MOMENT, "long") == "November 27, 2026"
        assert gettext.format_time(MOMENT) == "2:05\u202fPM"
        assert gettext.format_number(1234567.5) == "1,234,567.5"
        assert gettext.format_decimal(Decimal("19.9"), "#,##0.00") == "19.90"
        assert gettext.format_currency("19.99") == "€19.99"
        assert gettext.format_percent(0.25) == "25%"
        assert gettext.format_timedelta(timedelta(minutes=3)) == "3 minutes"
        assert gettext.format_timedelta(timedelta(minutes=-3), add_direction=True) == "3 minutes ago"
    with use_locale("de"):
        assert gettext.format_datetime(MOMENT) == "27.11.2026, 14:05:00"
        assert gettext.format_datetime(MOMENT, "short", tzinfo="Europe/Berlin") == "27.11.26, 15:05"
        assert gettext.format_date(MOMENT, "long") == "27. November 2026"
        assert gettext.format_number(1234567.5) == "1.234.567,5"
        assert gettext.format_currency(Decimal("19.99")) == "19,99\xa0€"
        assert gettext.format_percent(0.25) == "25\xa0%"
        assert gettext.format_timedelta(timedelta(minutes=3)) == "3 Minuten"
    assert gettext.format_datetime(None) == gettext.format_number(None) == gettext.format_currency(None) == ""


def test_the_page_templates_have_the_filters_and_globals() -> None:
    source = (
        "{{ when | format_date('long') }}|{{ 1234.5 | format_number }}|{{ price | format_currency('EUR') }}|"
        "{{ current_locale() }}|{{ locale_choices() }}"
    )
    with use_locale("de"):
        rendered = templates.env.from_string(source).render(when=MOMENT, price="19.99")
    assert rendered == (
        "27. November 2026|1.234,5|19,99\xa0€|de|[(&#39;en&#39;, &#39;English&#39;), (&#39;de&#39;, &#39;Deutsch&#39;)]"
    )


def test_validation_messages_are_translated_as_pages_render_them() -> None:
    errors = ["can't be blank", "should be at least 12 character(s)", "should be at most 72 byte(s)", "new message"]
    source = '{{ errors | map("translate_error") | join(", ") }}'

    with use_locale("de"):
        assert templates.env.from_string(source).render(errors=errors) == (
            "darf nicht leer sein, muss mindestens 12 Zeichen lang sein, darf höchstens 72 Byte lang sein, new message"
        )
    with use_locale("en"):
        assert gettext.translate_error("should be at least 12 character(s)") == "should be at least 12 character(s)"
