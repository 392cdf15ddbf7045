"""`myapp`: the command line that drives the app (the seed's `mix` tasks).

Each sub-command is a thin wrapper over library calls; `myapp --help` lists them all.

Every invocation imports every command module (Typer reads their signatures), so those modules
import only Typer and the standard library at the top: the application, the database, Alembic,
the job queue and the web layer load inside the commands that use them. `myapp --help` and
`myapp gen secret` thus start in a fraction of a second, and tests/my_app/cli/test_startup.py
keeps it so.
"""

from __future__ import annotations

import sys

import typer

from my_app.cli import assets, db, dev, gen, gettext, jobs, release, server, users
from my_app.cli._output import fail

app = typer.Typer(
    name="myapp",
    help=(
        "Run, migrate, test and inspect MyApp.\n\n"
        "Examples:\n\n  myapp server --port 4001\n\n  myapp db migrate\n\n  myapp test -x tests/my_app"
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_show_locals=False,
)
server.register(app)
dev.register(app)
release.register(app)
app.command()(jobs.worker)
app.add_typer(db.app, name="db")
app.add_typer(jobs.app, name="jobs")
app.add_typer(users.app, name="users")
app.add_typer(gen.app, name="gen")
app.add_typer(gettext.app, name="gettext")
app.add_typer(assets.app, name="assets")


def main() -> None:
    try:
        app()
    except Exception as exc:
        # Settings (pydantic) load with the commands that read them: a ConfigError means they did.
        config = sys.modules.get("my_app.config")
        if config is None or not isinstance(exc, config.ConfigError):
            raise
        fail(str(exc))
        sys.exit(1)
