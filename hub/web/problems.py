"""Errors as ``application/problem+json`` (RFC 9457) at the HTTP edge.

:func:`problem` builds one answer; :func:`install_handlers` maps the hub's exception tree
(:class:`hub.errors.HubError`), FastAPI's validation errors and ``HTTPException`` to problem
documents. A client never sees a stack trace: unexpected exceptions answer a generic 500 and
are logged (without patient identifiers) for the operator.

Each problem carries ``type`` (``about:blank`` unless a more specific URI applies),
``title`` (the HTTP reason phrase or a short summary), ``status``, ``detail`` (a human message
naming the cause) and, for hub errors, ``fix`` and other members given as ``**extra``.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from hub.errors import (
    ConfigError,
    HubError,
    InferenceError,
    InputError,
    NotAcceptedError,
    PluginError,
    ResultError,
    UnknownModelError,
)

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

#: The OpenAPI description of a problem document, for ``responses=`` of routes.
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "type": {"type": "string", "example": "about:blank"},
        "title": {"type": "string", "example": "Not Found"},
        "status": {"type": "integer", "example": 404},
        "detail": {"type": "string", "example": "no model named 'ct-lung'"},
        "fix": {"type": "string", "example": "list models with GET /api/v1/models"},
    },
    "required": ["type", "title", "status", "detail"],
}


class ProblemError(Exception):
    """Raise from an endpoint or dependency to answer a problem document.

    ``headers`` are added to the answer (``WWW-Authenticate`` for 401); ``extra`` members
    are added to the body (``field`` for a 422 naming the offending field).
    """

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title
        self.headers = headers or {}
        self.extra = extra


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries documenting problem answers with the given statuses."""
    return {
        status: {
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}},
        }
        for status in statuses
    }


def problem(
    status: int,
    title: str | None = None,
    detail: str = "",
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem+json answer; ``title`` defaults to the status's reason phrase."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title or phrase,
        "status": status,
        "detail": detail or phrase,
    }
    body.update({key: value for key, value in extra.items() if value is not None})
    return JSONResponse(
        jsonable_encoder(body), status_code=status, media_type=PROBLEM_JSON, headers=headers
    )


def status_of(error: HubError) -> int:
    """The HTTP status a hub error stands for at the edge."""
    from hub.storage.errors import OutOfSpaceError

    if isinstance(error, UnknownModelError):
        return 404
    if isinstance(error, OutOfSpaceError):
        return 507
    if isinstance(error, NotAcceptedError | InputError):
        return 422
    if isinstance(error, PluginError):
        return 409
    if isinstance(error, InferenceError | ResultError):
        return 500
    if isinstance(error, ConfigError):
        return 500
    return 400


def hub_error_problem(error: HubError) -> JSONResponse:
    """The problem document of a hub error: its cause as detail, its fix, ``field`` if any."""
    status = status_of(error)
    field = getattr(error, "field", None)
    if status >= 500:
        log.error("request failed: %s: %s", type(error).__name__, error.cause)
    return problem(
        status, detail=error.cause, fix=error.fix or None,
        field=field if isinstance(field, str) else None,
    )


async def _on_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProblemError)
    return problem(
        exc.status, exc.title, exc.detail, headers=exc.headers or None, **exc.extra
    )


async def _on_hub_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HubError)
    return hub_error_problem(exc)


async def _on_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else None
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"nothing at {request.url.path}"
    if exc.status_code == 405 and detail == "Method Not Allowed":
        detail = f"{request.method} is not allowed on {request.url.path}"
    return problem(exc.status_code, detail=detail or "", headers=getattr(exc, "headers", None))


def _location(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(part) for part in loc if part not in ("body",)]
    return ".".join(parts) if parts else "body"


async def _on_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": _location(error.get("loc", ())), "message": str(error.get("msg", ""))}
        for error in exc.errors()
    ]
    first = errors[0] if errors else {"field": "request", "message": "invalid"}
    return problem(
        422,
        "Unprocessable Content",
        f"{first['field']}: {first['message']}",
        field=first["field"],
        errors=errors,
    )


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return problem(500, detail="internal error; the server log has the details")


def install_handlers(app: FastAPI) -> None:
    """Answer every error of ``app`` as problem+json (hub errors, validation, HTTP, the rest)."""
    app.add_exception_handler(ProblemError, _on_problem)
    app.add_exception_handler(HubError, _on_hub_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(Exception, _on_unexpected)
