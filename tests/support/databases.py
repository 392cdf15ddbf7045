"""One test database per pytest-xdist worker, copied from a template migrated once per run.

The controller process (or the only process, without xdist) starts the embedded server if there
is no DATABASE_URL, and builds `<name>_test` at the latest migration. Each worker then clones it
as `<name>_test_<worker>` (CREATE DATABASE ... TEMPLATE), which takes milliseconds.
"""

from __future__ import annotations

import os

from my_app import database, migrations
from my_app.config import Settings

WORKER_VARIABLE = "PYTEST_XDIST_WORKER"


def prepare_test_database() -> database.Database:
    os.environ["MYAPP_ENV"] = "test"
    os.environ.pop(database.TEST_PARTITION_VARIABLE, None)
    template = database.resolve(Settings())
    worker = os.environ.get(WORKER_VARIABLE)
    if worker is None:
        database.drop(template)
        database.create(template)
        migrations.migrate(template)
        return template
    os.environ[database.TEST_PARTITION_VARIABLE] = worker
    mine = database.resolve(Settings())
    database.drop(mine)
    database.create(mine, template=template.name)
    return mine
