"""What `myapp gen` generates for: the resource's names (Phoenix's `Mix.Phoenix.Schema` and
`Context`), read from the command line and checked against the project before anything is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

from my_app.cli.gen.fields import IDENTIFIER, Field, FieldError, Reference

CAMEL: Final = re.compile(r"[A-Z][A-Za-z0-9]*")
# Tables every test can build a row for without arguments: (fixtures module, awaitable call).
# Generated schemas add theirs by name (`<singular>_fixture()` in their context's fixtures).
KNOWN_FIXTURES: Final = {
    "users": ("tests.support.fixtures.accounts", "user_fixture()"),
    "categories": ("tests.support.fixtures.catalog", "category_fixture()"),
    "products": ("tests.support.fixtures.catalog", "product_fixture()"),
}
# Modules of `my_app` that are not contexts: a context may not take their name.
_TAKEN_MODULE_NAMES: Final = frozenset({"cli", "priv", "workers", "pubsub"})


def snake(name: str) -> str:
    """ "BlogTag" → "blog_tag"."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def humanize(snake_name: str) -> str:
    """ "blog_tags" → "Blog tags"."""
    return snake_name.replace("_", " ").capitalize()


@dataclass(frozen=True)
class Context:
    name: str  # "Catalog"
    module: str  # "catalog": the package my_app.catalog
    exists: bool  # the package was there before this run


@dataclass(frozen=True)
class Resource:
    """One schema and everything generated around it. Templates read these as `r.<name>`."""

    context: Context
    schema: str  # "Review"
    plural: str  # "reviews" (the table)
    fields: list[Field]
    web: str | None = None  # "Admin": pages under /admin, modules under an admin/ package
    live: bool = True  # gen live (pages with PubSub updates) or gen html (the same pages, not live)

    @property
    def singular(self) -> str:
        return snake(self.schema)

    @property
    def table(self) -> str:
        return self.plural

    @property
    def human(self) -> str:
        return humanize(self.singular)

    @property
    def human_plural(self) -> str:
        return humanize(self.plural)

    @property
    def topic(self) -> str:
        return f"{self.context.module}:{self.plural}"

    @property
    def topic_const(self) -> str:
        return f"{self.plural.upper()}_TOPIC"

    @property
    def web_module(self) -> str:
        return snake(self.web) if self.web else ""

    @property
    def route_prefix(self) -> str:
        return f"/{self.web_module}/{self.plural}" if self.web else f"/{self.plural}"

    @property
    def route_name(self) -> str:
        return f"{self.web_module}_{self.singular}" if self.web else self.singular

    @property
    def references(self) -> list[Field]:
        return [item for item in self.fields if item.kind == "references"]

    @property
    def has_unique(self) -> bool:
        return any(item.unique for item in self.fields)

    @property
    def schema_module(self) -> str:
        """ "my_app.catalog.review"."""
        return f"my_app.{self.context.module}.{self.singular}"

    @property
    def schema_file(self) -> str:
        """ "src/my_app/catalog/review.py"."""
        return f"src/my_app/{self.context.module}/{self.singular}.py"

    def web_path(self, *parts: str) -> str:
        """A path under the web namespace: web_path("live") → "live/admin" with --web Admin."""
        return "/".join([*parts, self.web_module] if self.web else list(parts))


def check_camel(kind: str, name: str) -> str:
    if not CAMEL.fullmatch(name):
        raise FieldError(f"{name!r} is not a {kind} name: CamelCase letters and digits, e.g. Catalog")
    return name


def check_table(name: str) -> str:
    if not IDENTIFIER.fullmatch(name):
        raise FieldError(f"{name!r} is not a table name: lowercase letters, digits and _, e.g. reviews")
    return name


def context_of(root: Path, name: str) -> Context:
    module = snake(check_camel("context", name))
    package = root / "src" / "my_app" / module
    if module in _TAKEN_MODULE_NAMES or (root / "src" / "my_app" / f"{module}.py").exists():
        raise FieldError(f"{name}: my_app.{module} is not a context (a module of that name exists); pick another name")
    return Context(name=name, module=module, exists=(package / "__init__.py").exists())


def resolve_references(
    root: Path, fields: list[Field], tables: dict[str, tuple[str, str]], *, need_fixture: bool
) -> list[Field]:
    """Each references field with what it points at; FieldError for an unknown table.

    `tables` maps every table the schemas define to its schema: (module, class name), e.g.
    `("my_app.catalog.category", "Category")`.
    """
    resolved = []
    for item in fields:
        if item.kind != "references":
            resolved.append(item)
            continue
        table = item.references or ""
        found = tables.get(table)
        if found is None:
            raise FieldError(f"{item.name}: no schema has the table {table!r} (known: {', '.join(sorted(tables))})")
        module, class_name = found
        context_module, schema_module = module.rsplit(".", 1)
        fixture_module, fixture_call = _fixture_for(root, table, context_module, schema_module)
        if need_fixture and fixture_call is None:
            raise FieldError(
                f"{item.name}: the tests need a record of {table!r} and no fixture builds one without arguments"
                f" (add `async def {schema_module}_fixture(**attrs)` to tests/support/fixtures/"
                f"{context_module.removeprefix('my_app.')}.py)"
            )
        reference = Reference(
            table=table,
            schema=class_name,
            context_module=context_module,
            fixture_module=fixture_module,
            fixture_call=fixture_call,
        )
        resolved.append(replace(item, ref=reference))
    return resolved


def _fixture_for(root: Path, table: str, context_module: str, schema_module: str) -> tuple[str | None, str | None]:
    if table in KNOWN_FIXTURES:
        return KNOWN_FIXTURES[table]
    context = context_module.removeprefix("my_app.")
    fixtures = root / "tests" / "support" / "fixtures" / f"{context}.py"
    call = f"{schema_module}_fixture"
    # A fixture the tests can call with no arguments (a generated one takes only optional ones).
    no_arguments = re.compile(rf"^async def {call}\(\s*(scope: Scope \| None = None|\*\*|\*,|\))", re.M)
    if fixtures.exists() and no_arguments.search(fixtures.read_text()):
        return f"tests.support.fixtures.{context}", f"{call}()"
    return None, None
