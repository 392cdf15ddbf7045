"""`myapp`: the command line that drives the app (the seed's `mix` tasks).

Each sub-command is a thin wrapper over library calls; `myapp --help` lists them all.
"""

from __future__ import annotations

import sys

import typer

from my_app.cli import assets, db, dev, gen, gettext, jobs, release, server, users
from my_app.cli._output import fail
from my_app.config import ConfigError

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
    except ConfigError as exc:
        fail(str(exc))
        sys.exit(1)
