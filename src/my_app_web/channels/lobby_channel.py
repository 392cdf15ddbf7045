"""LobbyChannel (`myapp gen channel Lobby`): the topics `lobby:*`, e.g. `lobby:main`.

The socket lets only signed-in users connect (`UserSocket.connect`), so every join has a user:
`socket.assigns["user"]` (an `accounts.Identity`). Who may join which topic is decided in `join`.
Everyone joined is tracked in Presence under their user id, one meta per socket.

From the JS client:

    const channel = socket.channel("lobby:main", {})
    channel.join().receive("ok", () => channel.push("ping", {hello: "there"}))
    channel.on("shout", payload => console.log(payload))
"""

from __future__ import annotations

from typing import Any

from my_app_web.channels import presence
from my_app_web.channels.channel import Channel, ChannelSocket, Refuse, Reply


class LobbyChannel(Channel):
    async def join(self, topic: str, payload: dict[str, Any], socket: ChannelSocket) -> dict[str, Any] | None:
        if not await authorized(socket, topic.removeprefix("lobby:"), payload):
            raise Refuse({"reason": "unauthorized"})
        return {}

    async def after_join(self, socket: ChannelSocket) -> None:
        await presence.track(socket)
        await presence.push_state(socket)

    async def handle_in(self, event: str, payload: dict[str, Any], socket: ChannelSocket) -> Reply | None:
        # Request/response: the client's push gets a reply (here, its own payload back).
        if event == "ping":
            return Reply.ok(payload)
        # A message for everyone in the topic, the sender included; `from` is who sent it, set here
        # so no client can speak for another.
        if event == "shout":
            await socket.broadcast("shout", {**payload, "from": str(socket.assigns["user"].id)})
            return None
        return Reply.error({"reason": f"unknown event {event!r}"})

    async def terminate(self, reason: str, socket: ChannelSocket) -> None:
        await presence.untrack(socket)


async def authorized(socket: ChannelSocket, subtopic: str, payload: dict[str, Any]) -> bool:
    """May this socket's user join `lobby:<subtopic>`? Every signed-in user may, as generated.

    Decide it from the database through a context, not from the socket's assigns (a snapshot taken
    at connect): e.g. `await chat.can_join(socket.assigns["user"], subtopic)`.
    """
    return True
