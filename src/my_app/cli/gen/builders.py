"""What each generator puts in its plan: the files it renders from `templates/`, the registries it
edits (schema_registry.CONTEXTS, the router's API_ROUTERS/BROWSER_ROUTERS, UserSocket's CHANNELS),
and the next steps it prints. Every check that can refuse runs here, before anything is written.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, Literal

from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import rev_id

from my_app.cli.gen import source_edit
from my_app.cli.gen.fields import FieldError, parse_fields
from my_app.cli.gen.plan import TEMPLATES, Plan, PlanError, render
from my_app.cli.gen.resource import Resource, check_camel, check_table, context_of, resolve_references, snake

Builder = Callable[[Plan], None]
WebKind = Literal["json", "live", "html"]

SCHEMA_REGISTRY: Final = "src/my_app/schema_registry.py"
ROUTER: Final = "src/my_app_web/router.py"
USER_SOCKET: Final = "src/my_app_web/channels/user_socket.py"
MIGRATIONS: Final = "src/my_app/priv/migrations"
CHANNELS_DIR: Final = "src/my_app_web/channels"
POSTGRES_NAME_LIMIT: Final = 63


def project_root() -> Path:
    """The checkout `myapp gen` writes into: the current directory, which must be the project's root."""
    root = Path.cwd()
    if not (root / "src" / "my_app").is_dir() or not (root / "pyproject.toml").exists():
        raise PlanError("run myapp gen from the project's root (the folder with pyproject.toml and src/my_app)")
    return root


# --- gen schema / gen context ---


def schema(plan: Plan, context_name: str, schema_name: str, plural: str, field_specs: list[str]) -> None:
    resource = _resource(plan, context_name, schema_name, plural, field_specs, need_fixtures=False)
    _check_new_schema(plan, resource)
    _add_schema(plan, resource)
    if not resource.context.exists:
        plan.create(
            f"src/my_app/{resource.context.module}/__init__.py",
            f'"""The {resource.context.name} context. Its schemas so far: {resource.schema}\n'
            f"(`my_app.{resource.context.module}.{resource.singular}`); `myapp gen context"
            f' {resource.context.name} ...` adds functions here.\n"""\n',
        )


def context(
    plan: Plan, context_name: str, schema_name: str, plural: str, field_specs: list[str], *, schema: bool = True
) -> Resource:
    """The schema (unless `schema` is False: it exists), the context's functions, fixtures and tests."""
    resource = _resource(plan, context_name, schema_name, plural, field_specs, need_fixtures=True)
    if schema:
        _check_new_schema(plan, resource)
        _add_schema(plan, resource)
    else:
        _check_schema_exists(plan, resource)
    _add_context(plan, resource)
    return resource


def _add_schema(plan: Plan, r: Resource) -> None:
    plan.create(r.schema_file, render("core/schema.py.j2", r=r))
    versions = plan.root / MIGRATIONS / "versions"
    config = Config()
    config.set_main_option("script_location", str(plan.root / MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    revision = rev_id()
    today = datetime.now(UTC)
    migration = render(
        "core/migration.py.j2", r=r, revision=revision, down_revision=head, create_date=today.date().isoformat()
    )
    plan.create(str((versions / f"{today:%Y%m%d}_{revision}_create_{r.table}.py").relative_to(plan.root)), migration)
    registry = plan.current(SCHEMA_REGISTRY) or ""
    plan.change(SCHEMA_REGISTRY, source_edit.add_to_tuple(registry, "CONTEXTS", f'"{r.schema_module}"'))
    plan.next_steps.append(f"myapp db migrate   # creates the table {r.table}")


def _add_context(plan: Plan, r: Resource) -> None:
    package = f"src/my_app/{r.context.module}/__init__.py"
    existing = plan.current(package)
    names = context_names(r)
    if existing is not None and source_edit.defines(existing, f"list_{r.plural}"):
        raise FieldError(
            f"{r.context.name} already has list_{r.plural}: the context exists"
            " (--no-context generates the web part only)"
        )
    imports = render("core/context_imports.py.j2", r=r).splitlines()
    section = render("core/context_section.py.j2", r=r)
    if existing is None or _only_a_docstring(existing):
        head = render("core/context_module.py.j2", r=r).strip()
        source = head + "\n\nfrom __future__ import annotations\n\n" + "\n".join(imports) + "\n"
        source = source_edit.add_exports(source, names)
        content = source_edit.append_section(source, section)
        if existing is None:
            plan.create(package, content)
        else:
            plan.change(package, content)  # replaces the docstring `gen schema` started it with
    else:
        source = source_edit.add_imports(existing, imports)
        source = source_edit.add_exports(source, names)
        plan.change(package, source_edit.append_section(source, section))

    fixtures = f"tests/support/fixtures/{r.context.module}.py"
    existing_fixtures = plan.current(fixtures)
    fixture_imports = render("core/fixtures_imports.py.j2", r=r).splitlines()
    fixture_section = render("core/fixtures_section.py.j2", r=r)
    if existing_fixtures is None:
        head = (
            f'"""{r.context.name} fixtures: records built through the context.\n\n'
            f'{r.singular} = await {r.singular}_fixture()  # owned by a new user\n"""\n\n'
            "from __future__ import annotations\n\n" + "\n".join(fixture_imports) + "\n"
        )
        plan.create(fixtures, source_edit.append_section(head, fixture_section))
    else:
        source = source_edit.add_imports(existing_fixtures, fixture_imports)
        plan.change(fixtures, source_edit.append_section(source, fixture_section))

    plan.create_if_missing(f"tests/my_app/{r.context.module}/__init__.py", "")
    test = f"tests/my_app/{r.context.module}/test_{r.plural}.py"
    plan.create(test, render("core/context_test.py.j2", r=r))
    plan.tests.append(test)


def _only_a_docstring(source: str) -> bool:
    """A context package `gen schema` started: its docstring and nothing else yet."""
    body = ast.parse(source).body
    return len(body) == 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)


def context_names(r: Resource) -> list[str]:
    """What the context exports for the resource (its `__all__` entries)."""
    return [
        r.topic_const,
        r.schema,
        f"{r.schema}Event",
        f"can_change_{r.singular}",
        f"change_{r.singular}",
        f"create_{r.singular}",
        f"delete_{r.singular}",
        f"get_{r.singular}",
        f"get_{r.singular}_or_404",
        f"list_{r.plural}",
        f"update_{r.singular}",
    ]


# --- gen json / gen live / gen html ---


def web(
    plan: Plan,
    kind: WebKind,
    context_name: str,
    schema_name: str,
    plural: str,
    field_specs: list[str],
    *,
    web: str | None = None,
    with_schema: bool = True,
    with_context: bool = True,
) -> None:
    if web is not None:
        check_camel("web namespace", web)
    if with_context:
        resource = context(plan, context_name, schema_name, plural, field_specs, schema=with_schema)
    else:
        resource = _resource(plan, context_name, schema_name, plural, field_specs, need_fixtures=True)
        _check_schema_exists(plan, resource)
        package = plan.current(f"src/my_app/{resource.context.module}/__init__.py") or ""
        if not source_edit.defines(package, f"list_{resource.plural}"):
            raise FieldError(f"{context_name} has no list_{plural}: generate the context first (drop --no-context)")
    resource = replace(resource, web=web, live=kind == "live")
    if kind == "json":
        _add_json(plan, resource)
    else:
        _add_pages(plan, resource)


def _add_json(plan: Plan, r: Resource) -> None:
    folder = r.web_path("src/my_app_web/controllers/api")
    tests = r.web_path("tests/my_app_web/controllers/api")
    _package_inits(plan, r, folder, tests)
    plan.create(f"{folder}/{r.singular}_controller.py", render("json/controller.py.j2", r=r))
    plan.create(f"{folder}/{r.singular}_json.py", render("json/json_view.py.j2", r=r))
    test = f"{tests}/test_{r.singular}_controller.py"
    plan.create(test, render("json/controller_test.py.j2", r=r))
    module = folder.removeprefix("src/").replace("/", ".")
    _register(plan, ROUTER, "API_ROUTERS", module, f"{r.singular}_controller", r, ".router")
    plan.next_steps.append(
        f"the API: /api{r.route_prefix} and /api{r.route_prefix}/{{id}} (bearer token), documented at /api/docs;"
        f" registered in {ROUTER} (API_ROUTERS)"
    )
    plan.tests.append(test)


def _add_pages(plan: Plan, r: Resource) -> None:
    package = r.web_path("src/my_app_web/live") + f"/{r.singular}_live"
    templates = r.web_path("src/my_app_web/templates") + f"/{r.singular}_live"
    tests = r.web_path("tests/my_app_web/live")
    _package_inits(plan, r, r.web_path("src/my_app_web/live"), tests)
    for name in ("__init__", "index", "show", "form"):
        template = "live_init" if name == "__init__" else f"live_{name}"
        plan.create(f"{package}/{name}.py", render(f"live/{template}.py.j2", r=r))
    for html in sorted((TEMPLATES / "live").glob("*.html.j2")):
        name = html.name.removesuffix(".j2").replace("PLURAL", r.plural)
        plan.create(f"{templates}/{name}", render(f"live/{html.name}", r=r))
    test = f"{tests}/test_{r.singular}_live.py"
    plan.create(test, render("live/live_test.py.j2", r=r))
    module = r.web_path("src/my_app_web/live").removeprefix("src/").replace("/", ".")
    _register(plan, ROUTER, "BROWSER_ROUTERS", module, f"{r.singular}_live", r, ".router")
    who = "admins only" if r.web else f"signed-in users, each their own {r.plural}; admins everyone's"
    live = ", updated live" if r.live else ""
    plan.next_steps.append(f"the pages: {r.route_prefix} ({who}{live}); registered in {ROUTER} (BROWSER_ROUTERS)")
    plan.next_steps.append(
        "myapp gettext extract && myapp gettext merge   # the pages' new strings, to translate in each locale"
    )
    plan.tests.append(test)


def _register(plan: Plan, path: str, registry: str, module: str, name: str, r: Resource, attribute: str) -> None:
    """Import `module.name` into `path` (as `<web>_<name>` under a web namespace) and add its
    `attribute` to the `registry` tuple."""
    alias = f"{r.web_module}_{name}" if r.web else name
    line = f"from {module} import {name}" + (f" as {alias}" if r.web else "")
    source = source_edit.add_imports(plan.current(path) or "", [line])
    plan.change(path, source_edit.add_to_tuple(source, registry, f"{alias}{attribute}"))


def _package_inits(plan: Plan, r: Resource, source_folder: str, test_folder: str) -> None:
    """A web namespace's packages (`admin/`), when they are new."""
    if r.web:
        plan.create_if_missing(f"{source_folder}/__init__.py", f'"""The {r.web} namespace: {source_folder}."""\n')
        plan.create_if_missing(f"{test_folder}/__init__.py", "")


# --- gen channel / gen presence ---


def channel(plan: Plan, name: str) -> None:
    check_camel("channel", name)
    module = snake(name)
    presence_module = _presence_module(plan)
    variables = {
        "name": name,
        "module": module,
        "topic": module,
        "presence": presence_module is not None,
        "presence_module": presence_module or "",
    }
    plan.create(f"{CHANNELS_DIR}/{module}_channel.py", render("channel/channel.py.j2", **variables))
    test = f"tests/my_app_web/channels/test_{module}_channel.py"
    plan.create(test, render("channel/channel_test.py.j2", **variables))
    source = source_edit.add_imports(
        plan.current(USER_SOCKET) or "", [f"from my_app_web.channels.{module}_channel import {name}Channel"]
    )
    plan.change(USER_SOCKET, source_edit.add_to_tuple(source, "CHANNELS", f'("{module}:*", {name}Channel)'))
    plan.next_steps.append(f'the channel: topics "{module}:*" on /socket (UserSocket.CHANNELS in {USER_SOCKET})')
    plan.tests.append(test)


def presence(plan: Plan, name: str) -> None:
    check_camel("presence module", name)
    module = snake(name)
    variables = {"name": name, "module": module}
    plan.create(f"{CHANNELS_DIR}/{module}.py", render("presence/presence.py.j2", **variables))
    test = f"tests/my_app_web/channels/test_{module}.py"
    plan.create(test, render("presence/presence_test.py.j2", **variables))
    plan.next_steps.append(f"channels generated from now on track their joins with my_app_web.channels.{module}")
    plan.tests.append(test)


def _presence_module(plan: Plan) -> str | None:
    """The generated Presence module channels track joins with, if there is one."""
    for path in sorted((plan.root / CHANNELS_DIR).glob("*.py")):
        if source_edit.defines(path.read_text(), "GENERATED_PRESENCE"):
            return path.stem
    return None


# --- Shared ---


def _resource(
    plan: Plan, context_name: str, schema_name: str, plural: str, field_specs: list[str], *, need_fixtures: bool
) -> Resource:
    context = context_of(plan.root, context_name)
    check_camel("schema", schema_name)
    check_table(plural)
    if snake(schema_name) == plural:
        raise FieldError(f"{plural}: the plural (table) must differ from the schema's name {snake(schema_name)!r}")
    fields = parse_fields(field_specs)
    if all(item.kind == "boolean" for item in fields):
        # Every form and API call would be valid whatever it sent: the generated tests of invalid
        # input would have nothing to send.
        raise FieldError("give the schema at least one field that is not a boolean, e.g. name:string")
    _check_constraint_names(plural, [item.name for item in fields])
    fields = resolve_references(plan.root, fields, _tables(), need_fixture=need_fixtures)
    return Resource(context=context, schema=schema_name, plural=plural, fields=fields)


def _check_constraint_names(table: str, names: list[str]) -> None:
    """PostgreSQL cuts names at 63 bytes, and SQLAlchemy then hashes them: the context could no
    longer tell which constraint a write broke. The longest names are the keyset index's and a
    field's index."""
    longest = [f"{table}_inserted_at_id_index", *(f"{table}_{name}_index" for name in names)]
    for name in longest:
        if len(name.encode()) > POSTGRES_NAME_LIMIT:
            raise FieldError(
                f"{name} would be longer than PostgreSQL's {POSTGRES_NAME_LIMIT} characters:"
                " shorten the table or field name"
            )


def _check_new_schema(plan: Plan, r: Resource) -> None:
    tables = _tables()
    if r.table in tables:
        raise FieldError(
            f"the table {r.table!r} exists ({tables[r.table][0]}): pick another name, or --no-schema to use it"
        )
    if (plan.root / r.schema_file).exists():
        raise FieldError(f"{r.schema_file} exists: the schema {r.context.name}.{r.schema} is there")


def _check_schema_exists(plan: Plan, r: Resource) -> None:
    if not (plan.root / r.schema_file).exists():
        raise FieldError(f"there is no schema {r.context.name}.{r.schema}: drop --no-schema to generate it")


def _tables() -> dict[str, tuple[str, str]]:
    """Every table the schemas define: (schema module, class name)."""
    from my_app.schema import Base
    from my_app.schema_registry import load_all_schemas

    load_all_schemas()
    found: dict[str, tuple[str, str]] = {}
    for mapper in Base.registry.mappers:
        table = getattr(mapper.local_table, "name", None)
        if isinstance(table, str):
            found[table] = (mapper.class_.__module__, mapper.class_.__name__)
    return found
