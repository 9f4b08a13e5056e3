"""``GET /api/v1/health``: liveness, with what this process can say about its dependencies.

It names kinds, never addresses or credentials: the database vendor and whether a trivial
query succeeds, and the broker's transport scheme. Readiness with every sub-check
(``/health/ready``) comes with the REST API.
"""

from __future__ import annotations

import logging
from typing import Literal
from urllib.parse import urlsplit

from asgiref.sync import sync_to_async
from fastapi import APIRouter
from pydantic import BaseModel

from hub import __version__
from hub.settings import get_settings

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


class DatabaseHealth(BaseModel):
    """The database as seen from this process."""

    vendor: str
    reachable: bool


class BrokerHealth(BaseModel):
    """Which Celery transport is configured (its scheme only; not checked here)."""

    kind: str
    configured: bool


class Health(BaseModel):
    """Answer of ``GET /api/v1/health``."""

    status: Literal["ok", "degraded"]
    version: str
    database: DatabaseHealth
    broker: BrokerHealth


def broker_kind(url: str | None) -> BrokerHealth:
    """The broker's transport scheme (``redis``, ``amqp``…) or ``embedded`` when none is set."""
    if not url:
        return BrokerHealth(kind="embedded", configured=False)
    scheme = urlsplit(url).scheme.lower()
    return BrokerHealth(kind=scheme or "unknown", configured=True)


def check_database() -> DatabaseHealth:
    """Run ``SELECT 1`` on the default connection (sync; call through ``sync_to_async``)."""
    from django.db import DatabaseError, close_old_connections, connection

    close_old_connections()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        log.warning("health: database unreachable: %s", type(exc).__name__)
        return DatabaseHealth(vendor=connection.vendor, reachable=False)
    return DatabaseHealth(vendor=connection.vendor, reachable=True)


@router.get("/health", summary="Liveness and dependency overview")
async def health() -> Health:
    """200 while the process serves requests; ``status`` is ``degraded`` without a database."""
    database = await sync_to_async(check_database, thread_sensitive=True)()
    return Health(
        status="ok" if database.reachable else "degraded",
        version=__version__,
        database=database,
        broker=broker_kind(get_settings().broker_url),
    )
