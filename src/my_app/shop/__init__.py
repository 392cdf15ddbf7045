"""SCAFFOLD (json helper, not committed): a minimal Shop context per GEN-CONTRACT, for the API templates."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, Literal

from psycopg.errors import ForeignKeyViolation
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from my_app import pubsub, repo
from my_app.accounts.scope import Scope
from my_app.changeset import Changeset, cast, change, update_changes
from my_app.constraints import unique_violation
from my_app.errors import ForbiddenError, NotFoundError, ValidationError
from my_app.pagination import Page, paginate
from my_app.schema import parse_id
from my_app.shop.gadget import Gadget, GadgetInput, GadgetUpdate

__all__ = [
    "GADGETS_TOPIC",
    "Gadget",
    "GadgetEvent",
    "can_change_gadget",
    "change_gadget",
    "create_gadget",
    "delete_gadget",
    "get_gadget",
    "get_gadget_or_404",
    "list_gadgets",
    "update_gadget",
]

GADGETS_TOPIC = "shop:gadgets"
GadgetEvent = Literal["gadget_created", "gadget_updated", "gadget_deleted"]


async def list_gadgets(scope: Scope, *, limit: int | None = None, cursor: str | None = None) -> Page[Gadget]:
    if scope.user is None and not scope.admin:
        raise ForbiddenError()
    statement = select(Gadget)
    if not scope.admin:
        statement = statement.where(Gadget.user_id == scope.user_id)
    async with repo.read() as session:
        return await paginate(
            session, statement, inserted_at=Gadget.inserted_at, row_id=Gadget.id, limit=limit, cursor=cursor
        )


async def get_gadget(scope: Scope, gadget_id: uuid.UUID | str) -> Gadget | None:
    key = parse_id(gadget_id)
    if key is None or (scope.user is None and not scope.admin):
        return None
    statement = select(Gadget).where(Gadget.id == key)
    if not scope.admin:
        statement = statement.where(Gadget.user_id == scope.user_id)
    async with repo.read() as session:
        return await session.scalar(statement)


async def get_gadget_or_404(scope: Scope, gadget_id: uuid.UUID | str) -> Gadget:
    gadget = await get_gadget(scope, gadget_id)
    if gadget is None:
        raise NotFoundError("gadget", gadget_id)
    return gadget


def _violation(exc: IntegrityError) -> ValidationError | None:
    if unique_violation(exc) == "gadgets_slug_key":
        return ValidationError({"slug": ["has already been taken"]})
    if isinstance(exc.orig, ForeignKeyViolation) and exc.orig.diag.constraint_name == "gadgets_category_id_fkey":
        return ValidationError({"category_id": ["does not exist"]})
    return None


async def create_gadget(scope: Scope, attrs: Mapping[str, Any]) -> Gadget:
    if scope.user_id is None:
        raise ForbiddenError()
    data = cast(GadgetInput, attrs)
    gadget = Gadget(**data.model_dump(), user_id=scope.user_id)
    try:
        async with repo.transaction() as session:
            session.add(gadget)
            await session.flush()
            await session.refresh(gadget)
    except IntegrityError as exc:
        error = _violation(exc)
        if error is None:
            raise
        raise error from None
    await pubsub.announce(GADGETS_TOPIC, "gadget_created", {"id": str(gadget.id)})
    return gadget


async def update_gadget(scope: Scope, gadget: Gadget, attrs: Mapping[str, Any]) -> Gadget:
    if not can_change_gadget(scope, gadget):
        raise ForbiddenError()
    changes = update_changes(GadgetUpdate, attrs)
    try:
        async with repo.transaction() as session:
            updated = await repo.update(session, Gadget, gadget.id, changes)
            await session.flush()
            await session.refresh(updated)
    except IntegrityError as exc:
        error = _violation(exc)
        if error is None:
            raise
        raise error from None
    await pubsub.announce(GADGETS_TOPIC, "gadget_updated", {"id": str(gadget.id)})
    return updated


async def delete_gadget(scope: Scope, gadget: Gadget) -> Gadget:
    if not can_change_gadget(scope, gadget):
        raise ForbiddenError()
    async with repo.transaction() as session:
        await session.delete(await repo.get_for_update(session, Gadget, gadget.id))
    await pubsub.announce(GADGETS_TOPIC, "gadget_deleted", {"id": str(gadget.id)})
    return gadget


def change_gadget(gadget: Gadget | None, attrs: Mapping[str, Any] | None = None) -> Changeset[Gadget | None]:
    return change(GadgetInput if gadget is None else GadgetUpdate, gadget, attrs or {})


def can_change_gadget(scope: Scope, gadget: Gadget) -> bool:
    return scope.admin or (scope.user_id is not None and gadget.user_id == scope.user_id)
