"""Scope: who is asking (phx.gen.auth's `Scope`), passed first to scoped context functions."""

from __future__ import annotations

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
