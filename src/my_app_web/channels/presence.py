"""Presence (`mix phx.gen.presence`): who is in each channel topic, as the channels and pages see it.

Wraps the tracker (`my_app.presence`: every node's presences, diffs batched) with what a channel
needs. A channel tracks its socket once joined and untracks it as it ends:

    async def after_join(self, socket):
        await presence.track(socket)
        await presence.push_state(socket)  # presence_state: everyone already here

    async def terminate(self, reason, socket):
        await presence.untrack(socket)

Each socket is one meta under its user's id (two tabs of one user: one key, two metas), and joins
and leaves reach every client of the topic as `presence_diff` broadcasts, the shapes the JS
client's `Presence` syncs. Clients get the metas as tracked, with no query per join: put what they
show of a socket in its meta. `list_presences(topic)`, for server-side readers (a page, an API),
adds each user's current data through `fetch`, in one query for the whole list.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from my_app import accounts
from my_app import presence as tracker
from my_app_web.channels.channel import ChannelSocket

# key (a user id) -> {"metas": [meta, ...]}, plus what `fetch` adds (`"user"`)
Presences = dict[str, dict[str, Any]]


async def track(socket: ChannelSocket, meta: dict[str, Any] | None = None) -> str:
    """Track the socket in its topic under its user's id; its meta says when and who. Returns its phx_ref.

    The meta must be JSON (it is sent to the other nodes and the clients). The presence stays until
    `untrack(socket)`, which the channel calls as it ends, however its socket went away.

    Examples:
        await track(socket)                       # {"online_at": "2026-12-01T10:00:00Z", "name": "Ada", "phx_ref": ...}
        await track(socket, {"status": "away"})  # the same, with "status": "away"
    """
    user: accounts.Identity = socket.assigns["user"]
    online_at = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return await tracker.track(
        socket.topic, str(user.id), {"online_at": online_at, "name": user.name, **(meta or {})}, owner=socket.owner
    )


async def untrack(socket: ChannelSocket) -> None:
    """Remove the socket's presence: the others get a `presence_diff` with its leave."""
    await tracker.untrack_owner(socket.owner)


async def push_state(socket: ChannelSocket) -> None:
    """Send this client everyone in its topic (`presence_state`); the diffs that follow keep it current.

    Encoded once for every socket joining the topic before its next flush: a crowd joining at once
    costs one list, not one each.
    """
    await socket.push("presence_state", tracker.encoded_presences(socket.topic))


async def list_presences(topic: str) -> Presences:
    """Everyone in `topic`, on every node, with their user's current data (`Presence.list/1`).

    Examples:
        await list_presences("lobby:main")
        # {"<ada's id>": {"metas": [{"online_at": ..., "name": "Ada", "phx_ref": ...}],
        #                 "user": {"id": "<ada's id>", "name": "Ada"}}}
        await list_presences("lobby:empty")  # {}
    """
    return await fetch(topic, tracker.list_presences(topic))


async def fetch(topic: str, presences: Presences) -> Presences:
    """Add each user's data beside their metas, in one query for every key (`Presence.fetch/2`).

    The place to add what a reader shows of each user: only what anyone in the topic may see. A
    user deleted meanwhile keeps their metas, with `"user": None`.
    """
    users = await accounts.get_users_map(presences)
    return {
        key: {**entry, "user": _user_json(users[key]) if key in users else None} for key, entry in presences.items()
    }


def _user_json(user: accounts.User) -> dict[str, Any]:
    return {"id": str(user.id), "name": user.name}
