"""Create pubsub_payloads: PubSub envelopes too large for NOTIFY, read back by the other nodes.

`json`, not `jsonb`: the envelope is stored and read back as the text it is, never queried;
jsonb would refuse the \\u0000 escape in a string and turn a float like 1e16 into an integer.
No ORM schema declares the table (my_app.migrations.UNMANAGED_TABLE_PREFIXES keeps autogenerate off it).

Revision ID: 20261127_0005
Revises: 20261127_0004
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261127_0005"
down_revision: str | None = "20261127_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pubsub_payloads",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("envelope", sa.JSON(), nullable=False),
        sa.Column("inserted_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pubsub_payloads_pkey")),
    )
    # Publishers delete the rows older than a few minutes as they go.
    op.create_index(op.f("pubsub_payloads_inserted_at_index"), "pubsub_payloads", ["inserted_at"])


def downgrade() -> None:
    op.drop_table("pubsub_payloads")
