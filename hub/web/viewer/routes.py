"""The viewer routers: ``router`` (include under ``/api/v1``) and ``ws_router`` (at the root)."""

from __future__ import annotations

from fastapi import APIRouter

from hub.web.viewer import frames, live

router = APIRouter()
router.include_router(frames.router)
router.include_router(live.router)
ws_router = live.ws_router
