"""The Django part of the hub's ASGI app: Django's handler and the ``/static/`` files.

:func:`hub.web.app.mount_ui` mounts :class:`StaticFromFinders` at ``/static`` and
:class:`DjangoApp` at ``/`` (last). Static files are found the way ``collectstatic`` finds them
(app ``static/`` folders, ``STATICFILES_DIRS``), so the embedded default serves them without a
collect step; behind nginx, ``pacs-hub manage collectstatic`` copies them to ``STATIC_ROOT``
(``DATA_DIR/static``) and nginx serves ``/static/`` itself.
"""

from __future__ import annotations

import os

from asgiref.sync import sync_to_async
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocketClose


class StaticFromFinders(StaticFiles):
    """Starlette's static file responses (ETag, ranges, 304) for files Django's finders find."""

    def __init__(self) -> None:
        super().__init__(directory=None, packages=None, check_dir=False)

    def lookup_path(self, path: str) -> tuple[str, os.stat_result | None]:
        from django.contrib.staticfiles import finders
        from django.core.exceptions import SuspiciousFileOperation

        relative = path.replace(os.sep, "/")
        if not relative or relative.startswith(("/", ".")) or "\x00" in relative:
            return "", None
        try:
            found = finders.find(relative)
        except SuspiciousFileOperation:
            return "", None
        if isinstance(found, list):
            found = found[0] if found else None
        if not found:
            return "", None
        try:
            return str(found), os.stat(found)
        except (FileNotFoundError, NotADirectoryError):
            return "", None


class DjangoApp:
    """Django's ASGI handler, created on the first request (after :func:`hub.db.setup`).

    Django serves HTTP only: a WebSocket to a path no API route claims is closed (1008).
    """

    def __init__(self) -> None:
        self._handler: object | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await WebSocketClose(code=1008)(scope, receive, send)
            return
        if self._handler is None:
            from hub import db

            await sync_to_async(db.setup, thread_sensitive=True)()
            from django.core.handlers.asgi import ASGIHandler

            self._handler = ASGIHandler()
        await self._handler(scope, receive, send)  # type: ignore[operator]
