"""`myapp gettext extract` / `merge`, run on a copy: the real catalogs are never rewritten by tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from my_app import gettext
from my_app.cli import gettext as gettext_cli
from my_app.cli.gettext import TEMPLATE_NAME, read_catalog, render_catalog, write_catalog

cli = typer.Typer()
cli.add_typer(gettext_cli.app, name="gettext")
runner = CliRunner()


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A small code base laid out as ours: Python, page templates, email templates."""
    root = tmp_path / "src"
    write(
        root / "my_app/things.py",
        "from my_app.gettext import gettext as _, ngettext\n\n"
        "def hello(n: int) -> str:\n"
        "    # Translators: shown after sign-up\n"
        '    return _("Python string") + ngettext("%(num)s apple", "%(num)s apples", n)\n',
    )
    write(root / "my_app/priv/migrations/versions/0001.py", '_("not a UI string")\n')
    write(root / "my_app/priv/templates/email/hello.txt", '{{ _("Email string") }}\n')
    write(
        root / "my_app_web/templates/page.html",
        '<h1>{{ _("Template string") }}</h1>{% trans %}Block string{% endtrans %}\n',
    )
    write(root / "my_app_web/components/core.html", '{% macro x() %}{{ _("Component string") }}{% endmacro %}\n')
    write(root / "my_app_web/static/app.js", 'gettext("not extracted");\n')
    return root


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(cli, ["gettext", *args], env={"COLUMNS": "200"})
    return result.exit_code, result.output


def msgids(path: Path) -> set[str]:
    return {
        message.id if isinstance(message.id, str) else message.id[0] for message in read_catalog(path) if message.id
    }


def test_extract_collects_python_templates_and_emails(source: Path, tmp_path: Path) -> None:
    catalogs = tmp_path / "gettext"

    code, output = run("extract", "--source", str(source), "--catalogs", str(catalogs))

    assert code == 0, output
    assert "wrote" in output
    assert "6 strings from 4 files" in output
    pot = read_catalog(catalogs / TEMPLATE_NAME)
    assert msgids(catalogs / TEMPLATE_NAME) == {
        "Python string",
        "%(num)s apple",
        "Email string",
        "Template string",
        "Block string",
        "Component string",
    }
    assert pot["Python string"].auto_comments == ["shown after sign-up"]
    assert [file for file, _line in pot["Template string"].locations] == ["my_app_web/templates/page.html"]

    # Again, with nothing changed: nothing to write.
    code, output = run("extract", "--source", str(source), "--catalogs", str(catalogs))
    assert code == 0
    assert "up to date" in output


def test_extract_check_fails_when_the_template_is_out_of_date(source: Path, tmp_path: Path) -> None:
    catalogs = tmp_path / "gettext"
    run("extract", "--source", str(source), "--catalogs", str(catalogs))
    assert run("extract", "--check", "--source", str(source), "--catalogs", str(catalogs))[0] == 0

    write(source / "my_app_web/templates/new.html", '{{ _("A new string") }}')
    before = (catalogs / TEMPLATE_NAME).read_bytes()
    code, output = run("extract", "--check", "--source", str(source), "--catalogs", str(catalogs))

    assert code == 1
    assert "out of date" in output
    assert (catalogs / TEMPLATE_NAME).read_bytes() == before


def test_merge_creates_catalogs_then_keeps_translations_as_the_code_changes(source: Path, tmp_path: Path) -> None:
    catalogs = tmp_path / "gettext"
    run("extract", "--source", str(source), "--catalogs", str(catalogs))

    code, output = run("merge", "--catalogs", str(catalogs))

    assert code == 0, output
    de_path = gettext.catalog_path("de", catalogs)
    assert gettext.catalog_path("en", catalogs).is_file()
    assert de_path.is_file()
    assert "untranslated" in output
    assert "'Template string'" in output

    # A translator fills in German.
    german = read_catalog(de_path, "de")
    german["Python string"].string = "Python-Text"
    german["Template string"].string = "Vorlagentext"
    german["Block string"].string = "Blocktext"
    german["%(num)s apple"].string = ("%(num)s Apfel", "%(num)s Äpfel")
    write_catalog(de_path, german)

    # The code changes: one string edited a little, one removed, one added.
    write(source / "my_app_web/templates/page.html", '<h1>{{ _("Template strings") }}</h1>{{ _("Brand new") }}\n')
    run("extract", "--source", str(source), "--catalogs", str(catalogs))
    code, output = run("merge", "--catalogs", str(catalogs), "--locale", "de")

    assert code == 0, output
    german = read_catalog(de_path, "de")
    assert german["Python string"].string == "Python-Text"
    assert german["%(num)s apple"].string == ("%(num)s Apfel", "%(num)s Äpfel")
    assert german["Template strings"].fuzzy
    assert german["Template strings"].string == "Vorlagentext"
    assert german["Brand new"].string == ""
    assert "Block string" not in german
    assert "Block string" in german.obsolete

    # The removed string comes back: so does its translation.
    write(source / "my_app_web/templates/page.html", "{% trans %}Block string{% endtrans %}\n")
    run("extract", "--source", str(source), "--catalogs", str(catalogs))
    run("merge", "--catalogs", str(catalogs))
    german = read_catalog(de_path, "de")
    assert german["Block string"].string == "Blocktext"
    assert not german["Block string"].fuzzy


def test_merge_refuses_without_a_template_or_for_a_locale_we_do_not_speak(tmp_path: Path, source: Path) -> None:
    catalogs = tmp_path / "gettext"
    code, output = run("merge", "--catalogs", str(catalogs))
    assert code == 1
    assert "myapp gettext extract" in output

    run("extract", "--source", str(source), "--catalogs", str(catalogs))
    code, output = run("merge", "--catalogs", str(catalogs), "--locale", "fr")
    assert code == 1
    assert "unknown locale 'fr'" in output


def test_the_real_catalogs_are_up_to_date_and_merge_changes_no_translation(tmp_path: Path) -> None:
    catalogs = tmp_path / "gettext"
    shutil.copytree(gettext.CATALOGS_PATH, catalogs)
    real = {path: path.read_bytes() for path in gettext.CATALOGS_PATH.rglob("*.po*")}

    code, output = run("extract", "--check", "--catalogs", str(catalogs))
    assert code == 0, output
    code, output = run("merge", "--catalogs", str(catalogs))
    assert code == 0, output
    assert "to translate" not in output

    german = gettext.catalog_path("de", catalogs)
    original = gettext.catalog_path("de")
    assert [(m.id, m.string) for m in read_catalog(german, "de") if m.id] == [
        (m.id, m.string) for m in read_catalog(original, "de") if m.id
    ]
    assert "up to date" in output  # nothing changed, nothing rewritten
    assert {path: path.read_bytes() for path in gettext.CATALOGS_PATH.rglob("*.po*")} == real


def test_catalogs_are_written_without_line_numbers_or_wrapping(source: Path, tmp_path: Path) -> None:
    catalogs = tmp_path / "gettext"
    run("extract", "--source", str(source), "--catalogs", str(catalogs))

    text = render_catalog(read_catalog(catalogs / TEMPLATE_NAME)).decode()

    assert "#: my_app_web/templates/page.html\n" in text
    assert "page.html:1" not in text


def test_the_command_is_registered_with_examples() -> None:
    from my_app.cli import app

    result = runner.invoke(app, ["gettext", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "myapp gettext extract" in result.output
    assert "myapp gettext merge" in result.output
