"""`myapp gen` end to end, in a temporary copy of the repository: every generator, a resource with
every field type each, then the project's own gates on the result — an empty database migrated,
`myapp check` (ruff, format, mypy, bandit, import-linter), and the generated tests with the
migrations and route/OpenAPI walks — and again after a second resource that references the first.
A refused generation changes no file (`git status`).

The checks run in the copy as a developer would run them there: `myapp` and pytest with the copy's
`src` first on the path, against this run's PostgreSQL server under databases of their own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from my_app import cli, database
from my_app.config import Settings
from tests.support.processes import child_env, copy_repository_files, plain

# One field of every type and modifier `myapp gen` knows.
EVERY_FIELD_TYPE = [
    "name:string",
    "slug:string:unique",
    "notes:text",
    "count:integer",
    "weight:float",
    "price:decimal",
    "active:boolean",
    "released_on:date",
    "opens_at:time",
    "launched_at:utc_datetime",
    "token:uuid",
    "specs:map",
    "tags:array:string",
    "sizes:array:integer",
    "status:enum:draft:published:archived",
    "secret:string:redact",
    "category_id:references:categories",
]
# The tests the copy runs beside the generated ones: the migrations (autogenerate proposes nothing,
# so each generated migration matches its schema), the layering, and the walks over every route
# and the OpenAPI document (a generated route has its access check and its documentation).
META_TESTS = [
    "tests/my_app/test_migrations.py",
    "tests/my_app/test_layering.py",
    "tests/my_app_web/test_route_access.py",
    "tests/my_app_web/controllers/api/test_openapi.py",
]
# Variables of this test run that must not reach the copy's own test run.
_RUN_VARIABLES = ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_TESTRUNUID", "PYTEST_XDIST_WORKER_COUNT", "MYAPP_TEST_RUN")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's files (tracked and not ignored) in a new git repository of their own."""
    root = tmp_path_factory.mktemp("generated") / "project"
    copy_repository_files(root)
    for command in (["init", "-q"], ["add", "-A"], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"]):
        subprocess.run(["git", *command], cwd=root, check=True, capture_output=True)
    return root


@pytest.fixture(scope="module")
def server_url() -> str:
    """This run's PostgreSQL server (the embedded one, or DATABASE_URL's), as a URL for the copy
    (its database name is replaced by each use)."""
    return database.resolve(Settings()).url


def gen(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`myapp gen` in the copy, in a process of its own (it sees the schemas generated so far)."""
    return run(project, sys.executable, "-m", "my_app.cli", "gen", *args)


def gen_here(project: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> Result:
    """`myapp gen` in this process, working in the copy: for runs that need no schema generated
    earlier (refusals, dry runs), without a second start of the CLI."""
    monkeypatch.chdir(project)
    return CliRunner().invoke(cli.app, ["gen", *args])


def run(
    project: Path, *command: str, env: dict[str, str] | None = None, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """A program in the copy, with the copy's code first on the path."""
    overrides: dict[str, str | None] = dict.fromkeys(_RUN_VARIABLES)
    overrides[database.TEST_PARTITION_VARIABLE] = None
    overrides["PYTHONPATH"] = f"{project / 'src'}{os.pathsep}{project}"
    overrides["MYAPP_ENV"] = "dev"
    overrides.update(env or {})
    return subprocess.run(
        command, cwd=project, env=child_env(overrides), capture_output=True, text=True, timeout=timeout, check=False
    )


def git_status(project: Path) -> str:
    return run(project, "git", "status", "--porcelain").stdout


def generated(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The files a generator says it created."""
    assert result.returncode == 0, plain(result.stdout + result.stderr)
    return [line.split()[-1] for line in plain(result.stdout).splitlines() if line.startswith("create ")]


def passes_the_gates(project: Path, server_url: str, tests: list[str]) -> None:
    """An empty database migrated, `myapp check`, and `tests` with the meta tests: all pass."""
    name = f"gen_migrate_{os.getpid()}_{time.monotonic_ns()}"
    url = {"DATABASE_URL": database.with_database(server_url, name)}
    try:
        for step in (("db", "create"), ("db", "migrate")):
            result = run(project, sys.executable, "-m", "my_app.cli", *step, env=url)
            assert result.returncode == 0, plain(result.stdout + result.stderr)
    finally:
        run(project, sys.executable, "-m", "my_app.cli", "db", "drop", env=url)

    check = run(project, sys.executable, "-m", "my_app.cli", "check", "--no-audit")
    assert check.returncode == 0, plain(check.stdout + check.stderr)[-6000:]

    test_url = {"DATABASE_URL": database.with_database(server_url, "gen_project"), "MYAPP_ENV": "test"}
    result = run(
        project,
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-n",
        "0",
        "-q",
        *tests,
        *META_TESTS,
        env=test_url,
    )
    assert result.returncode == 0, plain(result.stdout + result.stderr)[-8000:]
    assert " passed" in result.stdout


def test_a_refused_generation_writes_nothing(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    refused = [
        ("context", "Catalog", "Product", "products", "name:string"),  # the schema exists
        ("context", "Catalog", "Review", "reviews", "body:txt"),  # an unknown type
        ("live", "Catalog", "review", "reviews", "body:text"),  # not an identifier
        ("json", "Catalog", "Review", "reviews", "product_id:references:nowhere"),  # an unknown table
        ("json", "Catalog", "Review", "reviews", "Body:text"),
        ("json", "Catalog", "Review", "reviews", "--no-context", "body:text"),  # no such context functions
        ("channel", "room"),
        ("context", "Catalog", "Review", "reviews", "a_field_name_so_long_that_the_index_name_would_be_cut_off:string"),
        ("context", "Catalog", "Review", "reviews", "active:boolean:unique"),
        ("context", "Catalog", "Review", "reviews", "active:boolean"),  # nothing a form could get wrong
        ("context", "Catalog", "Review", "reviews", "list:string"),  # would hide `list`
    ]
    for args in refused:
        result = gen_here(project, monkeypatch, *args)
        output = plain(result.output)
        assert result.exit_code != 0, (args, output)
        [line] = [line for line in output.splitlines() if line.strip()]
        assert line.startswith("error: "), line
        assert git_status(project) == ""


def test_dry_run_prints_the_plan_and_writes_nothing(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = gen_here(
        project,
        monkeypatch,
        *("live", "Catalog", "Review", "reviews", "body:text", "product_id:references:products", "--dry-run"),
    )
    output = plain(result.output)

    assert result.exit_code == 0, output
    assert "would create src/my_app/catalog/review.py" in output
    assert "would create tests/my_app_web/live/test_review_live.py" in output
    assert "would change src/my_app_web/router.py" in output
    assert "+    review_live.router," in output
    assert "dry run: nothing written" in output
    assert git_status(project) == ""


def test_every_generator_with_every_field_type_passes_the_gates(project: Path, server_url: str) -> None:
    tests = []
    schema_files = generated(gen(project, "schema", "Library.Tag", "tags", *EVERY_FIELD_TYPE))
    assert "src/my_app/library/tag.py" in schema_files
    for args in (
        ("context", "Inventory", "Gadget", "gadgets", *EVERY_FIELD_TYPE),  # a new context
        ("json", "Catalog", "Review", "reviews", *EVERY_FIELD_TYPE),  # into an existing context
        ("live", "Shop", "Widget", "widgets", *EVERY_FIELD_TYPE),
        ("html", "Shop", "Gizmo", "gizmos", *EVERY_FIELD_TYPE, "--web", "Admin"),
        ("json", "Shop", "Gizmo", "gizmos", *EVERY_FIELD_TYPE, "--no-context", "--web", "Admin"),
        ("presence",),
        ("channel", "Lobby"),
    ):
        tests += [path for path in generated(gen(project, *args)) if "/test_" in path]
    assert len(tests) == 10  # a context test each, and one per web part, channel and presence

    passes_the_gates(project, server_url, tests)


def test_a_second_resource_referencing_the_first(project: Path, server_url: str) -> None:
    tests = []
    for args in (
        ("live", "Shop", "Part", "parts", "name:string", "widget_id:references:widgets", "--web", "Admin"),
        ("json", "Inventory", "Piece", "pieces", "name:string", "gadget_id:references:gadgets"),
        ("channel", "Game"),
    ):
        tests += [path for path in generated(gen(project, *args)) if "/test_" in path]

    passes_the_gates(project, server_url, tests)


def test_generating_again_is_refused_and_force_overwrites(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    status = git_status(project)
    again = gen_here(project, monkeypatch, "channel", "Lobby")
    assert again.exit_code != 0
    assert "src/my_app_web/channels/lobby_channel.py exists (--force overwrites it)" in plain(again.output)
    existing = gen_here(project, monkeypatch, "context", "Inventory", "Gadget", "gadgets", "--no-schema", "name:string")
    assert "Inventory already has list_gadgets: the context exists" in plain(existing.output)
    assert git_status(project) == status

    forced = gen_here(project, monkeypatch, "channel", "Lobby", "--force")
    assert forced.exit_code == 0, plain(forced.output)
    assert (project / "src/my_app_web/channels/lobby_channel.py").exists()
    user_socket = (project / "src/my_app_web/channels/user_socket.py").read_text()
    assert user_socket.count('("lobby:*", LobbyChannel)') == 1
