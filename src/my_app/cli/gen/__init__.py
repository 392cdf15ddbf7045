"""`myapp gen ...`: the seed's `mix phx.gen.*` generators, migrations and secrets.

    myapp gen schema Blog.Tag tags name:string slug:string:unique
    myapp gen context Catalog Review reviews body:text rating:integer product_id:references:products
    myapp gen json Catalog Review reviews ...      # + the JSON API
    myapp gen live Catalog Review reviews ...      # + live pages (gen html: the same pages, not live)
    myapp gen channel Lobby                        # a channel on UserSocket
    myapp gen presence                             # a Presence module for channels

Each generator plans every file first (rendered from the Jinja2 templates in `templates/`,
formatted with ruff), then refuses with one line and writes nothing, or writes them all.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from my_app.cli._output import abort, console, info
from my_app.cli.db import current_settings, database_errors, target

if TYPE_CHECKING:
    from my_app.cli.gen import builders
    from my_app.cli.gen.plan import Plan

# `myapp --help` loads this module: the builders (Alembic, Jinja2, pydantic) are imported inside
# the commands that generate, so `myapp gen secret` and the others start in a fraction of a second.

# my_app.config.MIN_SECRET_KEY_BYTES, for `gen secret` without loading the settings (a test keeps
# them equal).
MIN_SECRET_KEY_BYTES = 64

app = typer.Typer(
    help="Generate code (mix phx.gen.*): schemas, contexts, JSON APIs, live pages, channels, migrations.",
    no_args_is_help=True,
)

FieldsArg = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="FIELD",
        help="name:type[:unique][:redact]. Types: string text integer float decimal boolean date time"
        " utc_datetime uuid map array:<type> enum:<a>:<b>... references:<table>",
        show_default=False,
    ),
]
ContextArg = Annotated[str, typer.Argument(metavar="CONTEXT", help="e.g. Catalog", show_default=False)]
SchemaArg = Annotated[str, typer.Argument(metavar="SCHEMA", help="e.g. Review", show_default=False)]
PluralArg = Annotated[str, typer.Argument(metavar="PLURAL", help="The table, e.g. reviews", show_default=False)]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Print what would be written; write nothing.")]
Force = Annotated[bool, typer.Option("--force", help="Overwrite files that exist.")]
Web = Annotated[
    str | None, typer.Option("--web", help="A web namespace, e.g. Admin: pages under /admin, modules in admin/.")
]
NoSchema = Annotated[bool, typer.Option("--no-schema", help="The schema exists: generate the rest for it.")]
NoContext = Annotated[bool, typer.Option("--no-context", help="The context and schema exist: generate the web part.")]


@app.command()
def schema(
    name: Annotated[str, typer.Argument(metavar="CONTEXT.SCHEMA", help="e.g. Blog.Tag", show_default=False)],
    plural: PluralArg,
    fields: FieldsArg = None,
    dry_run: DryRun = False,
    force: Force = False,
) -> None:
    """A schema module and its migration (mix phx.gen.schema).

    Example: myapp gen schema Blog.Tag tags name:string slug:string:unique
    """
    from my_app.cli.gen import builders

    context, _, schema_name = name.partition(".")
    if not schema_name:
        abort(f"{name!r}: name the schema with its context, e.g. Blog.Tag")
    _run(lambda plan: builders.schema(plan, context, schema_name, plural, fields or []), dry_run, force)


@app.command()
def context(
    context_name: ContextArg,
    schema_name: SchemaArg,
    plural: PluralArg,
    fields: FieldsArg = None,
    no_schema: NoSchema = False,
    dry_run: DryRun = False,
    force: Force = False,
) -> None:
    """A schema, its migration and scoped context functions with tests and fixtures (mix phx.gen.context).

    Example: myapp gen context Catalog Review reviews body:text rating:integer product_id:references:products
    """
    from my_app.cli.gen import builders

    def build(plan: Plan) -> None:
        builders.context(plan, context_name, schema_name, plural, fields or [], schema=not no_schema)

    _run(build, dry_run, force)


def _web_generator(kind: builders.WebKind, summary: str, example: str) -> Callable[..., None]:
    """The command of `gen json`, `gen live` or `gen html`: the same arguments, a different web part."""

    def generate(
        context_name: ContextArg,
        schema_name: SchemaArg,
        plural: PluralArg,
        fields: FieldsArg = None,
        web: Web = None,
        no_schema: NoSchema = False,
        no_context: NoContext = False,
        dry_run: DryRun = False,
        force: Force = False,
    ) -> None:
        from my_app.cli.gen import builders

        def build(plan: Plan) -> None:
            builders.web(
                plan,
                kind,
                context_name,
                schema_name,
                plural,
                fields or [],
                web=web,
                with_schema=not (no_schema or no_context),
                with_context=not no_context,
            )

        _run(build, dry_run, force)

    generate.__doc__ = f"{summary}\n\nExample: {example}"
    return generate


app.command(name="json")(
    _web_generator(
        "json",
        "What gen context writes, and a JSON API: controller, views, OpenAPI docs, route, tests (mix phx.gen.json).",
        "myapp gen json Catalog Review reviews body:text rating:integer product_id:references:products",
    )
)
app.command(name="live")(
    _web_generator(
        "live",
        "What gen context writes, and live pages: list, show, modal form with live validation (mix phx.gen.live).",
        "myapp gen live Catalog Review reviews body:text rating:integer product_id:references:products",
    )
)
app.command(name="html")(
    _web_generator(
        "html",
        "What gen context writes, and pages that are not live: list, show, forms (mix phx.gen.html).",
        "myapp gen html Catalog Review reviews body:text rating:integer --web Admin",
    )
)


@app.command()
def channel(
    name: Annotated[str, typer.Argument(help="CamelCase, e.g. Lobby (topics lobby:*)", show_default=False)],
    dry_run: DryRun = False,
    force: Force = False,
) -> None:
    """A channel for topics `<name>:*` on UserSocket, with its test (mix phx.gen.channel).

    Example: myapp gen channel Lobby
    """
    from my_app.cli.gen import builders

    _run(lambda plan: builders.channel(plan, name), dry_run, force)


@app.command()
def presence(
    name: Annotated[str, typer.Argument(help="CamelCase module name", show_default=True)] = "Presence",
    dry_run: DryRun = False,
    force: Force = False,
) -> None:
    """A Presence module for the channels, with its test (mix phx.gen.presence).

    Example: myapp gen presence
    """
    from my_app.cli.gen import builders

    _run(lambda plan: builders.presence(plan, name), dry_run, force)


@app.command()
def migration(
    name: Annotated[str, typer.Argument(help="What the migration does, e.g. add_users.")],
    empty: Annotated[bool, typer.Option("--empty", help="Write an empty migration to fill by hand.")] = False,
) -> None:
    """Write a migration autogenerated from the schemas (mix ecto.gen.migration).

    The database is migrated first, so the file holds only what the schemas add.

    Example: myapp gen migration add_users
    """
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        abort("the name must be snake_case letters, digits and underscores, e.g. add_users")
    from my_app import migrations

    db = target(current_settings())
    with database_errors():
        migrations.migrate(db)
        path = migrations.generate(db, name, autogenerate=not empty)
    info(f"wrote {path}")


@app.command()
def secret(length: Annotated[int, typer.Option(min=MIN_SECRET_KEY_BYTES)] = MIN_SECRET_KEY_BYTES) -> None:
    """Print a random secret for SECRET_KEY_BASE (mix phx.gen.secret)."""
    console.print(secrets.token_urlsafe(length)[:length], highlight=False)


def _run(build: builders.Builder, dry_run: bool, force: bool) -> None:
    """Plan, refuse or print or write, and say what next."""
    from my_app.cli.gen import builders
    from my_app.cli.gen.fields import FieldError
    from my_app.cli.gen.plan import Plan, PlanError
    from my_app.cli.gen.source_edit import EditError

    plan = Plan(root=builders.project_root())
    try:
        build(plan)
        refusals = plan.refusals(force=force)
        if refusals:
            abort(f"nothing written: {refusals[0]}" + (f" (and {len(refusals) - 1} more)" if len(refusals) > 1 else ""))
        plan.format()
    except (FieldError, EditError, PlanError) as exc:
        abort(f"nothing written: {exc}")
    for line in plan.describe():
        verb, _, path = line.partition(" ")
        colour = "green" if verb == "create" else "yellow"
        label = f"would {verb}" if dry_run else verb
        console.print(f"[{colour}]{label}[/{colour}] {path}", highlight=False, soft_wrap=True)
    if dry_run:
        for changed in plan.changes:
            diff = plan.diff(changed)
            if diff:
                console.print(diff, highlight=False, markup=False, soft_wrap=True)
        info("dry run: nothing written")
        return
    plan.apply()
    steps = [*plan.next_steps, *([f"myapp test {' '.join(plan.tests)}"] if plan.tests else [])]
    if steps:
        console.print("\n[bold]Next:[/bold]")
        for step in steps:
            console.print(f"  {step}", highlight=False, markup=False, soft_wrap=True)
