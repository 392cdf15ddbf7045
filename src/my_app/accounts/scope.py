"""Scope: who is asking (Phoenix 1.8's `%Scope{}`), passed first to every context function whose
answer depends on it. The context enforces access with it; callers only pass it along.

- `Scope.for_user(user)`: a signed-in user (what the web's auth dependencies build per request);
- `Scope.for_user(None)`: a visitor, signed in as nobody;
- `Scope.for_system()`: the operator at the machine (the `myapp` CLI, seeds, jobs) — every right.

`Identity` is what a long-lived socket keeps of its user instead of a whole `Scope`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from my_app.accounts.user import Role, User


@dataclass(frozen=True)
class Scope:
    """The caller of a context function: a user, a visitor (no user), or the system.

    Examples:
        Scope.for_user(ada).can_manage(ada.id)    # True: their own account
        Scope.for_user(ada).can_manage(bob.id)    # False
        Scope.for_user(admin).can_manage(bob.id)  # True
        Scope.for_system().admin                  # True: the CLI and seeds act as the operator
    """

    user: User | None = None
    system: bool = False

    @classmethod
    def for_user(cls, user: User | None) -> Scope:
        return cls(user=user)

    @classmethod
    def for_system(cls) -> Scope:
        """The operator (CLI, seeds, jobs): allowed everything an admin is; never built from a request."""
        return cls(system=True)

    @property
    def admin(self) -> bool:
        return self.system or (self.user is not None and self.user.role == Role.ADMIN)

    @property
    def user_id(self) -> uuid.UUID | None:
        return self.user.id if self.user is not None else None

    def can_manage(self, user_id: uuid.UUID) -> bool:
        """May this caller see and change the account `user_id`? Its own, or any for an admin."""
        return self.admin or (self.user is not None and self.user.id == user_id)


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a long-lived connection acts for: the user's id, and their name and role when it connected.

    A socket keeps this for as long as it is open instead of the `User` it was built from: a few
    hundred bytes rather than an ORM instance's kilobytes, times every open socket. `name` is for
    display; `role` is only a snapshot — access checks (`chat.can_join`) read the current role from
    the database, so a demoted admin loses admin rights on sockets that are already open.
    """

    id: uuid.UUID
    name: str
    role: Role

    @classmethod
    def of(cls, user: User) -> Identity:
        return cls(id=user.id, name=user.name, role=user.role)

    @property
    def admin(self) -> bool:
        """The role at connect; a snapshot, never used to authorize."""
        return self.role == Role.ADMIN


Caller = Scope | Identity  # what chat's access checks take: a request's Scope, or a socket's Identity
