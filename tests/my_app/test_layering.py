"""The layering contracts (pyproject.toml's [tool.importlinter], run by `myapp check`) cover every
context, generated ones included, without a list to keep up to date."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

from my_app.schema_registry import CONTEXTS
from tests.support.processes import PROJECT_ROOT


def contract(contract_id: str) -> dict[str, Any]:
    contracts: list[dict[str, Any]] = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["tool"][
        "importlinter"
    ]["contracts"]
    [found] = [candidate for candidate in contracts if candidate.get("id") == contract_id]
    return found


def test_the_core_and_every_context_in_it_never_import_the_web_layer() -> None:
    rule = contract("core-never-imports-web")
    assert rule["source_modules"] == ["my_app"]
    assert rule["forbidden_modules"] == ["my_app_web"]
    assert all(module.startswith("my_app.") for module in CONTEXTS)


def test_nothing_but_the_cli_imports_the_cli() -> None:
    rule = contract("only-the-cli-imports-the-cli")
    assert rule["type"] == "protected"
    assert (rule["protected_modules"], rule["allowed_importers"]) == (["my_app.cli"], ["my_app.cli"])


def test_a_context_importing_the_cli_breaks_the_contract(tmp_path: Path) -> None:
    # A copy of the packages with one context importing the CLI: lint-imports says which contract broke.
    for package in ("my_app", "my_app_web"):
        _copy(PROJECT_ROOT / "src" / package, tmp_path / "src" / package)
    (tmp_path / "pyproject.toml").write_text((PROJECT_ROOT / "pyproject.toml").read_text())
    export = tmp_path / "src" / "my_app" / "catalog" / "export.py"
    export.write_text(export.read_text() + "\nimport my_app.cli.db  # noqa: E402, F401\n")

    result = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports")],
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path / "src"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode != 0
    assert "Nothing but the CLI imports the CLI" in result.stdout
    assert "my_app.catalog.export -> my_app.cli.db" in result.stdout


def _copy(source: Path, target: Path) -> None:
    for path in source.rglob("*.py"):
        destination = target / path.relative_to(source)
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_text(path.read_text())
