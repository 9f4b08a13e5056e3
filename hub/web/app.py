"""The hub's one ASGI app: FastAPI under ``/api/``, ``/ws/``, ``/dicomweb/``, plus ``/metrics``.

Layout of the URL space (ARCHITECTURE.md, "Web"):

- ``/api/v1/...`` : REST API routers (health, models, infer, analyze, jobs, DICOM parse and
  upload, viewer frames and stream); the OpenAPI page is ``/api/docs``;
- ``/ws/...`` : WebSockets (job changes, a study's new results);
- ``/dicomweb/...`` : QIDO-RS, WADO-RS, STOW-RS;
- ``/metrics`` : Prometheus text format, read from the database at scrape time;
- ``/static/`` and everything else : the Django web app (login, worklist, viewer, reports,
  plugins, jobs, routes, audit, admin), mounted **last** by :func:`mount_ui` so that the routes
  above win.

Serve it with ``pacs-hub web`` (uvicorn, ``hub.web.app:create_app`` as a factory). Heavy
set-up (Django, database connections) happens in :func:`lifespan`, not at import.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from asgiref.sync import sync_to_async
from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from hub import __version__
from hub.metrics import build_registry, render
from hub.web import health
from hub.web.api import include_api
from hub.web.dicomweb.routes import router as dicomweb_router
from hub.web.docs_page import install_docs_page
from hub.web.problems import install_handlers
from hub.web.viewer.routes import router as viewer_router
from hub.web.viewer.routes import ws_router as viewer_ws_router

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Configure Django's ORM once per process before the first request."""
    from hub import db

    await sync_to_async(db.setup, thread_sensitive=True)()
    log.info("web app ready (pacs-hub %s)", __version__)
    yield
    from django.db import connections

    await sync_to_async(connections.close_all, thread_sensitive=True)()


def mount_ui(app: FastAPI) -> None:
    """The Django web app (:mod:`hub.web.ui`): ``/static/`` files, then Django at ``/``.

    Must stay the last thing :func:`create_app` adds: a mount at ``/`` matches every path, so
    the API routes added before it win. ``/`` itself redirects to the worklist (or the login
    page first).
    """
    from hub.web.ui.asgi import DjangoApp, StaticFromFinders

    app.mount("/static", StaticFromFinders(), name="static")
    app.mount("/", DjangoApp(), name="ui")


def create_app() -> FastAPI:
    """Build the ASGI app (cheap; the database is configured in :func:`lifespan`)."""
    app = FastAPI(
        title="pacs-ai-hub",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,  # install_docs_page: Swagger UI served locally, not from a CDN
        redoc_url=None,
    )
    install_handlers(app)
    install_docs_page(app)
    app.include_router(health.router, prefix=API_PREFIX)
    include_api(app, API_PREFIX)
    app.include_router(dicomweb_router)
    app.include_router(viewer_router, prefix=API_PREFIX)
    app.include_router(viewer_ws_router)
    registry = build_registry()

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        body = await sync_to_async(render, thread_sensitive=True)(registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    mount_ui(app)
    return app
