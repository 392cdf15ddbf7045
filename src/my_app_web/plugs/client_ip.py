"""The client's IP address, the one way every caller gets it (rate limits, logs).

It is the peer address of the connection, or the address a trusted proxy forwarded: forwarded
headers are believed only from `TRUSTED_PROXIES` (see the endpoint's proxy-headers middleware).
"""

from __future__ import annotations

from starlette.requests import HTTPConnection

UNKNOWN_CLIENT_IP = "unknown"


def client_ip(connection: HTTPConnection) -> str:
    """The client's address, or `"unknown"` when the server was not told (a Unix socket, a test transport)."""
    return connection.client.host if connection.client else UNKNOWN_CLIENT_IP
