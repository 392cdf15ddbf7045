"""SCAFFOLD (json helper, not committed): a minimal Gadget schema per GEN-CONTRACT, for the API templates."""

from __future__ import annotations

import datetime
import decimal
import json
import math
import uuid
from typing import Annotated, Any, Literal

import pydantic
from sqlalchemy import ARRAY, Boolean, Date, DateTime, Float, ForeignKey, Integer, Numeric, String, Text, Time, Uuid
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from my_app.changeset import Input
from my_app.schema import Base, Timestamps


class Gadget(Timestamps, Base):
    __tablename__ = "gadgets"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(255))
    slug: Mapped[str] = mapped_column(String(255), unique=True)
    notes: Mapped[str] = mapped_column(Text)
    count: Mapped[int] = mapped_column(Integer)
    weight: Mapped[float] = mapped_column(Float)
    price: Mapped[decimal.Decimal] = mapped_column(Numeric)
    active: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    released_on: Mapped[datetime.date] = mapped_column(Date)
    opens_at: Mapped[datetime.time] = mapped_column(Time)
    launched_at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True))
    token: Mapped[uuid.UUID] = mapped_column(Uuid)
    specs: Mapped[dict[str, Any]] = mapped_column(JSONB)
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(255)))
    sizes: Mapped[list[int]] = mapped_column(ARRAY(Integer))
    status: Mapped[str] = mapped_column(String(255))
    secret: Mapped[str] = mapped_column(String(255))
    category_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("categories.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)


def _utc(value: Any) -> Any:
    if isinstance(value, str):
        try:
            value = datetime.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError("is invalid") from None
    if not isinstance(value, datetime.datetime):
        raise ValueError("is invalid")
    return (value if value.tzinfo else value.replace(tzinfo=datetime.UTC)).astimezone(datetime.UTC)


def _map(value: Any) -> Any:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError("is invalid") from None
    if not isinstance(value, dict):
        raise ValueError("is invalid")
    return value


def _finite(value: Any) -> Any:
    if isinstance(value, float | decimal.Decimal) and not math.isfinite(value):
        raise ValueError("is invalid")
    return value


Int32 = Annotated[int, pydantic.Field(strict=True, ge=-(2**31), le=2**31 - 1)]
Str255 = Annotated[str, pydantic.Field(max_length=255)]


class GadgetInput(Input):
    name: Str255
    slug: Str255
    notes: str
    count: Int32
    weight: Annotated[float, pydantic.AfterValidator(_finite)]
    price: Annotated[decimal.Decimal, pydantic.AfterValidator(_finite)]
    active: bool = False
    released_on: datetime.date
    opens_at: datetime.time
    launched_at: Annotated[datetime.datetime, pydantic.BeforeValidator(_utc)]
    token: uuid.UUID
    specs: Annotated[dict[str, Any], pydantic.BeforeValidator(_map)]
    tags: list[Str255]
    sizes: list[Int32]
    status: Literal["draft", "published", "archived"]
    secret: Str255
    category_id: uuid.UUID


class GadgetUpdate(Input):
    name: Str255 | None = None
    slug: Str255 | None = None
    notes: str | None = None
    count: Int32 | None = None
    weight: Annotated[float, pydantic.AfterValidator(_finite)] | None = None
    price: Annotated[decimal.Decimal, pydantic.AfterValidator(_finite)] | None = None
    active: bool | None = None
    released_on: datetime.date | None = None
    opens_at: datetime.time | None = None
    launched_at: Annotated[datetime.datetime, pydantic.BeforeValidator(_utc)] | None = None
    token: uuid.UUID | None = None
    specs: Annotated[dict[str, Any], pydantic.BeforeValidator(_map)] | None = None
    tags: list[Str255] | None = None
    sizes: list[Int32] | None = None
    status: Literal["draft", "published", "archived"] | None = None
    secret: Str255 | None = None
    category_id: uuid.UUID | None = None
