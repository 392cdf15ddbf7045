"""`myapp assets digest` / `clean`: a release's digested static files, and the core/web layering."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import typer
from typer.testing import CliRunner

from my_app.cli import assets
from tests.support.processes import PROJECT_ROOT, child_env, plain

cli = typer.Typer()
cli.add_typer(assets.app, name="assets")
SOURCE = PROJECT_ROOT / "src" / "my_app_web" / "static"


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, ["assets", *args], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    return plain(result.output)


def test_digest_copies_every_static_file_under_its_digest_and_lists_them(tmp_path: Path) -> None:
    out = tmp_path / "priv" / "static"

    output = run("digest", "--output", str(out))

    sources = sorted(path.relative_to(SOURCE).as_posix() for path in SOURCE.rglob("*") if path.is_file())
    manifest = (out / "cache_manifest.json").read_text()
    for logical in sources:
        assert logical in output
        assert f'"{logical}"' in manifest
    assert (out / "vendor" / "phoenix@1.8.16").is_dir()
    assert len(list((out / "vendor" / "phoenix@1.8.16").glob("phoenix-*.mjs"))) == 1
    assert f"✓ {len(sources)} files digested into {out} ({len(sources)} new, and cache_manifest.json)" in output

    again = run("digest", "--output", str(out), "--quiet")

    assert again.strip() == f"✓ {len(sources)} files digested into {out} (0 new, and cache_manifest.json)"


def test_clean_removes_old_digests_and_all_of_them_with_all(tmp_path: Path) -> None:
    out = tmp_path / "built"
    run("digest", "--output", str(out), "--quiet")

    assert run("clean", "--output", str(out)).strip() == f"✓ removed 0 digested files from {out}"
    assert (out / "cache_manifest.json").exists()
    assert "✓ removed" in run("clean", "--all", "--output", str(out))
    assert not out.exists()


def test_the_command_reaches_the_web_layer_only_when_it_runs() -> None:
    # The core never imports my_app_web (import-linter); the CLI reaches it by import string.
    check = "import sys, my_app.cli; assert 'my_app_web' not in sys.modules, 'imported at start-up'"
    result = subprocess.run(
        [sys.executable, "-c", check], cwd=PROJECT_ROOT, env=child_env(), capture_output=True, text=True, check=False
    )

    assert result.returncode == 0, result.stderr
