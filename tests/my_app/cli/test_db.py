from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from my_app import database, migrations
from my_app.config import Settings
from tests.support.databases import migration_revisions as revisions
from tests.support.processes import myapp, output_lines, plain

# Never reachable: nothing listens on port 1, so a prod command that wrongly connected would fail.
PROD_ENV: dict[str, str | None] = {
    "MYAPP_ENV": "prod",
    "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/never_a_real_database?connect_timeout=1",
    "SECRET_KEY_BASE": "s" * 64,
    "APP_HOST": "example.invalid",
    "MYAPP_EMBEDDED_POSTGRES_URL": None,
    "MYAPP_TEST_PARTITION": None,
}


@pytest.fixture
def partition() -> Iterator[tuple[dict[str, str | None], database.Database]]:
    """The env of a `myapp` child that uses a test database of its own, and that database."""
    name = f"cli{uuid.uuid4().hex[:10]}"
    env: dict[str, str | None] = {"MYAPP_ENV": "test", database.TEST_PARTITION_VARIABLE: name}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(database.TEST_PARTITION_VARIABLE, name)
        own = database.resolve(Settings())
    try:
        yield env, own
    finally:
        database.drop(own)


def succeeds(*args: str, env: dict[str, str | None]) -> str:
    result = myapp(*args, env=env)
    assert result.returncode == 0, f"myapp {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stdout + result.stderr
    return plain(result.stdout)


def test_db_commands_round_trip(partition: tuple[dict[str, str | None], database.Database], tmp_path: Path) -> None:
    env, own = partition
    head = migrations.head_revision()
    previous = revisions()[-2] if len(revisions()) > 1 else None

    assert f"created database {own.name}" in succeeds("db", "create", env=env)
    assert database.exists(own)

    status = succeeds("db", "status", env=env)
    assert own.name in status
    assert "current:  empty" in status
    assert "pending migrations" in status

    assert f"migrated {own.name}: empty → {head}" in succeeds("db", "migrate", env=env)
    assert migrations.current_revision(own) == head

    assert f"rolled back {own.name}: {head} → {previous or 'empty'}" in succeeds("db", "rollback", env=env)
    assert migrations.current_revision(own) == previous

    assert f"migrated {own.name}: {previous or 'empty'} → {head}" in succeeds("db", "migrate", env=env)
    assert migrations.current_revision(own) == head
    assert "already up to date" in succeeds("db", "migrate", env=env)

    schema = tmp_path / "schema.sql"
    succeeds("db", "dump", "--path", str(schema), env=env)
    assert "CREATE EXTENSION IF NOT EXISTS citext" in schema.read_text()

    assert f"dropped database {own.name}" in succeeds("db", "drop", env=env)
    assert not database.exists(own)


def test_db_rollback_with_step_reverts_that_many(partition: tuple[dict[str, str | None], database.Database]) -> None:
    env, own = partition
    all_revisions = revisions()
    database.create(own)
    migrations.migrate(own)

    succeeds("db", "rollback", "--step", str(len(all_revisions)), env=env)

    assert migrations.current_revision(own) is None


def test_db_rollback_on_an_empty_database_says_so(partition: tuple[dict[str, str | None], database.Database]) -> None:
    env, own = partition
    database.create(own)

    result = myapp("db", "rollback", env=env)

    assert result.returncode == 1
    lines = output_lines(result.stderr)
    assert len(lines) == 1
    assert "nothing to roll back" in lines[0]


@pytest.mark.parametrize("command", ["drop", "reset"])
def test_destructive_db_commands_refuse_in_prod_without_force(command: str) -> None:
    result = myapp("db", command, env=PROD_ENV)

    assert result.returncode != 0
    assert "Traceback" not in result.stdout + result.stderr
    lines = output_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert "--force" in lines[0]
    assert "prod" in lines[0]
    # Refused before connecting: the unreachable server would have been the error otherwise.
    assert "cannot reach" not in result.stderr


def test_seeds_never_run_in_prod() -> None:
    result = myapp("db", "seed", env=PROD_ENV)

    assert result.returncode != 0
    assert "prod" in " ".join(output_lines(result.stderr))


def test_an_unreachable_database_is_one_line_and_a_non_zero_exit() -> None:
    result = myapp("db", "status", env={**PROD_ENV, "MYAPP_ENV": "dev"})

    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    lines = output_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: cannot reach the database")


def test_migrating_a_database_that_does_not_exist_says_how_to_make_it() -> None:
    server = database.resolve(Settings())
    missing = f"missing_{uuid.uuid4().hex[:10]}"
    url = database.with_database(server.url, missing)

    result = myapp("db", "migrate", env={"DATABASE_URL": url, "MYAPP_ENV": "dev"})

    assert result.returncode == 1
    lines = output_lines(result.stderr)
    assert lines == [f"error: the database {missing} does not exist: myapp db create (or myapp db setup) makes it"]
