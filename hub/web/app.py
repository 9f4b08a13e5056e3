"""The hub's one ASGI app: FastAPI under ``/api/``, ``/ws/``, ``/dicomweb/``, plus ``/metrics``.

Layout of the URL space (ARCHITECTURE.md, "Web"):

- ``/api/v1/...`` : REST API routers (today: ``/api/v1/health``);
- ``/ws/...``, ``/dicomweb/...`` : WebSocket and DICOMweb routers (with the REST API release);
- ``/metrics`` : Prometheus text format, read from the database at scrape time;
- everything else : the Django project (UI, users, admin), mounted **last** by
  :func:`mount_ui` so that the routes above win. Until Django's views exist, ``mount_ui``
  serves only ``/``, a short page listing what is available.

Serve it with ``pacs-hub web`` (uvicorn, ``hub.web.app:create_app`` as a factory). Heavy
set-up (Django, database connections) happens in :func:`lifespan`, not at import.
"""

from __future__ import annotations

import html
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
from hub.web.api import DOCS_URL, include_api
from hub.web.dicomweb.routes import router as dicomweb_router
from hub.web.problems import install_handlers
from hub.web.viewer.routes import router as viewer_router
from hub.web.viewer.routes import ws_router as viewer_ws_router

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
#: What ``/`` lists: (path, description); every entry is a route of this app.
AVAILABLE = (
    (f"{API_PREFIX}/health", "health: version, database reachability, broker kind (JSON)"),
    ("/metrics", "Prometheus metrics: jobs by state and model, stage latencies, queue depth"),
    ("/openapi.json", "OpenAPI schema of the REST API"),
    ("/api/docs", "REST API documentation (OpenAPI page: models, infer, jobs, DICOM parse/upload)"),
    (f"{API_PREFIX}/health/ready", "readiness: database, broker, storage, SCP, models (JSON)"),
    ("/dicomweb/studies", "DICOMweb: QIDO-RS, WADO-RS (metadata, frames, rendered), STOW-RS"),
)
NOT_YET = (
    "web UI, users and admin (Django)",
)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Configure Django's ORM once per process before the first request."""
    from hub import db

    await sync_to_async(db.setup, thread_sensitive=True)()
    log.info("web app ready (pacs-hub %s)", __version__)
    yield
    from django.db import connections

    await sync_to_async(connections.close_all, thread_sensitive=True)()


def index_page() -> str:
    """The HTML of ``/``: what this release serves, and what comes later (without links)."""
    items = "\n".join(
        f'    <li><a href="{html.escape(path)}">{html.escape(path)}</a> - {html.escape(text)}</li>'
        for path, text in AVAILABLE
    )
    later = "\n".join(f"    <li>{html.escape(text)}</li>" for text in NOT_YET)
    return f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>pacs-ai-hub {__version__}</title></head>
<body>
  <h1>pacs-ai-hub {__version__}</h1>
  <p>Available in this release:</p>
  <ul>
{items}
  </ul>
  <p>Coming with later releases (not served yet):</p>
  <ul>
{later}
  </ul>
</body>
</html>
"""


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
        docs_url=DOCS_URL,
        redoc_url=None,
    )
    install_handlers(app)
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
