"""`myapp gettext extract` / `myapp gettext merge`: keep the catalogs in step with the code
(the seed's `mix gettext.extract --merge`).

`extract` reads every translatable string into `priv/gettext/messages.pot`: from Python
(`_("...")`, `gettext`, `ngettext`, `N_`) in `my_app` and `my_app_web`, and from Jinja2 templates
(`{{ _("...") }}`, `{% trans %}`) in `my_app_web/templates`, `my_app_web/components` and the
emails' `my_app/priv/templates/email`. `merge` brings each locale's `messages.po` up to date with
it: translations are kept, new strings arrive untranslated, strings that changed a little are
marked fuzzy with their old translation (to review), strings no longer used are kept at the end
as obsolete (`#~`) and come back translated if the code uses them again.

The functions below are what the commands and the catalog tests call (`extract_messages`,
`merge_catalog`, `problems`).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from my_app import gettext
from my_app.cli._output import abort, console, info, warn

if TYPE_CHECKING:
    from babel.messages.catalog import Catalog, Message

# `myapp --help` loads this module: babel's extractors and catalogs, and rich's tables, are
# imported inside the functions that use them.

app = typer.Typer(
    help=(
        "Keep the translation catalogs in step with the code (mix gettext.extract --merge).\n\n"
        "Examples:\n\n  myapp gettext extract\n\n  myapp gettext merge\n\n"
        "  myapp gettext extract --check   # in CI: fail if messages.pot is out of date"
    ),
    no_args_is_help=True,
)

# The folder that holds the `my_app` and `my_app_web` packages (`src/` in a checkout).
SOURCE_ROOT = Path(gettext.__file__).resolve().parent.parent
TEMPLATE_NAME = f"{gettext.DOMAIN}.pot"
PROJECT = "MyApp"
# `# Translators: ...` comments above a string travel to the catalog, for the translator.
COMMENT_TAGS = ("Translators:",)
HEADER_COMMENT = (
    "# The strings of MyApp to translate: written by `myapp gettext extract`, do not edit.\n"
    "# Each locale's messages.po is updated from it by `myapp gettext merge`."
)
_JINJA = "jinja2.ext:babel_extract"
_JINJA_OPTIONS = {"extensions": "jinja2.ext.i18n", "trimmed": "false"}
# Per package: (pattern relative to the package, extractor), the first that matches a file wins.
METHOD_MAPS: dict[str, list[tuple[str, str]]] = {
    "my_app": [
        ("priv/migrations/**", "ignore"),
        ("priv/templates/email/**.html", _JINJA),
        ("priv/templates/email/**.txt", _JINJA),
        ("**.py", "python"),
    ],
    "my_app_web": [
        ("static/**", "ignore"),
        ("templates/**.html", _JINJA),
        ("components/**.html", _JINJA),
        ("**.py", "python"),
    ],
}
# The emails' environment trims blocks; their `{% trans %}` blocks are extracted as they render.
_OPTIONS: dict[str, dict[str, dict[str, str]]] = {
    "my_app": {
        "priv/templates/email/**.html": {**_JINJA_OPTIONS, "trim_blocks": "true", "lstrip_blocks": "true"},
        "priv/templates/email/**.txt": {**_JINJA_OPTIONS, "trim_blocks": "true", "lstrip_blocks": "true"},
    },
    "my_app_web": {
        "templates/**.html": _JINJA_OPTIONS,
        "components/**.html": _JINJA_OPTIONS,
    },
}


def extract_messages(source_root: Path = SOURCE_ROOT) -> Catalog:
    """Every translatable string of the code under `source_root`, as a template catalog (a .pot).

    Locations are paths relative to `source_root`, without line numbers (they would change the
    catalogs on every edit above a string).
    """
    from babel.messages.catalog import Catalog
    from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir

    template = Catalog(
        project=PROJECT,
        version=None,
        charset="utf-8",
        fuzzy=False,
        header_comment=HEADER_COMMENT,
        copyright_holder=PROJECT,
    )
    for package, method_map in METHOD_MAPS.items():
        directory = source_root / package
        if not directory.is_dir():
            continue
        for filename, lineno, message, comments, context in extract_from_dir(
            str(directory),
            method_map,
            _OPTIONS[package],
            keywords=DEFAULT_KEYWORDS,
            comment_tags=COMMENT_TAGS,
            strip_comment_tags=True,
        ):
            location = (f"{package}/{Path(filename).as_posix()}", lineno)
            template.add(message, None, [location], auto_comments=comments, context=context)
    return template


def read_catalog(path: Path, locale: str | None = None) -> Catalog:
    from babel.messages.pofile import read_po

    with path.open("rb") as po_file:
        return read_po(po_file, locale=locale, domain=gettext.DOMAIN)


def write_catalog(path: Path, catalog: Catalog) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(render_catalog(catalog))


def render_catalog(catalog: Catalog) -> bytes:
    from babel.messages.pofile import write_po

    buffer = io.BytesIO()
    # Grouped by file, no line numbers, no wrapping: diffs show the strings that changed, nothing else.
    write_po(buffer, catalog, width=0, sort_by_file=True, include_lineno=False, include_previous=True)
    return buffer.getvalue()


def same_messages(one: Catalog, other: Catalog) -> bool:
    """True when both hold the same strings from the same files (dates and headers aside)."""

    def key(catalog: Catalog) -> set[tuple[object, ...]]:
        return {
            (
                _key(message),
                message.context,
                tuple(sorted({file for file, _line in message.locations})),
                tuple(message.auto_comments),
            )
            for message in catalog
            if message.id
        }

    return key(one) == key(other)


def merge_catalog(template: Catalog, catalog: Catalog) -> Catalog:
    """`catalog` brought up to date with `template` (msgmerge): see the module's docstring."""
    # Obsolete entries take part like live ones: one the code uses again comes back translated, one
    # close to a new string is offered as its fuzzy translation, the rest stay obsolete.
    for msgid, obsolete in list(catalog.obsolete.items()):
        if msgid not in catalog:
            catalog[msgid] = obsolete
    catalog.obsolete.clear()
    catalog.update(template, no_fuzzy_matching=False, update_header_comment=False, update_creation_date=True)
    return catalog


def new_catalog(locale: str, template: Catalog) -> Catalog:
    from babel.messages.catalog import Catalog

    catalog = Catalog(locale=locale, domain=gettext.DOMAIN, project=PROJECT, charset="utf-8", fuzzy=False)
    catalog.update(template)
    return catalog


@dataclass(frozen=True)
class Coverage:
    """How far a catalog translates its template."""

    total: int
    translated: int
    fuzzy: list[str]
    untranslated: list[str]
    missing: list[str]
    errors: list[str]

    @property
    def complete(self) -> bool:
        return not (self.fuzzy or self.untranslated or self.missing or self.errors)


def coverage(template: Catalog, catalog: Catalog) -> Coverage:
    """What of `template` `catalog` leaves untranslated, fuzzy or missing, and placeholders that disagree."""
    fuzzy: list[str] = []
    untranslated: list[str] = []
    missing: list[str] = []
    errors: list[str] = []
    for message in template:
        if not message.id:
            continue
        name = _name(message)
        translation = catalog.get(message.id, message.context)
        if translation is None:
            missing.append(name)
        elif translation.fuzzy:
            fuzzy.append(name)
        elif not _translated(translation):
            untranslated.append(name)
    for message, message_errors in catalog.check():
        if message.id in template and not message.fuzzy:
            errors.extend(f"{_name(message)}: {error}" for error in message_errors)
    total = sum(1 for message in template if message.id)
    translated = total - len(fuzzy) - len(untranslated) - len(missing)
    return Coverage(total, translated, fuzzy, untranslated, missing, errors)


def _translated(message: Message) -> bool:
    strings = message.string if isinstance(message.string, (list, tuple)) else [message.string]
    return all(strings)


def _key(message: Message) -> object:
    return tuple(message.id) if isinstance(message.id, (list, tuple)) else message.id


def _name(message: Message) -> str:
    return repr(message.id[0] if isinstance(message.id, (list, tuple)) else message.id)


# --- Commands ---


CatalogsOption = Annotated[
    Path,
    typer.Option("--catalogs", help="The catalogs folder (default: the package's priv/gettext).", show_default=False),
]


@app.command()
def extract(
    catalogs: CatalogsOption = gettext.CATALOGS_PATH,
    source: Annotated[
        Path, typer.Option("--source", help="The folder holding my_app/ and my_app_web/.", show_default=False)
    ] = SOURCE_ROOT,
    check: Annotated[
        bool, typer.Option("--check", help="Write nothing; exit 1 if messages.pot is out of date (for CI).")
    ] = False,
) -> None:
    """Collect every translatable string of the code into priv/gettext/messages.pot.

    Python: _("..."), gettext, ngettext, N_ ; templates: {{ _("...") }}, {% trans %}.

    Examples:

      myapp gettext extract

      myapp gettext extract --check
    """
    with console.status("Extracting strings from Python code and templates..."):
        template = extract_messages(source)
    path = catalogs / TEMPLATE_NAME
    current = read_catalog(path) if path.is_file() else None
    files = {file for message in template for file, _line in message.locations}
    if current is not None and same_messages(current, template):
        info(f"{path} is up to date: {len(template)} strings from {len(files)} files")
        return
    if check:
        abort(f"{path} is out of date: run `myapp gettext extract && myapp gettext merge`")
    if current is not None:
        _print_changes(current, template)
    write_catalog(path, template)
    info(f"wrote {path}: {len(template)} strings from {len(files)} files")
    console.print("Next: [bold]myapp gettext merge[/bold], then translate what it lists.")


@app.command()
def merge(
    catalogs: CatalogsOption = gettext.CATALOGS_PATH,
    locales: Annotated[
        list[str] | None,
        typer.Option("--locale", "-l", help="Only this locale (repeatable); default: every locale the app speaks."),
    ] = None,
) -> None:
    """Update each locale's messages.po from messages.pot, keeping its translations.

    New strings arrive untranslated; strings that changed a little are marked fuzzy with their old
    translation to review; strings no longer used stay at the end as obsolete (#~).

    Examples:

      myapp gettext merge

      myapp gettext merge --locale de
    """
    template_path = catalogs / TEMPLATE_NAME
    if not template_path.is_file():
        abort(f"{template_path} does not exist: run `myapp gettext extract` first")
    from rich.table import Table

    template = read_catalog(template_path)
    table = Table("locale", "strings", "translated", "fuzzy", "untranslated", title="Catalogs")
    incomplete: list[tuple[str, Coverage]] = []
    for locale in locales or gettext.LOCALES:
        if gettext.known_locale(locale) != locale:
            abort(f"unknown locale {locale!r}: the app speaks {', '.join(gettext.LOCALES)} (my_app.gettext.LOCALES)")
        path = gettext.catalog_path(locale, catalogs)
        if path.is_file():
            catalog = merge_catalog(template, read_catalog(path, locale))
            # Rewritten only when something changed: a merge that changes nothing leaves no diff.
            if render_catalog(catalog) == path.read_bytes():
                info(f"{path} is up to date")
            else:
                catalog.revision_date = datetime.now().astimezone()
                write_catalog(path, catalog)
                info(f"updated {path}")
        else:
            catalog = new_catalog(locale, template)
            catalog.revision_date = datetime.now().astimezone()
            write_catalog(path, catalog)
            info(f"created {path}")
        result = coverage(template, catalog)
        source = locale == gettext.DEFAULT_LOCALE
        table.add_row(
            locale,
            str(result.total),
            "source language" if source else str(result.translated),
            "" if source else _count(result.fuzzy, "yellow"),
            "" if source else _count(result.untranslated + result.missing, "red"),
        )
        if not source and not result.complete:
            incomplete.append((locale, result))
    gettext.reload()
    console.print(table)
    for locale, result in incomplete:
        warn(f"{locale}: to translate in {gettext.catalog_path(locale, catalogs)}")
        _print_list("fuzzy (check, then remove the fuzzy flag)", result.fuzzy)
        _print_list("untranslated", result.untranslated + result.missing)
        _print_list("placeholders that differ", result.errors)


def _count(items: Sequence[str], colour: str) -> str:
    return f"[{colour}]{len(items)}[/{colour}]" if items else "0"


def _print_list(title: str, items: Iterable[str], limit: int = 20) -> None:
    items = list(items)
    if not items:
        return
    console.print(f"  {title}:", highlight=False, soft_wrap=True)
    for item in items[:limit]:
        console.print(f"    {item}", highlight=False, markup=False, soft_wrap=True)
    if len(items) > limit:
        console.print(f"    ... and {len(items) - limit} more", highlight=False)


def _print_changes(current: Catalog, template: Catalog) -> None:
    before = {_key(message) for message in current if message.id}
    after = {_key(message) for message in template if message.id}
    added, removed = len(after - before), len(before - after)
    console.print(f"[green]+{added}[/green] new, [red]-{removed}[/red] gone since the last extract")
