"""Translations (the seed's `MyAppWeb.Gettext`, in the core so emails are translated too).

The locale of the work in hand is a context variable: the web layer sets it per request
(`my_app_web.gettext`), a job sets it from the user it writes to. `gettext("Log in")` translates
into that locale; `%(name)s` placeholders are filled after translation.

Examples:
    with use_locale("de"):
        gettext("Log in")                        # "Anmelden" (once the catalog has it)
    gettext("Hello %(name)s", name="Ada")        # "Hello Ada"
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

DEFAULT_LOCALE = "en"
LOCALES = ("en",)

_locale: ContextVar[str] = ContextVar("locale", default=DEFAULT_LOCALE)


def get_locale() -> str:
    return _locale.get()


@contextmanager
def use_locale(locale: str) -> Iterator[None]:
    token = _locale.set(locale if locale in LOCALES else DEFAULT_LOCALE)
    try:
        yield
    finally:
        _locale.reset(token)


def gettext(message: str, **variables: Any) -> str:
    return message % variables if variables else message


def ngettext(singular: str, plural: str, n: int, **variables: Any) -> str:
    message = singular if n == 1 else plural
    return message % {"num": n, **variables}
