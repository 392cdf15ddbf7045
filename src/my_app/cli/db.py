"""`myapp db ...`: create, drop, migrate, roll back, reset, seed, dump (or back up) and restore the database."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from my_app.cli._output import abort, console, info

if TYPE_CHECKING:
    from my_app.config import Settings
    from my_app.database import Database

# Every `myapp` command imports this module, and most never touch the database: the driver,
# SQLAlchemy, Alembic and the application are imported inside the functions that use them.

T = TypeVar("T")

app = typer.Typer(
    help="Manage the database: create, drop, migrate, rollback, reset, seed, dump, restore.",
    no_args_is_help=True,
)

Force = Annotated[bool, typer.Option("--force", help="Required to run this in prod.")]


# The server's words when the named database is not there (connecting names one that is missing).
_MISSING_DATABASE = re.compile(r'database "([^"]+)" does not exist')


@contextmanager
def database_errors() -> Iterator[None]:
    """Turn driver and Alembic failures into one readable line and exit status 1."""
    import psycopg

    try:
        yield
    except _loaded_error("sqlalchemy.exc", "DBAPIError") as exc:  # SQLAlchemy's wrapper around the driver's error
        orig = getattr(exc, "orig", None)
        _abort_for(orig if isinstance(orig, psycopg.Error) else exc)
    except psycopg.Error as exc:
        _abort_for(exc)
    except _loaded_error("alembic.util.exc", "CommandError") as exc:
        abort(f"migration failed: {exc}")


def _loaded_error(module: str, name: str) -> tuple[type[Exception], ...]:
    """The exception class `module.name` if that module is loaded, else nothing to catch.

    A library that was never imported raised nothing: `myapp server` need not load Alembic (~1 s)
    to tell its errors apart.
    """
    loaded = sys.modules.get(module)
    return (getattr(loaded, name),) if loaded is not None else ()


def _abort_for(exc: Exception) -> None:
    import psycopg

    first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    missing = _MISSING_DATABASE.search(first_line)
    if isinstance(exc, psycopg.OperationalError) and missing:
        abort(f"the database {missing.group(1)} does not exist: myapp db create (or myapp db setup) makes it")
    if isinstance(exc, psycopg.OperationalError):
        abort(f"cannot reach the database: {first_line}")
    abort(f"the database refused: {first_line}")


def current_settings() -> Settings:
    """The app's settings, from the environment (read once per process)."""
    from my_app.config import get_settings

    return get_settings()


def target(settings: Settings) -> Database:
    from my_app import database

    with database_errors():
        return database.resolve(settings)


def prepare(settings: Settings, *, seed: bool) -> Database:
    """Create the database if missing, migrate it, and (in dev) load the seeds: `mix ecto.setup`."""
    from my_app import database, migrations

    db = target(settings)
    with database_errors():
        if database.create(db):
            info(f"created database {db.name}")
        migrations.migrate(db)
    info(f"database {db.name} is migrated")
    if seed and settings.env == "dev":
        run_seeds(settings)
    return db


def run_in_app(call: Callable[[], Awaitable[T]], settings: Settings | None = None) -> T:
    """Start the app's core (no job workers), await `call`, stop; database failures become one line."""
    from my_app import application

    settings = settings or current_settings()
    target(settings)  # start the embedded PostgreSQL if needed, with a clear error if unreachable

    async def run() -> T:
        async with application.lifespan(settings, run_jobs=False):
            return await call()

    with database_errors():
        return asyncio.run(run())


def run_seeds(settings: Settings) -> None:
    from my_app.priv import seeds

    report = run_in_app(lambda: seeds.run(settings), settings)
    for line in report:
        console.print(f"  {line}")
    info("seeds loaded" if report else "seeds loaded (nothing new)")


def _refuse_in_prod(settings: Settings, force: bool, action: str) -> None:
    if settings.env == "prod" and not force:
        abort(f"refusing to {action} in prod: pass --force if you really mean it")


@app.command()
def create() -> None:
    """Create the database if it does not exist (mix ecto.create)."""
    from my_app import database

    db = target(current_settings())
    with database_errors():
        created = database.create(db)
    info(f"created database {db.name}" if created else f"database {db.name} already exists")


@app.command()
def drop(force: Force = False) -> None:
    """Drop the database (mix ecto.drop). Refused in prod without --force."""
    from my_app import database

    settings = current_settings()
    _refuse_in_prod(settings, force, "drop the database")
    db = target(settings)
    with database_errors():
        dropped = database.drop(db)
    info(f"dropped database {db.name}" if dropped else f"database {db.name} did not exist")


@app.command()
def migrate(
    to: Annotated[str, typer.Option("--to", help="Target revision (default: the latest).")] = "head",
) -> None:
    """Run pending migrations (mix ecto.migrate).

    Example: myapp db migrate
    """
    from my_app import migrations

    db = target(current_settings())
    with database_errors():
        before = migrations.current_revision(db)
        migrations.migrate(db, to)
        after = migrations.current_revision(db)
    info(f"migrated {db.name}: {before or 'empty'} → {after or 'empty'}" if before != after else "already up to date")


@app.command()
def rollback(step: Annotated[int, typer.Option("--step", "-n", min=1, help="How many migrations.")] = 1) -> None:
    """Revert the last migration, or the last N (mix ecto.rollback).

    Example: myapp db rollback --step 2
    """
    from my_app import migrations

    db = target(current_settings())
    with database_errors():
        before = migrations.current_revision(db)
        if before is None:
            abort("nothing to roll back: no migration has run")
        migrations.rollback(db, step)
        after = migrations.current_revision(db)
    info(f"rolled back {db.name}: {before} → {after or 'empty'}")


@app.command()
def reset(force: Force = False) -> None:
    """Drop, create, migrate and seed (mix ecto.reset). Refused in prod without --force."""
    from my_app import database

    settings = current_settings()
    _refuse_in_prod(settings, force, "reset the database")
    db = target(settings)
    with database_errors():
        database.drop(db)
    info(f"dropped database {db.name}")
    prepare(settings, seed=True)


@app.command()
def seed() -> None:
    """Load the demo seed data (dev only; idempotent)."""
    settings = current_settings()
    if settings.env == "prod":
        abort("seeds are demo data and never run in prod")
    run_seeds(settings)


@app.command()
def setup() -> None:
    """Create, migrate and seed in one go (mix ecto.setup); safe to run again."""
    prepare(current_settings(), seed=True)


@app.command()
def dump(
    path: Annotated[
        Path | None,
        typer.Option("--path", "-o", help="Where to write (default: schema.sql, or backup.dump with --data)."),
    ] = None,
    data: Annotated[
        bool, typer.Option("--data", help="A backup: structure and data, in pg_dump's custom format.")
    ] = False,
) -> None:
    """Write the schema (no data) with pg_dump (mix ecto.dump), or with --data a full backup.

    A backup goes back with `myapp db restore FILE` (or `pg_restore`); docs/deployment.md has more.

    Examples:

      myapp db dump

      myapp db dump --data -o backup-$(date +%F).dump
    """
    from my_app import database

    db = target(current_settings())
    path = path or Path("backup.dump" if data else "schema.sql")
    with _client_errors("pg_dump"):
        if data:
            database.dump_data(db, path)
        else:
            database.dump_schema(db, path)
    info(f"wrote {'a backup' if data else 'the structure'} of {db.name} to {path}")


@app.command()
def restore(
    path: Annotated[Path, typer.Argument(help="A backup written by `myapp db dump --data`.", exists=True)],
    force: Force = False,
) -> None:
    """Replace the database's contents by a backup, all or nothing. Refused in prod without --force.

    Examples:

      myapp db restore backup.dump

      MYAPP_ENV=prod myapp db restore backup.dump --force
    """
    from my_app import database

    settings = current_settings()
    _refuse_in_prod(settings, force, "replace the database by a backup")
    db = target(settings)
    with _client_errors("pg_restore"):
        database.restore(db, path)
    info(f"restored {db.name} from {path}")


@contextmanager
def _client_errors(program: str) -> Iterator[None]:
    """A client program's failure as one line: its own message is the useful part."""
    try:
        yield
    except FileNotFoundError as exc:
        abort(str(exc))
    except subprocess.CalledProcessError as exc:
        message = (exc.stderr or str(exc)).strip()
        abort(f"{program} failed: {message}")


@app.command()
def status() -> None:
    """Show the current and the latest migration."""
    from my_app import migrations

    db = target(current_settings())
    with database_errors():
        current = migrations.current_revision(db)
    head = migrations.head_revision()
    console.print(f"database: [bold]{db.name}[/bold]{' (embedded)' if db.embedded else ''}")
    console.print(f"current:  {current or 'empty'}")
    console.print(f"latest:   {head}")
    if current != head:
        console.print("[yellow]pending migrations: run `myapp db migrate`[/yellow]")
