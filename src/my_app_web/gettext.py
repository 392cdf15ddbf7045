"""The request's language, and what templates need to speak it (the seed's `MyAppWeb.Gettext` plug side).

Which locale a request is served in, first match wins:
1. the signed-in user's setting (`user.locale`): the user is known once `fetch_current_user` has
   run, which calls `set_request_locale`;
2. `?locale=de` in the URL, remembered in the session so it holds as the visitor follows links;
3. the session's remembered choice;
4. the browser's `Accept-Language` (Babel's `negotiate_locale`: "de-CH" is served "de");
5. English.

`LocaleMiddleware` (pure ASGI, inside the session middleware) applies 2-5 before the routes run;
the user's setting then overrides it for the rest of the request.

In every template (`install`): `_()`, `gettext`, `ngettext`, `{% trans %}` (Jinja2's i18n
extension, newstyle: `{{ _("Hello %(name)s", name=user.name) }}`; a literal percent sign is `%%`
there), `current_locale()` for `<html lang>`, `locale_choices()` for a language menu, and the
filters `format_datetime`, `format_date`, `format_time`, `format_timedelta`, `format_number`,
`format_decimal`, `format_percent`, `format_currency` (Babel, in the request's locale), and
`translate_error` for validation messages.

Validation messages stay English in the core: they are the JSON API's contract (Ecto's wording,
which API clients match on). Pages translate them as they render them:
`{{ errors.email | map("translate_error") | join(", ") }}`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import parse_qsl

from babel import Locale, dates, numbers
from babel.core import negotiate_locale
from jinja2 import Environment
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from my_app import gettext
from my_app.gettext import DEFAULT_LOCALE, LOCALES, N_, get_locale, known_locale

SESSION_KEY = "locale"
QUERY_PARAM = "locale"

Number = int | float | Decimal
DateFormat = Literal["short", "medium", "long", "full"] | str


# The core's validation messages (Ecto's wording), marked for the catalog; `%(count)s` stands for a
# number the core wrote into the message ("should be at least 12 character(s)").
ERROR_MESSAGES = (
    N_("can't be blank"),
    N_("is invalid"),
    N_("has already been taken"),
    N_("must be a valid email"),
    N_("is already confirmed"),
    N_("does not match password"),
    N_("is reserved"),
    N_("must be lowercase letters, digits, - or _"),
    N_("should be at least %(count)s character(s)"),
    N_("should be at most %(count)s character(s)"),
    N_("should be at most %(count)s byte(s)"),
)
# The reason phrases error pages show (`fallback.error_response`'s `detail`), for `{{ _(detail) }}`.
HTTP_STATUS_PHRASES = (
    N_("Bad Request"),
    N_("Unauthorized"),
    N_("Forbidden"),
    N_("Not Found"),
    N_("Method Not Allowed"),
    N_("Request Entity Too Large"),
    N_("Content Too Large"),
    N_("Unprocessable Entity"),
    N_("Unprocessable Content"),
    N_("Too Many Requests"),
    N_("Internal Server Error"),
    N_("Service Unavailable"),
)
_ERROR_PATTERNS = [
    (re.compile(re.escape(message).replace(re.escape("%(count)s"), r"(?P<count>\d+)")), message)
    for message in ERROR_MESSAGES
    if "%(count)s" in message
]


# --- Negotiation ---


def accept_language(header: str) -> list[str]:
    """The languages of an `Accept-Language` header, most wanted first (q=0 and `*` left out).

    Examples:
        accept_language("fr-CH, de;q=0.9, en;q=0.8, *;q=0.5")  # ["fr-CH", "de", "en"]
    """
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip()
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag and tag != "*" and quality > 0:
            weighted.append((-quality, position, tag))
    return [tag for _, _, tag in sorted(weighted)]


def negotiate(*, query_locale: str | None, session_locale: str | None, accept: str | None) -> str:
    """The locale for a visitor whose own setting is unknown: `?locale=`, the session, `Accept-Language`, "en".

    Examples:
        negotiate(query_locale=None, session_locale=None, accept="de-DE,de;q=0.9")  # "de"
        negotiate(query_locale="en", session_locale="de", accept=None)              # "en"
    """
    for choice in (query_locale, session_locale):
        if known := known_locale(choice):
            return known
    if accept:
        preferred = [tag.replace("_", "-") for tag in accept_language(accept)]
        negotiated = negotiate_locale(preferred, list(LOCALES), sep="-")
        if negotiated is None:  # "de-CH" when only "de" is offered: Babel matches whole tags first
            negotiated = next((known for tag in preferred if (known := known_locale(tag))), None)
        if negotiated:
            return negotiated
    return DEFAULT_LOCALE


class LocaleMiddleware:
    """Sets the request's locale (`?locale=`, session, `Accept-Language`) before the routes run.

    Runs inside the session middleware: a `?locale=` choice is remembered in the session. Pure
    ASGI, so the context variable it sets is the one the route and its templates read.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        session: dict[str, Any] | None = scope.get("session")
        query_locale = known_locale(_query_value(scope, QUERY_PARAM))
        if query_locale is not None and session is not None and session.get(SESSION_KEY) != query_locale:
            session[SESSION_KEY] = query_locale
        session_locale = session.get(SESSION_KEY) if session is not None else None
        locale = negotiate(
            query_locale=query_locale,
            session_locale=session_locale if isinstance(session_locale, str) else None,
            accept=_header(scope, b"accept-language"),
        )
        with gettext.use_locale(locale):
            await self.app(scope, receive, send)


def set_request_locale(request: Request | None, locale: str | None) -> None:
    """Serve the rest of the request in `locale` (the signed-in user's setting); None changes nothing.

    `fetch_current_user` calls it once it knows the user, so their setting beats `?locale=`,
    the session and the browser.

    Examples:
        set_request_locale(request, user.locale)
    """
    if known := known_locale(locale):
        gettext.set_locale(known)
        if request is not None:
            request.scope["locale"] = known


def clear_session_keeping_locale(request: Request) -> None:
    """Clear the session (log-in, log-out) but keep the language the visitor chose with `?locale=`.

    phx.gen.auth's `renew_session` does the same for a `preferred_locale`.
    """
    locale = request.session.get(SESSION_KEY)
    request.session.clear()
    if isinstance(locale, str) and known_locale(locale):
        request.session[SESSION_KEY] = locale


def _query_value(scope: Scope, name: str) -> str | None:
    query = scope.get("query_string", b"").decode("latin-1")
    return next((value for key, value in parse_qsl(query) if key == name), None)


def _header(scope: Scope, name: bytes) -> str | None:
    return next((value.decode("latin-1") for key, value in scope.get("headers", ()) if key == name), None)


# --- In templates ---


def current_locale() -> str:
    """The request's locale, for `<html lang="{{ current_locale() }}">`."""
    return get_locale()


def locale_choices() -> list[tuple[str, str]]:
    """Each locale the app speaks with its name in its own language: [("en", "English"), ("de", "Deutsch")]."""
    return [(code, Locale.parse(code).get_display_name(code) or code) for code in LOCALES]


def translate_errors(errors: Mapping[str, list[str]]) -> dict[str, list[str]]:
    """Every message of a changeset's errors in the request's locale (`translate_error` each)."""
    return {field: [translate_error(message) for message in messages] for field, messages in errors.items()}


def translate_error(message: str) -> str:
    """A validation message of the core (English, Ecto's wording) in the request's locale.

    Examples:
        translate_error("can't be blank")                           # "darf nicht leer sein" in de
        translate_error("should be at least 12 character(s)")       # "muss mindestens 12 Zeichen lang sein"
        translate_error("something the catalog does not know")      # unchanged
    """
    for pattern, template in _ERROR_PATTERNS:
        if match := pattern.fullmatch(message):
            return gettext.gettext(template, count=match["count"])
    return gettext.gettext(message)


def format_datetime(value: datetime | None, format: DateFormat = "medium", tzinfo: str | None = None) -> str:  # noqa: A002
    """A date and time in the request's locale ("Nov 27, 2026, 2:05:00 PM"; "27.11.2026, 14:05:00" in de).

    Shown in UTC unless `tzinfo` names a time zone ("Europe/Berlin"); "" for None.
    """
    if value is None:
        return ""
    return dates.format_datetime(value, format, tzinfo=dates.get_timezone(tzinfo or "UTC"), locale=get_locale())


def format_date(value: date | datetime | None, format: DateFormat = "medium") -> str:  # noqa: A002
    """A date in the request's locale ("Nov 27, 2026"; "27.11.2026" in de); "" for None."""
    if value is None:
        return ""
    return dates.format_date(value, format, locale=get_locale())


def format_time(value: time | datetime | None, format: DateFormat = "short", tzinfo: str | None = None) -> str:  # noqa: A002
    """A time of day in the request's locale ("2:05 PM"; "14:05" in de), in UTC unless `tzinfo`; "" for None."""
    if value is None:
        return ""
    return dates.format_time(value, format, tzinfo=dates.get_timezone(tzinfo or "UTC"), locale=get_locale())


def format_timedelta(value: timedelta | None, *, add_direction: bool = False, granularity: str = "second") -> str:
    """A duration in words ("3 minutes"; "3 Minuten" in de); `add_direction` for "in 3 minutes"/"3 minutes ago"."""
    if value is None:
        return ""
    return dates.format_timedelta(
        value,
        granularity=granularity,  # type: ignore[arg-type]
        add_direction=add_direction,
        locale=get_locale(),
    )


def format_number(value: Number | None) -> str:
    """A number with the locale's separators ("1,234.5"; "1.234,5" in de); "" for None."""
    return format_decimal(value)


def format_decimal(value: Number | None, format: str | None = None) -> str:  # noqa: A002
    """A decimal number in the locale (optionally with a Babel pattern, e.g. "#,##0.00"); "" for None."""
    if value is None:
        return ""
    return numbers.format_decimal(value, format=format, locale=get_locale())


def format_percent(value: Number | None) -> str:
    """A ratio as a percentage (0.25 → "25%"; "25 %" in de); "" for None."""
    if value is None:
        return ""
    return numbers.format_percent(value, locale=get_locale())


def format_currency(value: Number | str | None, currency: str = "EUR") -> str:
    """An amount of money ("€19.99"; "19,99 €" in de). Money travels as a decimal string: "19.99" works too."""
    if value is None or value == "":
        return ""
    return numbers.format_currency(Decimal(value) if isinstance(value, str) else value, currency, locale=get_locale())


FILTERS = {
    "format_datetime": format_datetime,
    "format_date": format_date,
    "format_time": format_time,
    "format_timedelta": format_timedelta,
    "format_number": format_number,
    "format_decimal": format_decimal,
    "format_percent": format_percent,
    "format_currency": format_currency,
    "translate_error": translate_error,
}


def install(environment: Environment) -> None:
    """Give a Jinja2 environment translations (`_`, `{% trans %}`), the locale and the formatting filters."""
    gettext.install_jinja(environment)
    environment.filters.update(FILTERS)
    environment.globals["locale_choices"] = locale_choices
    environment.globals["translate_error"] = translate_error
