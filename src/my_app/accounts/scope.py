"""Scope: who is asking (phx.gen.auth's `Scope`), passed first to scoped context functions."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from my_app.accounts.user import Role, User


@dataclass(frozen=True)
class Scope:
    user: User

    @property
    def admin(self) -> bool:
        return self.user.role == Role.ADMIN

    def can_manage(self, other: User) -> bool:
        """The user themself or an admin."""
        return self.admin or other.id == self.user.id


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a long-lived connection acts for: the user's id, name and role at the time it connected.

    A socket keeps this for as long as it is open instead of the `User` it was built from: a few
    hundred bytes rather than an ORM instance's kilobytes, times every open socket.
    """

    id: uuid.UUID
    name: str
    role: Role

    @classmethod
    def of(cls, user: User) -> Identity:
        return cls(id=user.id, name=user.name, role=user.role)

    @property
    def admin(self) -> bool:
        return self.role == Role.ADMIN
