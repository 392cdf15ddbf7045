"""The errors contexts raise; the web layer maps each to one response shape (FallbackController).

Named `ValidationError` like Ecto's invalid changeset; import it from here so it is never confused
with `pydantic.ValidationError`.
"""

from __future__ import annotations


class NotFoundError(Exception):
    """A record that was asked for by id does not exist (Ecto.NoResultsError)."""

    def __init__(self, resource: str = "record", identifier: object = None) -> None:
        self.resource = resource
        self.identifier = identifier
        super().__init__(f"{resource} not found" if identifier is None else f"{resource} {identifier!r} not found")

    def __repr__(self) -> str:
        return f"NotFoundError(resource={self.resource!r}, identifier={self.identifier!r})"


class ValidationError(Exception):
    """Input was refused and nothing was written; `errors` maps each field to its messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{field} {', '.join(messages)}" for field, messages in errors.items()))

    def __repr__(self) -> str:
        return f"ValidationError(errors={self.errors!r})"


class UnauthorizedError(Exception):
    """The caller is not authenticated (missing, bad or expired credentials)."""


class ForbiddenError(Exception):
    """The caller is authenticated but not allowed to do this."""
