"""WebSocket channels speaking the Phoenix Channels protocol (v2, and v1 object frames).

- `channel.py`: the API a channel module implements (`Channel`, `ChannelSocket`, `Refuse`, `Reply`);
- `socket_handler.py`: the API a socket module implements (`SocketHandler`: connect, id, channels);
- `serializer.py`: frames to and from `[join_ref, ref, topic, event, payload]`;
- `socket_endpoint.py`: the `/socket/websocket` ASGI app, with the origin check (`origin_check.py`);
- `connection.py`: one WebSocket: handshake, heartbeats, limits, dispatch, writing;
- `channel_server.py`: one joined topic, run like a channel process;
- `rate_bucket.py`, `eager.py`: the per-socket rate limit, and writing frames without a task;
- `wire.py`: frames encoded once for many sockets, written as they are to uvicorn's transport;
- `user_socket.py`: who may connect and which channel serves which topic (the seed's user_socket.ex);
- `room_channel.py`: the `phx.gen.channel Room` example, with Presence.
"""
