from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from my_app import database, migrations
from tests.support.databases import migration_revisions as revisions
from tests.support.databases import scratch_database


def user_objects(db: database.Database) -> dict[str, list[str]]:
    """What the migrations create: tables, extensions and functions outside PostgreSQL's own schemas."""
    with psycopg.connect(db.url) as conn:
        tables = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1").fetchall()
        extensions = conn.execute("SELECT extname FROM pg_extension WHERE extname <> 'plpgsql' ORDER BY 1").fetchall()
        functions = conn.execute(
            "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname = 'public'"
            " AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')"  # citext's own
            " ORDER BY 1"
        ).fetchall()
        types = conn.execute(
            "SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace"
            " WHERE n.nspname = 'public' AND t.typtype = 'e' ORDER BY 1"
        ).fetchall()
    return {
        "tables": [row[0] for row in tables if row[0] != "alembic_version"],
        "extensions": [row[0] for row in extensions],
        "functions": [row[0] for row in functions],
        "enums": [row[0] for row in types],
    }


@pytest.fixture
def scratch() -> Iterator[database.Database]:
    with scratch_database("migrations") as db:
        database.create(db)
        yield db


# --- the library calls ---


def test_migrate_brings_an_empty_database_to_the_latest_migration(scratch: database.Database) -> None:
    assert migrations.current_revision(scratch) is None
    assert migrations.pending(scratch) is True

    migrations.migrate(scratch)

    assert migrations.current_revision(scratch) == migrations.head_revision() == revisions()[-1]
    assert migrations.pending(scratch) is False
    assert "citext" in user_objects(scratch)["extensions"]


def test_rollback_reverts_the_last_migration_then_migrate_reapplies_it(scratch: database.Database) -> None:
    migrations.migrate(scratch)
    before = user_objects(scratch)

    migrations.rollback(scratch)

    all_revisions = revisions()
    previous = all_revisions[-2] if len(all_revisions) > 1 else None
    assert migrations.current_revision(scratch) == previous
    assert migrations.pending(scratch) is True

    migrations.migrate(scratch)

    assert migrations.current_revision(scratch) == migrations.head_revision()
    assert user_objects(scratch) == before


def test_rolling_back_every_migration_leaves_an_empty_database(scratch: database.Database) -> None:
    empty = user_objects(scratch)
    migrations.migrate(scratch)
    migrated = user_objects(scratch)

    migrations.rollback(scratch, steps=len(revisions()))

    assert migrations.current_revision(scratch) is None
    assert user_objects(scratch) == empty

    migrations.migrate(scratch)

    assert migrations.current_revision(scratch) == migrations.head_revision()
    assert user_objects(scratch) == migrated


def test_the_first_migration_creates_citext(scratch: database.Database) -> None:
    migrations.migrate(scratch, revisions()[0])

    assert user_objects(scratch) == {"tables": [], "extensions": ["citext"], "functions": [], "enums": []}


def test_the_migrations_match_the_schemas_so_autogenerate_proposes_nothing(scratch: database.Database) -> None:
    # What `myapp gen migration` would write on an up-to-date database: nothing (a schema changed
    # without its migration, or an unmanaged table autogenerate would drop, shows here).
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine, pool

    from my_app.schema import Base
    from my_app.schema_registry import load_all_schemas

    migrations.migrate(scratch)
    load_all_schemas()
    engine = create_engine(scratch.sqlalchemy_url, poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "include_name": migrations.include_name}
            )
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()
