from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict
from sqlalchemy import create_engine, make_url, pool, text

from my_app import database, migrations
from my_app.config import Settings
from tests.support.databases import scratch_database

REMOTE_URL = "postgresql://app:secret@db.example.com:6543/shop"
# Resolving an embedded database reads this instead of starting a server.
FAKE_EMBEDDED_URL = "postgresql://postgres:@/postgres?host=/nonexistent/socket-dir"


def settings_for(env: str, **values: object) -> Settings:
    return Settings(_env_file=None, env=env, **values)  # type: ignore[call-arg]


def params(url: str) -> dict[str, str]:
    return {key: str(value) for key, value in conninfo_to_dict(url).items() if value is not None}


# --- resolve: which database an environment uses ---


def test_dev_uses_database_url_as_it_is(clean_env: pytest.MonkeyPatch) -> None:
    resolved = database.resolve(settings_for("dev", database_url=REMOTE_URL))

    assert resolved.url == REMOTE_URL
    assert resolved.name == "shop"
    assert resolved.embedded is False


def test_test_env_appends_test_to_the_database_url_name(clean_env: pytest.MonkeyPatch) -> None:
    resolved = database.resolve(settings_for("test", database_url=REMOTE_URL))

    assert resolved.name == "shop_test"
    assert params(resolved.url) == {**params(REMOTE_URL), "dbname": "shop_test"}
    assert resolved.embedded is False


def test_test_env_does_not_append_test_twice(clean_env: pytest.MonkeyPatch) -> None:
    resolved = database.resolve(settings_for("test", database_url=REMOTE_URL.replace("/shop", "/shop_test")))

    assert resolved.name == "shop_test"


def test_test_env_appends_the_partition(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv(database.TEST_PARTITION_VARIABLE, "gw3")

    resolved = database.resolve(settings_for("test", database_url=REMOTE_URL))

    assert resolved.name == "shop_test_gw3"
    assert params(resolved.url)["dbname"] == "shop_test_gw3"


def test_the_partition_only_applies_to_the_test_env(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv(database.TEST_PARTITION_VARIABLE, "gw3")

    assert database.resolve(settings_for("dev", database_url=REMOTE_URL)).name == "shop"


@pytest.mark.parametrize(("env", "name"), [("dev", "my_app_dev"), ("test", "my_app_test")])
def test_without_database_url_each_env_has_its_database_on_the_embedded_server(
    clean_env: pytest.MonkeyPatch, env: str, name: str
) -> None:
    clean_env.setenv("MYAPP_EMBEDDED_POSTGRES_URL", FAKE_EMBEDDED_URL)

    resolved = database.resolve(settings_for(env))

    assert resolved.embedded is True
    assert resolved.name == name
    assert params(resolved.url) == {"user": "postgres", "host": "/nonexistent/socket-dir", "dbname": name}


def test_embedded_test_database_gets_the_partition_too(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("MYAPP_EMBEDDED_POSTGRES_URL", FAKE_EMBEDDED_URL)
    clean_env.setenv(database.TEST_PARTITION_VARIABLE, "gw0")

    assert database.resolve(settings_for("test")).name == "my_app_test_gw0"


def test_prod_verifies_the_server_certificate(clean_env: pytest.MonkeyPatch) -> None:
    prod = settings_for("prod", database_url=REMOTE_URL, secret_key_base="s" * 64, app_host="example.com")

    resolved = database.resolve(prod)

    assert params(resolved.url)["sslmode"] == "verify-full"
    assert resolved.name == "shop"


def test_prod_ssl_can_be_turned_off_by_env(clean_env: pytest.MonkeyPatch) -> None:
    prod = settings_for(
        "prod", database_url=REMOTE_URL, secret_key_base="s" * 64, app_host="example.com", database_ssl="disable"
    )

    assert params(database.resolve(prod).url)["sslmode"] == "disable"


def test_maintenance_url_is_the_same_server_s_postgres_database() -> None:
    resolved = database.Database(url=REMOTE_URL, name="shop", embedded=False)

    assert params(resolved.maintenance_url) == {**params(REMOTE_URL), "dbname": "postgres"}


# --- sqlalchemy_url ---


def test_sqlalchemy_url_keeps_a_unix_socket_folder_as_the_host_parameter() -> None:
    url = make_url(database.sqlalchemy_url("postgresql://postgres:@/my_app_dev?host=/run/pg-socket"))

    assert url.drivername == "postgresql+psycopg"
    assert url.host is None
    assert url.query["host"] == "/run/pg-socket"
    assert url.username == "postgres"
    assert url.password is None
    assert url.database == "my_app_dev"


def test_sqlalchemy_url_keeps_the_port_of_a_unix_socket() -> None:
    url = make_url(database.sqlalchemy_url("host=/run/pg-socket port=5433 user=postgres dbname=x"))

    assert url.query["host"] == "/run/pg-socket"
    assert url.port == 5433
    assert url.database == "x"


def test_sqlalchemy_url_with_tcp_host_port_and_password() -> None:
    # The password has characters that must be escaped in a URL.
    source = "postgresql://app:p%40ss%3Aw%2Frd@db.example.com:6543/shop?sslmode=verify-full"

    url = make_url(database.sqlalchemy_url(source))

    assert url.drivername == "postgresql+psycopg"
    assert url.host == "db.example.com"
    assert url.port == 6543
    assert url.username == "app"
    assert url.password == "p@ss:w/rd"
    assert url.database == "shop"
    assert dict(url.query) == {"sslmode": "verify-full"}


def test_sqlalchemy_url_reaches_the_test_server() -> None:
    resolved = database.resolve(Settings())

    engine = create_engine(database.sqlalchemy_url(resolved.url), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            name = connection.execute(text("SELECT current_database()")).scalar_one()
    finally:
        engine.dispose()

    assert name == resolved.name


# --- create, drop, exists ---


def test_create_then_drop_a_database() -> None:
    with scratch_database() as scratch:
        assert database.exists(scratch) is False

        assert database.create(scratch) is True
        assert database.exists(scratch) is True
        with psycopg.connect(scratch.url) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == (scratch.name,)

        assert database.drop(scratch) is True
        assert database.exists(scratch) is False


def test_create_and_drop_are_idempotent() -> None:
    with scratch_database() as scratch:
        assert database.create(scratch) is True
        assert database.create(scratch) is False

        assert database.drop(scratch) is True
        assert database.drop(scratch) is False


def test_a_name_that_needs_quoting_is_created_as_written() -> None:
    with scratch_database("Scratch-Mixed") as scratch:
        database.create(scratch)

        assert database.exists(scratch) is True
        with psycopg.connect(scratch.maintenance_url) as conn:
            row = conn.execute("SELECT datname FROM pg_database WHERE datname = %s", (scratch.name,)).fetchone()
        assert row == (scratch.name,)


def test_drop_closes_the_sessions_still_open_on_the_database() -> None:
    with scratch_database() as scratch:
        database.create(scratch)
        with psycopg.connect(scratch.url) as other_session:
            assert database.drop(scratch) is True

            assert database.exists(scratch) is False
            with pytest.raises(psycopg.OperationalError):
                other_session.execute("SELECT 1")


# --- dump ---


def test_dump_schema_writes_the_structure(tmp_path: Path) -> None:
    with scratch_database() as scratch:
        database.create(scratch)
        migrations.migrate(scratch)
        path = tmp_path / "schema.sql"

        database.dump_schema(scratch, path)

        assert "CREATE EXTENSION IF NOT EXISTS citext" in path.read_text()


def test_dump_schema_is_the_same_file_every_time(tmp_path: Path) -> None:
    with scratch_database() as scratch:
        database.create(scratch)
        migrations.migrate(scratch)

        database.dump_schema(scratch, tmp_path / "first.sql")
        database.dump_schema(scratch, tmp_path / "second.sql")

        assert (tmp_path / "first.sql").read_text() == (tmp_path / "second.sql").read_text()


def test_a_backup_restores_the_data_it_was_taken_with(tmp_path: Path) -> None:
    """`myapp db dump --data` then `myapp db restore`: what was there comes back, what came later goes."""
    with scratch_database() as scratch:
        database.create(scratch)
        migrations.migrate(scratch)
        categories = "SELECT name, slug FROM categories ORDER BY name"
        with psycopg.connect(scratch.url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO categories (id, name, slug)"
                " VALUES (gen_random_uuid(), 'Tea', 'tea'), (gen_random_uuid(), 'Coffee', 'coffee')"
            )
            before = conn.execute(categories).fetchall()
        backup = tmp_path / "backup.dump"

        database.dump_data(scratch, backup)
        with psycopg.connect(scratch.url, autocommit=True) as conn:
            conn.execute("DELETE FROM categories WHERE slug = 'tea'")
            conn.execute("INSERT INTO categories (id, name, slug) VALUES (gen_random_uuid(), 'Cocoa', 'cocoa')")
        database.restore(scratch, backup)

        with psycopg.connect(scratch.url) as conn:
            assert conn.execute(categories).fetchall() == before
            assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == (migrations.head_revision(),)


def test_a_backup_restores_into_another_database(tmp_path: Path) -> None:
    with scratch_database() as source, scratch_database() as copy:
        database.create(source)
        migrations.migrate(source)
        with psycopg.connect(source.url, autocommit=True) as conn:
            conn.execute("INSERT INTO categories (id, name, slug) VALUES (gen_random_uuid(), 'Tea', 'tea')")
        backup = tmp_path / "backup.dump"
        database.dump_data(source, backup)
        database.create(copy)

        database.restore(copy, backup)

        with psycopg.connect(copy.url) as conn:
            assert conn.execute("SELECT slug FROM categories").fetchall() == [("tea",)]
