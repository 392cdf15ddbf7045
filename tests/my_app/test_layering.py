"""The layering contracts (pyproject.toml's [tool.importlinter], run by `myapp check`) cover every context."""

from __future__ import annotations

import tomllib
from typing import Any

from my_app.schema_registry import CONTEXTS
from tests.support.processes import PROJECT_ROOT


def contract(contract_id: str) -> dict[str, Any]:
    contracts: list[dict[str, Any]] = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["tool"][
        "importlinter"
    ]["contracts"]
    [found] = [candidate for candidate in contracts if candidate.get("id") == contract_id]
    return found


def test_every_context_is_forbidden_to_import_the_web_layer_and_the_cli() -> None:
    # A context is the package of a schema module in CONTEXTS (`myapp gen context` appends there).
    packages = {module.rsplit(".", 1)[0] if module.count(".") > 1 else module for module in CONTEXTS}
    rule = contract("contexts-never-import-web-or-cli")

    assert packages <= set(rule["source_modules"]), "add the new context to the contract's source_modules"
    assert set(rule["forbidden_modules"]) == {"my_app_web", "my_app.cli"}
