"""Translations (the seed's `MyAppWeb.Gettext`, in the core so emails are translated too).

The locale of the work in hand is a context variable: the web layer sets it per request
(`my_app_web.gettext`), an email is built in its recipient's locale (`my_app.emails`).
`gettext("Log in")` translates into that locale; `%(name)s` placeholders are filled after
translation, and only when variables are given (so `gettext("100%")` is safe, while a message
with variables writes a literal percent sign as `%%`). `ngettext` always fills `%(num)s`.

Catalogs are the `.po` files in `priv/gettext/<locale>/LC_MESSAGES/messages.po`, read with Babel
the first time a locale is used (no compiled `.mo` files to build or commit: the `.po` files ship
inside the package, so an installed wheel translates as a checkout does). Fuzzy entries are left
out, as `msgfmt` leaves them out: an unreviewed translation shows the English text.
`myapp gettext extract` and `myapp gettext merge` keep the catalogs in step with the code.

Templates call `translate`/`translate_plural` (Jinja2's i18n extension formats them itself, so
they return the translation unformatted); Python code calls `gettext`/`ngettext`.

Examples:
    with use_locale("de"):
        gettext("Log in")                        # "Anmelden"
        ngettext("%(num)s user", "%(num)s users", 3)  # "3 Benutzer"
    gettext("Hello %(name)s", name="Ada")        # "Hello Ada"
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

if TYPE_CHECKING:
    # For annotations only: commands that never render a template (most of `myapp`) skip Jinja2.
    from jinja2 import Environment

DEFAULT_LOCALE = "en"
# The source language first; every other locale has a complete catalog (tests check it).
LOCALES = ("en", "de")
DOMAIN = "messages"
CATALOGS_PATH = Path(__file__).parent / "priv" / "gettext"

_locale: ContextVar[str] = ContextVar("locale", default=DEFAULT_LOCALE)
_loading = threading.Lock()


def get_locale() -> str:
    """The locale of the work in hand ("en" unless a request or an email chose another)."""
    return _locale.get()


def known_locale(locale: str | None) -> str | None:
    """`locale` if the app speaks it ("de", "de-DE", "de_AT" all give "de"), else None.

    Examples:
        known_locale("de-CH")   # "de"
        known_locale("fr")      # None
    """
    if not locale:
        return None
    language = locale.replace("-", "_").split("_", 1)[0].lower()
    return language if language in LOCALES else None


def set_locale(locale: str | None) -> None:
    """Make `locale` (or the default, for one the app does not speak) current in this context.

    Prefer `use_locale` where a block has an end; this is for a request's handler, whose context
    ends with the request.
    """
    _locale.set(known_locale(locale) or DEFAULT_LOCALE)


@contextmanager
def use_locale(locale: str | None) -> Iterator[None]:
    """Translate into `locale` inside the block (the default for None or one the app does not speak)."""
    token = _locale.set(known_locale(locale) or DEFAULT_LOCALE)
    try:
        yield
    finally:
        _locale.reset(token)


def gettext(message: str, **variables: Any) -> str:
    """`message` in the current locale, `%`-formatted with `variables` when there are any."""
    translated = translate(message)
    return translated % variables if variables else translated


def ngettext(singular: str, plural: str, n: int, **variables: Any) -> str:
    """The form of the message for `n` in the current locale, formatted with `num` (= n) and `variables`."""
    return translate_plural(singular, plural, n) % {"num": n, **variables}


def N_(message: str) -> str:  # noqa: N802 - gettext's own name for it, which the extractor knows
    """Mark `message` for the catalog without translating it yet (it is translated where it is used).

    Examples:
        SUBJECT = N_("Welcome to %(app_name)s")     # extracted; later: gettext(SUBJECT, app_name=...)
    """
    return message


def translate(message: str) -> str:
    """`message` in the current locale, unformatted (what Jinja2's newstyle `_()` calls)."""
    return translations(get_locale()).gettext(message)


def translate_plural(singular: str, plural: str, n: int) -> str:
    """The form for `n` in the current locale, unformatted (what Jinja2's newstyle `ngettext` calls)."""
    return translations(get_locale()).ngettext(singular, plural, n)


def install_jinja(environment: Environment) -> None:
    """`_()`, `gettext`, `ngettext`, `{% trans %}` and `current_locale()` in a Jinja2 environment's templates.

    Newstyle gettext: `{{ _("Hello %(name)s", name=user.name) }}`, values autoescaped. Jinja2 formats
    every such string itself, so it is given the unformatted `translate` functions (given
    `gettext`/`ngettext`, a plural would be formatted twice), and a literal percent sign in a
    template's message is always `%%`.
    """
    if "jinja2.ext.InternationalizationExtension" not in environment.extensions:
        environment.add_extension("jinja2.ext.i18n")
    environment.install_gettext_callables(translate, translate_plural, newstyle=True)  # type: ignore[attr-defined]
    environment.globals["current_locale"] = get_locale


def catalog_path(locale: str, root: Path | None = None) -> Path:
    """Where `locale`'s catalog lives: `<root>/<locale>/LC_MESSAGES/messages.po` (root: the package's)."""
    return (root or CATALOGS_PATH) / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


def translations(locale: str) -> NullTranslations:
    """The loaded catalog of `locale` (read once; the source locale and a missing file translate nothing)."""
    with _loading:  # the first requests may arrive together, on several threads
        return _load(locale)


@cache
def _load(locale: str) -> NullTranslations:
    path = catalog_path(locale)
    if locale == DEFAULT_LOCALE or not path.is_file():
        return NullTranslations()
    with path.open("rb") as po_file:
        catalog = read_po(po_file, locale=locale, domain=DOMAIN)
    # Compiled in memory, as msgfmt would (fuzzy entries left out), and read back as a GNU catalog.
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def reload() -> None:
    """Forget the loaded catalogs, so the next use reads the `.po` files again (after a merge)."""
    with _loading:
        _load.cache_clear()
