"""Alembic's entry point: runs migrations on the connection `my_app.migrations` hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine, pool

from my_app.migrations import include_name
from my_app.schema import Base
from my_app.schema_registry import load_all_schemas

load_all_schemas()
config = context.config
target_metadata = Base.metadata


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        include_name=include_name,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run_migrations(connection)
else:
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "", poolclass=pool.NullPool)
    with engine.connect() as new_connection:
        run_migrations(new_connection)
    engine.dispose()
