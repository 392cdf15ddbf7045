"""One test database per pytest-xdist worker, copied from a template migrated once per run.

The controller process (or the only process, without xdist) starts the embedded server if there
is no DATABASE_URL, and builds `<name>_test_run<pid>` at the latest migration. Each worker then
clones it as `<name>_test_run<pid>_<worker>` (CREATE DATABASE ... TEMPLATE), which takes
milliseconds. The run's pid in every name keeps two runs at once (two terminals, `myapp test`
beside an editor's test runner) out of each other's databases; each run drops its own at the end,
and on the embedded server the databases of runs that were killed are dropped by the next run.
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psutil
import psycopg
from alembic.config import Config
from alembic.script import ScriptDirectory

from my_app import database, migrations
from my_app.config import Settings

WORKER_VARIABLE = "PYTEST_XDIST_WORKER"
# Set by the controller, inherited by its workers: the run every database name belongs to.
RUN_VARIABLE = "MYAPP_TEST_RUN"
_RUN_NAME = re.compile(r"_test_run(\d+)(_\w+)?$")


def prepare_test_database() -> database.Database:
    """Create this process's test database: the run's template, or a worker's copy of it."""
    os.environ["MYAPP_ENV"] = "test"
    worker = os.environ.get(WORKER_VARIABLE)
    if worker is None:
        os.environ[RUN_VARIABLE] = f"run{os.getpid()}"
    template = _resolve(os.environ[RUN_VARIABLE])
    if worker is None:
        if template.embedded:
            _drop_abandoned_runs(template)
        database.drop(template)
        database.create(template)
        migrations.migrate(template)
        return template
    mine = _resolve(f"{os.environ[RUN_VARIABLE]}_{worker}")
    database.drop(mine)
    database.create(mine, template=template.name)
    return mine


def finish_test_database() -> None:
    """Drop this process's test database (the workers' first, then the controller's template)."""
    if os.environ.get(RUN_VARIABLE) and os.environ.get(database.TEST_PARTITION_VARIABLE):
        # A server that went away takes the database with it, or the next run drops it.
        with contextlib.suppress(psycopg.OperationalError):
            database.drop(database.resolve(Settings()))


def _resolve(partition: str) -> database.Database:
    # Children started by tests inherit the partition, so they use the same database.
    os.environ[database.TEST_PARTITION_VARIABLE] = partition
    return database.resolve(Settings())


def _drop_abandoned_runs(template: database.Database) -> None:
    """Drop the databases of earlier runs on this machine's embedded server whose process is gone."""
    with psycopg.connect(template.maintenance_url, autocommit=True) as conn:
        names = [row[0] for row in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE '%\\_test\\_run%'")]
    for name in names:
        match = _RUN_NAME.search(name)
        if match and not psutil.pid_exists(int(match.group(1))):
            database.drop(database.Database(url=database.with_database(template.url, name), name=name, embedded=True))


@contextmanager
def scratch_database(prefix: str = "scratch") -> Iterator[database.Database]:
    """A database name on the test server that no other test uses; dropped (if created) on exit."""
    server = database.resolve(Settings())
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    scratch = database.Database(url=database.with_database(server.url, name), name=name, embedded=server.embedded)
    try:
        yield scratch
    finally:
        database.drop(scratch)


@contextmanager
def partition_database(*, migrate: bool = True) -> Iterator[tuple[str, database.Database]]:
    """A test partition for a child process (`MYAPP_TEST_PARTITION`) and its database, dropped on exit.

    A child started with `MYAPP_ENV=test` and this partition uses the database, so it never touches
    the template or another worker's database.
    """
    partition = f"p{uuid.uuid4().hex[:12]}"
    previous = os.environ.get(database.TEST_PARTITION_VARIABLE)
    os.environ[database.TEST_PARTITION_VARIABLE] = partition
    try:
        own = database.resolve(Settings())
    finally:
        if previous is None:
            os.environ.pop(database.TEST_PARTITION_VARIABLE, None)
        else:
            os.environ[database.TEST_PARTITION_VARIABLE] = previous
    try:
        if migrate:
            database.create(own)
            migrations.migrate(own)
        yield partition, own
    finally:
        database.drop(own)


def migration_revisions() -> list[str]:
    """Every migration's revision, oldest first."""
    config = Config()
    config.set_main_option("script_location", str(migrations.MIGRATIONS_PATH))
    return [script.revision for script in reversed(list(ScriptDirectory.from_config(config).walk_revisions()))]
