"""Translations: the catalogs, the locale of the work in hand, and that German is complete."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from jinja2 import Environment

from my_app import gettext
from my_app.cli.gettext import coverage, extract_messages, read_catalog
from my_app.gettext import gettext as _
from my_app.gettext import ngettext, use_locale


def test_the_default_locale_is_english_and_strings_pass_through() -> None:
    assert gettext.get_locale() == "en"
    assert _("Log in") == "Log in"
    assert _("Hi %(name)s,", name="Ada") == "Hi Ada,"


def test_german_translates_and_fills_placeholders_after_translating() -> None:
    with use_locale("de"):
        assert gettext.get_locale() == "de"
        assert _("Log in") == "Anmelden"
        assert _("Hi %(name)s,", name="Ada") == "Hallo Ada,"
        assert _("a string no catalog has") == "a string no catalog has"
    assert _("Log in") == "Log in"


def test_a_percent_sign_is_safe_without_variables_and_placeholders_are_filled_once() -> None:
    assert _("100% sure") == "100% sure"
    # A value that looks like a placeholder is not formatted again.
    assert _("Hi %(name)s,", name="%(name)s") == "Hi %(name)s,"
    assert ngettext("%(num)s user", "%(num)s users", 1) == "1 user"
    assert ngettext("%(num)s user", "%(num)s users", 3) == "3 users"


def test_unknown_or_regional_locales_fall_back_or_narrow_to_a_known_one() -> None:
    assert gettext.known_locale("de-CH") == "de"
    assert gettext.known_locale("DE_at") == "de"
    assert gettext.known_locale("fr") is None
    assert gettext.known_locale(None) is None
    with use_locale("fr"):
        assert gettext.get_locale() == "en"
    with use_locale("de-AT"):
        assert gettext.get_locale() == "de"


async def test_each_task_keeps_its_own_locale() -> None:
    async def greet(locale: str) -> str:
        with use_locale(locale):
            await asyncio.sleep(0.01)  # the other task runs meanwhile
            return _("Log in")

    assert await asyncio.gather(greet("de"), greet("en"), greet("de")) == ["Anmelden", "Log in", "Anmelden"]


def jinja() -> Environment:
    environment = Environment(autoescape=True, extensions=["jinja2.ext.i18n"])
    gettext.install_jinja(environment)
    return environment


def test_templates_translate_escape_values_and_format_once() -> None:
    environment = jinja()
    page = environment.from_string(
        '<html lang="{{ current_locale() }}">{{ _("Log in") }} {{ _("Hi %(name)s,", name=name) }} '
        '{{ ngettext("%(num)s%% done", "%(num)s%% done", 5) }} {{ _("100%% sure") }}'
    )

    assert page.render(name="<b>Ada</b>") == '<html lang="en">Log in Hi &lt;b&gt;Ada&lt;/b&gt;, 5% done 100% sure'
    with use_locale("de"):
        assert page.render(name="Ada") == '<html lang="de">Anmelden Hallo Ada, 5% done 100% sure'


def test_trans_blocks_translate_too() -> None:
    page = jinja().from_string("{% trans %}Log in{% endtrans %}|{% trans name=name %}Hi {{ name }},{% endtrans %}")

    with use_locale("de"):
        assert page.render(name="Ada") == "Anmelden|Hallo Ada,"


def test_fuzzy_translations_are_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    catalogs = tmp_path / "gettext"
    po = gettext.catalog_path("de", catalogs)
    po.parent.mkdir(parents=True)
    po.write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=utf-8\\n"\n\n'
        'msgid "Log in"\nmsgstr "Anmelden"\n\n#, fuzzy\nmsgid "Log out"\nmsgstr "Abmelden?"\n',
        encoding="utf-8",
    )
    monkeypatch.setattr(gettext, "CATALOGS_PATH", catalogs)
    gettext.reload()
    try:
        with use_locale("de"):
            assert (_("Log in"), _("Log out")) == ("Anmelden", "Log out")
    finally:
        monkeypatch.undo()
        gettext.reload()


# --- The catalogs are complete ---


def test_every_string_of_the_code_is_translated_in_every_locale() -> None:
    """Fails when a template or Python string is missing from a catalog, untranslated or fuzzy.

    Fix: `myapp gettext extract && myapp gettext merge`, then translate what merge lists in
    src/my_app/priv/gettext/<locale>/LC_MESSAGES/messages.po.
    """
    template = extract_messages()
    assert len(template) > 50  # the extractor found the code's strings (emails, validation messages...)
    for locale in gettext.LOCALES:
        if locale == gettext.DEFAULT_LOCALE:
            continue
        result = coverage(template, read_catalog(gettext.catalog_path(locale), locale))
        assert result.missing == [], f"{locale}: not in the catalog (run myapp gettext extract && merge)"
        assert result.untranslated == [], f"{locale}: untranslated"
        assert result.fuzzy == [], f"{locale}: fuzzy, to check"
        assert result.errors == [], f"{locale}: placeholders differ from the English"


def test_the_template_and_the_english_catalog_hold_what_the_code_says() -> None:
    from my_app.cli.gettext import TEMPLATE_NAME, same_messages

    template = extract_messages()
    assert same_messages(read_catalog(gettext.CATALOGS_PATH / TEMPLATE_NAME), template), (
        "messages.pot is out of date: run `myapp gettext extract && myapp gettext merge`"
    )
    english = read_catalog(gettext.catalog_path("en"), "en")
    assert coverage(template, english).missing == []


def test_catalogs_ship_inside_the_package() -> None:
    assert gettext.CATALOGS_PATH.is_relative_to(Path(gettext.__file__).parent)
    for locale in gettext.LOCALES:
        assert gettext.catalog_path(locale).is_file()
