"""Test-only ASGI app standing in for an upstream: echoes what nginx forwarded.

HTTP: answers ``{"upstream": ROLE, "path": ..., "headers": {...}}``. WebSocket: accepts and
sends the same document, so a test sees the handshake went through and with which headers.
Run with ``ECHO_ROLE=web uvicorn --app-dir tests/deploy echo_app:app``. Never part of the hub.
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable
from typing import Any

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def describe(scope: dict[str, Any]) -> bytes:
    headers = {key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]}
    document = {"upstream": os.environ.get("ECHO_ROLE", "?"), "path": scope["path"]}
    return json.dumps(document | {"headers": headers}).encode()


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] == "http":
        body = describe(scope)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})
    elif scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": describe(scope).decode()})
        await send({"type": "websocket.close", "code": 1000})
    elif scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
