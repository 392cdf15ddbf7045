"""Which database constraint a failed write broke, read from PostgreSQL's own report.

Contexts turn a unique violation into Ecto's "has already been taken" on the right field, and a
foreign key violation into "does not exist" (or "are still associated with this entry"). They ask
PostgreSQL which constraint it was (psycopg's `diag.constraint_name`) instead of searching the
error text, which changes with the server's language and version.
"""

from __future__ import annotations

from psycopg.errors import ForeignKeyViolation, RestrictViolation, UniqueViolation
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


def foreign_key_violation(error: IntegrityError) -> str | None:
    """The name of the foreign key `error` broke: a row pointing at a parent that does not exist, or
    the delete of a parent that rows still point at (ON DELETE NO ACTION or RESTRICT); None for any
    other integrity error.

    Examples:
        try:
            await session.flush()
        except IntegrityError as exc:
            if foreign_key_violation(exc) == "gadgets_category_id_fkey":
                raise ValidationError({"category_id": ["does not exist"]}) from None
            raise

        foreign_key_violation(missing_category_error)  # "gadgets_category_id_fkey"
        foreign_key_violation(duplicate_email_error)   # None
    """
    cause = error.orig
    if isinstance(cause, ForeignKeyViolation | RestrictViolation):
        return cause.diag.constraint_name
    return None
