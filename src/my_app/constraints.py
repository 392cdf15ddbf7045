"""Which database constraint a failed write broke, read from PostgreSQL's own report.

Contexts turn a unique violation into Ecto's "has already been taken" on the right field. They
ask PostgreSQL which constraint it was (psycopg's `diag.constraint_name`) instead of searching
the error text, which changes with the server's language and version.
"""

from __future__ import annotations

from psycopg.errors import UniqueViolation
from sqlalchemy.exc import IntegrityError


def unique_violation(error: IntegrityError) -> str | None:
    """The name of the unique constraint `error` broke; None for any other integrity error.

    Examples:
        try:
            await session.flush()
        except IntegrityError as exc:
            if unique_violation(exc) == "users_email_key":
                raise ValidationError({"email": ["has already been taken"]}) from None
            raise

        unique_violation(duplicate_email_error)  # "users_email_key"
        unique_violation(foreign_key_error)      # None
    """
    cause = error.orig
    if isinstance(cause, UniqueViolation):
        return cause.diag.constraint_name
    return None
