"""Imports every context's schema modules so `Base.metadata` knows all tables (for Alembic)."""

from __future__ import annotations

import importlib

# One entry per context package; `myapp gen context` appends to this tuple.
CONTEXTS: tuple[str, ...] = (
    "my_app.accounts.user",
    "my_app.accounts.user_token",
    "my_app.chat.room",
    "my_app.catalog.category",
    "my_app.catalog.product",
    "my_app.blog.post",
    "my_app.blog.comment",
)


def load_all_schemas() -> None:
    for module in CONTEXTS:
        importlib.import_module(module)
