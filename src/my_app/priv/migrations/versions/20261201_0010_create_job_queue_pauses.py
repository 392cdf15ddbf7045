"""Create job_queue_pauses: the queues an operator paused (`myapp jobs pause`, the ops dashboard).

A row per paused queue, so a pause holds across restarts and on every node; the job workers read
it as they start and whenever a pause or resume is announced. Like job_errors, no schema maps it:
`my_app.jobs` reads and writes it with SQL.

Revision ID: 20261201_0010
Revises: 20261201_0009
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261201_0010"
down_revision: str | None = "20261201_0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "job_queue_pauses",
        # As long as procrastinate_jobs.queue_name.
        sa.Column("queue", sa.String(length=128), primary_key=True),
        sa.Column("paused_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("job_queue_pauses")
