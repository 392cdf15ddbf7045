"""Install the job queue: procrastinate 3.10.0's schema, and job_errors (each failed attempt's reason).

The SQL is procrastinate's own schema file, copied at this version so the migration never changes;
upgrades of procrastinate apply its migration files in later migrations of ours.

Revision ID: 20261127_0002
Revises: 20261127_0001
Create Date: 2026-11-27
"""

from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision: str = "20261127_0002"
down_revision: str | None = "20261127_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = Path(__file__).parents[1] / "sql" / "procrastinate_3_10_0.sql"


def upgrade() -> None:
    op.execute(SCHEMA.read_text())
    # Oban keeps each attempt's error on the job; procrastinate does not, so we do (for `myapp jobs`).
    op.create_table(
        "job_errors",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("job_id", sa.BigInteger, sa.ForeignKey("procrastinate_jobs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )
    op.create_index("job_errors_job_id_index", "job_errors", ["job_id"])
    # Uniqueness checks look up recent jobs by task and arguments.
    op.create_index("procrastinate_jobs_task_name_args_index", "procrastinate_jobs", ["task_name", "args"])


def downgrade() -> None:
    op.drop_table("job_errors")
    # CASCADE: the triggers go with their tables, and fetch_job returns rows of procrastinate_jobs.
    op.execute(
        "DROP TABLE procrastinate_events, procrastinate_periodic_defers, procrastinate_jobs, procrastinate_workers"
        " CASCADE"
    )
    op.execute(
        """
        DO $$
        DECLARE routine record;
        BEGIN
          FOR routine IN
            SELECT p.oid::regprocedure AS signature FROM pg_proc p
            JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate\\_%'
          LOOP
            EXECUTE 'DROP ROUTINE ' || routine.signature;
          END LOOP;
        END $$;
        """
    )
    op.execute("DROP TYPE procrastinate_job_to_defer_v1, procrastinate_job_event_type, procrastinate_job_status")
