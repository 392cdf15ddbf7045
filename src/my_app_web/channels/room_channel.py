"""RoomChannel (`mix phx.gen.channel Room` + `phx.gen.presence`): chat rooms with presence.

`room:lobby` is open to every signed-in user; `room:<slug>` only to the room's members and admins.
The Chat context decides each join from the database (`chat.can_join`), not from the role the
socket saw at connect: an admin demoted while connected is refused at their next join.
Everyone joined is tracked in Presence under their user id, with one meta per socket.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from my_app import chat, presence
from my_app_web.channels.channel import Channel, ChannelSocket, Refuse, Reply

MAX_BODY_LENGTH = 2_000


class RoomChannel(Channel):
    async def join(self, topic: str, payload: dict[str, Any], socket: ChannelSocket) -> dict[str, Any] | None:
        slug = topic.removeprefix("room:")
        if not await chat.can_join(socket.assigns["user"], slug):
            raise Refuse({"reason": "unauthorized"})
        return {}

    async def after_join(self, socket: ChannelSocket) -> None:
        user = socket.assigns["user"]
        await presence.track(
            socket.topic,
            str(user.id),
            {"online_at": datetime.now(UTC).isoformat(), "name": user.name},
            owner=socket.owner,
        )
        # Encoded once for every socket joining before the topic's next presence flush.
        await socket.push("presence_state", presence.encoded_presences(socket.topic))

    async def handle_in(self, event: str, payload: dict[str, Any], socket: ChannelSocket) -> Reply | None:
        if event == "ping":
            return Reply.ok({"pong": True, "n": payload.get("n")})
        if event == "new_msg":
            body = payload.get("body")
            if not isinstance(body, str) or not body.strip():
                return Reply.error({"reason": "body can't be blank"})
            if len(body) > MAX_BODY_LENGTH:
                return Reply.error({"reason": f"body should be at most {MAX_BODY_LENGTH} character(s)"})
            user = socket.assigns["user"]
            # The server's time: every reader shows when it was sent, not when it reached them.
            sent_at = datetime.now(UTC).isoformat().replace("+00:00", "Z")
            await socket.broadcast(
                "new_msg", {"body": body, "user": {"id": str(user.id), "name": user.name}, "sent_at": sent_at}
            )
            return Reply.ok()
        return Reply.error({"reason": f"unknown event {event!r}"})

    async def terminate(self, reason: str, socket: ChannelSocket) -> None:
        await presence.untrack_owner(socket.owner)
