"""The REST API under ``/api/v1`` and its WebSocket under ``/ws``: one small router per resource.

- :mod:`~hub.web.api.ready` ``GET /health/ready`` (public);
- :mod:`~hub.web.api.models` ``GET /models``, ``GET /models/{name}``;
- :mod:`~hub.web.api.infer` ``POST /models/{name}/infer``;
- :mod:`~hub.web.api.analyze` ``POST /ai/analyze``;
- :mod:`~hub.web.api.jobs` ``/jobs`` (list, show, retry, cancel, result, SEG, SR);
- :mod:`~hub.web.api.dicom` ``POST /dicom/parse``, ``POST /dicom/upload``;
- :mod:`~hub.web.api.ws` ``WS /ws/jobs``.

Authentication and permissions come from :mod:`hub.web.auth`, errors are problem+json
(:mod:`hub.web.problems`), upload limits from ``[api]`` (:mod:`hub.web.uploads`).
"""

from __future__ import annotations

from fastapi import FastAPI

from hub.web.docs_page import DOCS_URL

__all__ = ["DOCS_URL", "include_api"]


def include_api(app: FastAPI, prefix: str = "/api/v1") -> None:
    """Add the REST routers under ``prefix`` and the job WebSocket under ``/ws``."""
    from hub.web.api import analyze, dicom, infer, jobs, models, ready, ws

    for module in (ready, models, infer, analyze, jobs, dicom):
        app.include_router(module.router, prefix=prefix)
    app.include_router(ws.router)
