"""`myapp` starts without loading what its command does not use.

Every invocation imports every command module (Typer reads their options), so a heavy import at the
top of one of them slows down all the others: `myapp --help` took ~4 s when the CLI loaded the
application, Alembic and the job queue. These tests look at the modules a fresh interpreter has
loaded after a command, which is deterministic where a timing would not be.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from my_app import config, jobs
from my_app.cli import gen
from my_app.cli import jobs as jobs_cli
from tests.support.processes import PROJECT_ROOT, child_env

# Each costs from a tenth of a second (Jinja2) to over a second (Alembic, with SQLAlchemy) to import.
# Not pydantic: Typer itself uses it to convert arguments.
HEAVY = (
    "alembic",
    "sqlalchemy",
    "psycopg",
    "procrastinate",
    "cashews",
    "redis",
    "IPython",
    "uvicorn",
    "fastapi",
    "jinja2",
    "prometheus_client",
    "my_app.application",
    "my_app.config",
    "my_app.accounts",
    "my_app.jobs",
    "my_app_web",
)

# Runs the CLI in-process with the given arguments, then prints the names of the loaded modules.
_RUN_AND_LIST_MODULES = """
import json, sys
from my_app.cli import app
try:
    app(sys.argv[1:], prog_name="myapp")
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def loaded_after(*args: str) -> set[str]:
    """The modules a fresh interpreter holds after running `myapp ARGS`."""
    done = subprocess.run(
        [sys.executable, "-c", _RUN_AND_LIST_MODULES, *args],
        cwd=PROJECT_ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


def heavy_among(modules: set[str]) -> list[str]:
    return sorted(name for name in HEAVY if any(m == name or m.startswith(f"{name}.") for m in modules))


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("--help",), id="myapp --help"),
        pytest.param(("db", "--help"), id="myapp db --help"),
        pytest.param(("jobs", "list", "--help"), id="myapp jobs list --help"),
        pytest.param(("users", "--help"), id="myapp users --help"),
        pytest.param(("gen", "schema", "--help"), id="myapp gen schema --help"),
        pytest.param(("gen", "secret"), id="myapp gen secret"),
    ],
)
def test_a_command_that_needs_no_app_loads_none_of_it(args: tuple[str, ...]) -> None:
    assert heavy_among(loaded_after(*args)) == []


def test_the_cli_copies_of_core_constants_match_them() -> None:
    # Copied so that `--help` needs neither the job queue nor the settings.
    assert jobs_cli.JOB_STATES == jobs.JOB_STATES
    assert gen.MIN_SECRET_KEY_BYTES == config.MIN_SECRET_KEY_BYTES
