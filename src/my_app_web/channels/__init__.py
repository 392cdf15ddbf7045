"""WebSocket channels speaking the Phoenix Channels protocol (v2, and v1 object frames).

- `channel.py`: the API a channel module implements (`Channel`, `ChannelSocket`, `Refuse`, `Reply`);
- `serializer.py`: frames to and from `[join_ref, ref, topic, event, payload]`;
- `transport.py`: the `/socket/websocket` endpoint: handshake, heartbeats, limits, dispatch;
- `user_socket.py`: who may connect and which channel serves which topic (the seed's user_socket.ex);
- `room_channel.py`: the `phx.gen.channel Room` example, with Presence.
"""
