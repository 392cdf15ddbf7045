"""The error bodies of the JSON API, for the OpenAPI document (the handlers are in `fallback`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorDetail(BaseModel):
    detail: str = Field(examples=["Unauthorized"])


class ErrorBody(BaseModel):
    """`{"errors": {"detail": "..."}}` (ErrorJSON)."""

    errors: ErrorDetail


class ChangesetErrorBody(BaseModel):
    """`{"errors": {field: [messages]}}` (ChangesetJSON)."""

    errors: dict[str, list[str]] = Field(examples=[{"email": ["has already been taken"]}])


Responses = dict[int | str, dict[str, Any]]


def _error(description: str, detail: str) -> dict[str, Any]:
    return {
        "model": ErrorBody,
        "description": description,
        "content": {"application/json": {"example": {"errors": {"detail": detail}}}},
    }


BAD_REQUEST: Responses = {400: _error("Malformed JSON, a missing wrapper key or a wrong type", "Bad Request")}
UNAUTHORIZED: Responses = {401: _error("Missing, invalid or expired bearer token", "Unauthorized")}
FORBIDDEN: Responses = {403: _error("Authenticated, but not allowed", "Forbidden")}
NOT_FOUND: Responses = {404: _error("No such record (also for a malformed id)", "Not Found")}
UNPROCESSABLE: Responses = {422: {"model": ChangesetErrorBody, "description": "Invalid input; nothing was written"}}
TOO_MANY: Responses = {429: _error("Too many attempts; see the retry-after header", "Too Many Requests")}
TOO_LARGE: Responses = {413: _error("The body is larger than MAX_BODY_BYTES", "Request Entity Too Large")}
# What an operation taking a JSON body answers to a body it cannot read.
BAD_BODY: Responses = {**BAD_REQUEST, **TOO_LARGE}
# Declared on every API router: FastAPI would otherwise document a 422 `HTTPValidationError` that
# this app never sends (request validation errors are 400s here).
SERVER_ERROR: Responses = {
    "default": _error("An unexpected error; the body never carries internals", "Internal Server Error")
}
