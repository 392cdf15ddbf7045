"""The gadgets API (GadgetController, `phx.gen.json`). Every route needs a bearer token: a user
lists, reads and changes their own gadgets, an admin everyone's; someone else's gadget is 404, as
if it did not exist.

Who may see or change which gadget is the Shop context's decision; this module parses, calls, renders.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response, status
from pydantic import AfterValidator, BaseModel, Field, JsonValue, StrictBool, StrictFloat, StrictInt

from my_app import shop
from my_app_web.controllers.api import errors, gadget_json
from my_app_web.controllers.api.json_response import JSONBody
from my_app_web.controllers.api.params import Text
from my_app_web.plugs.auth import ApiScope

router = APIRouter(prefix="/gadgets", tags=["shop"], responses=errors.SERVER_ERROR)


Limit = Annotated[int, Query(ge=1, le=100, description="At most 100")]
Cursor = Annotated[str | None, Query(description="`meta.next_cursor` of the previous page")]
JSON_MAX_DEPTH = 32


def _storable_json(value: dict[str, JsonValue]) -> dict[str, JsonValue]:
    # PostgreSQL's JSONB cannot hold NUL, lone surrogates, NaN or integers beyond 64 bits, and the
    # deeper an object nests the more it costs to store and read: refuse them as a bad request.
    pending: list[tuple[JsonValue, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list) and depth > JSON_MAX_DEPTH:
            raise ValueError(f"may nest at most {JSON_MAX_DEPTH} levels deep")
        if isinstance(item, dict):
            pending += [(key, depth) for key in item]
            pending += [(nested, depth + 1) for nested in item.values()]
        elif isinstance(item, list):
            pending += [(nested, depth + 1) for nested in item]
        elif isinstance(item, str) and ("\x00" in item or any("\ud800" <= char <= "\udfff" for char in item)):
            raise ValueError("text must be valid Unicode without NUL characters")
        elif isinstance(item, float) and not math.isfinite(item):
            raise ValueError("numbers must be finite")
        elif isinstance(item, int) and not -(2**63) <= item < 2**63:
            raise ValueError("integers must fit in 64 bits")
    return value


JSONObject = Annotated[dict[str, JsonValue], AfterValidator(_storable_json)]


class GadgetFields(BaseModel):
    name: Text | None = Field(default=None, examples=["some name"])
    slug: Text | None = Field(default=None, examples=["some name"])
    notes: Text | None = Field(default=None, examples=["some text"])
    count: StrictInt | None = Field(default=None, examples=[42])
    weight: StrictFloat | StrictInt | None = Field(default=None, examples=[120.5])
    price: Text | StrictInt | StrictFloat | None = Field(
        default=None, examples=["120.50"], description='A decimal string ("120.50"; a JSON number is taken too)'
    )
    active: StrictBool | None = Field(default=None, examples=[True])
    released_on: Text | None = Field(default=None, examples=["2026-12-01"], description="An ISO 8601 date")
    opens_at: Text | None = Field(default=None, examples=["14:00:00"], description="An ISO 8601 time")
    launched_at: Text | None = Field(
        default=None, examples=["2026-12-01T14:00:00Z"], description="ISO 8601 (UTC when no offset)"
    )
    token: Text | None = Field(default=None, examples=["7488a646-e31f-11e4-aace-600308960662"])
    specs: JSONObject | None = Field(default=None, examples=[{"size": "large"}], description="A JSON object")
    tags: list[Text] | None = Field(default=None, examples=[["some name", "other name"]])
    sizes: list[StrictInt] | None = Field(default=None, examples=[[42, 43]])
    status: Text | None = Field(default=None, examples=["draft"], description='One of "draft", "published", "archived"')
    secret: Text | None = Field(default=None, examples=["some name"], description="Write-only: never shown")
    category_id: Text | None = Field(
        default=None, examples=["6a0f4f0e-2f7c-4bd5-9f3e-1c1a6c5b7e21"], description="The category's id"
    )


class GadgetParams(BaseModel):
    gadget: GadgetFields


def _attrs(fields: BaseModel) -> dict[str, Any]:
    return fields.model_dump(exclude_unset=True)


async def _gadget(id: str, scope: ApiScope) -> shop.Gadget:  # noqa: A002 - the route's name
    """The gadget `id` names: the bearer token first (401), then the gadget if the caller may see it
    (their own; any for admins), else 404 (someone else's, a malformed id)."""
    return await shop.get_gadget_or_404(scope, id)


ScopedGadget = Annotated[shop.Gadget, Depends(_gadget)]
# The context lets whoever may see a gadget change it (its owner, an admin): no 403 here.
_WRITE: errors.Responses = {**errors.BAD_BODY, **errors.UNAUTHORIZED, **errors.NOT_FOUND, **errors.UNPROCESSABLE}


@router.get(
    "",
    response_model=gadget_json.GadgetListResponse,
    responses={**errors.BAD_REQUEST, **errors.UNAUTHORIZED, **errors.UNPROCESSABLE},
    summary="List the caller's gadgets, oldest first (every gadget for admins)",
    description="Pages by keyset: pass `meta.next_cursor` as `cursor` for the next page. A bad `limit`"
    " is 400, a cursor that was not handed out 422.",
)
async def index(scope: ApiScope, limit: Limit = 20, cursor: Cursor = None) -> JSONBody:
    return gadget_json.index(await shop.list_gadgets(scope, limit=limit, cursor=cursor))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=gadget_json.GadgetResponse,
    responses={**errors.BAD_BODY, **errors.UNAUTHORIZED, **errors.UNPROCESSABLE},
    summary="Create a gadget; the caller is its owner",
)
async def create(params: GadgetParams, scope: ApiScope) -> JSONBody:
    gadget = await shop.create_gadget(scope, _attrs(params.gadget))
    location = f"/api/gadgets/{gadget.id}"
    return gadget_json.show(gadget, status_code=status.HTTP_201_CREATED, headers={"location": location})


@router.get(
    "/{id}",
    response_model=gadget_json.GadgetResponse,
    responses={**errors.UNAUTHORIZED, **errors.NOT_FOUND},
    summary="Show a gadget (its owner, admins)",
)
async def show(gadget: ScopedGadget) -> JSONBody:
    return gadget_json.show(gadget)


@router.patch(
    "/{id}", response_model=gadget_json.GadgetResponse, responses=_WRITE, summary="Update a gadget (its owner, admins)"
)
async def update(scope: ApiScope, gadget: ScopedGadget, params: GadgetParams) -> JSONBody:
    return gadget_json.show(await shop.update_gadget(scope, gadget, _attrs(params.gadget)))


@router.put(
    "/{id}", response_model=gadget_json.GadgetResponse, responses=_WRITE, summary="Update a gadget (its owner, admins)"
)
async def replace(scope: ApiScope, gadget: ScopedGadget, params: GadgetParams) -> JSONBody:
    return gadget_json.show(await shop.update_gadget(scope, gadget, _attrs(params.gadget)))


@router.delete(
    "/{id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**errors.UNAUTHORIZED, **errors.NOT_FOUND},
    summary="Delete a gadget (its owner, admins)",
)
async def delete(scope: ApiScope, gadget: ScopedGadget) -> Response:
    await shop.delete_gadget(scope, gadget)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
