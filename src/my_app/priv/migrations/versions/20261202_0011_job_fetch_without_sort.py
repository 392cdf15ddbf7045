"""Fetch each job from the queue's priority index, whatever the table's statistics say.

procrastinate's `procrastinate_fetch_job_v2` picks the first waiting job (`ORDER BY priority DESC,
id ASC LIMIT 1 ... FOR UPDATE SKIP LOCKED`). With statistics that do not know the waiting jobs (a
freshly migrated table, never analyzed; or statistics taken while the queue was empty, before a
burst), PostgreSQL estimates one waiting job and plans a bitmap scan that reads *every* waiting
job and sorts them to return one: each fetch costs O(jobs waiting), 1.4-2 ms with 3,000 waiting
instead of 0.1 ms, and a worker slows down as its queue grows, until autovacuum's next analyze.
Forbidding the sort inside that one function leaves the planner the ordered walk of
`procrastinate_jobs_priority_idx_v1` (the plan it picks anyway with statistics): one index entry
per fetch. The function's body stays procrastinate's; a later procrastinate version that replaces
the function (a `_v3`) needs the same setting again (tests/my_app/test_jobs_worker_cost.py fails).

Revision ID: 20261202_0011
Revises: 20261201_0010
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

revision: str = "20261202_0011"
down_revision: str | None = "20261201_0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FETCH_JOB = "procrastinate_fetch_job_v2(character varying[], bigint)"


def upgrade() -> None:
    op.execute(f"ALTER FUNCTION {FETCH_JOB} SET enable_sort = off")


def downgrade() -> None:
    op.execute(f"ALTER FUNCTION {FETCH_JOB} RESET enable_sort")
