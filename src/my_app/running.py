"""Where each module finds the running app's instance of its kind (the Repo, the PubSub node, ...).

`my_app.application.Application` owns the instances: as it starts it makes each one and puts it in
its module's `Slot` (`repo.running`, `pubsub.running`, `presence.running`, `jobs.running`,
`mailer.running`, `accounts.notifier.links`); as it stops it puts back what each slot held before.
So an app started inside another (a test, a CLI command) takes over until it stops, then the first
one is back, and there is no other way to swap an instance.

The module-level functions (`repo.transaction()`, `pubsub.broadcast()`, ...) read `slot.value`: a
plain attribute read on the hot paths, not a context-variable lookup.

Examples:
    repo.running.value                  # the running app's Repo (None before any app starts)
    with repo.running.holding(other):   # what Application.start does, undone when it stops
        ...
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

T = TypeVar("T")


class Slot(Generic[T]):
    """The running app's instance of one kind; `holding(value)` installs one until the block ends."""

    __slots__ = ("name", "value")

    def __init__(self, name: str, value: T) -> None:
        self.name = name
        self.value = value

    @contextmanager
    def holding(self, value: T) -> Iterator[T]:
        """`value` is this slot's value inside the block; the previous one comes back after it."""
        previous, self.value = self.value, value
        try:
            yield value
        finally:
            self.value = previous

    def __repr__(self) -> str:
        return f"Slot({self.name!r}, {self.value!r})"
