"""The WebSocket route: `/socket/websocket`, served by UserSocket."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from my_app.config import Settings
from my_app_web.channels import transport
from my_app_web.channels.user_socket import UserSocket

router = APIRouter()


@router.websocket("/socket/websocket")
async def websocket(websocket: WebSocket) -> None:
    settings: Settings = websocket.app.state.settings
    await transport.serve(websocket, UserSocket(settings))
