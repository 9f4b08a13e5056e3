"""``GET /api/v1/health/ready``: readiness, every sub-check reported (public).

Sub-checks (each ``ok``, ``required``, ``detail``):

- ``database``: ``SELECT 1`` on the configured database;
- ``broker``: the embedded broker's folder is writable (a file is created and removed), or
  Redis answers ``PING`` within one second (other transports: reported, not checked);
- ``storage``: free space in the data directory is above ``[storage] min_free_mb``;
- ``scp``: something accepts TCP connections on ``127.0.0.1:DICOM_PORT``. A web process does
  not know whether an SCP is meant to run beside it (``pacs-hub up`` runs one, ``pacs-hub
  web`` alone does not), so a closed port reads "not running" and is only reported unless
  ``scp`` is in ``[api] ready_requires``;
- ``models``: the plugin registry loads and at least one model is enabled (reported only,
  unless ``models`` is in ``[api] ready_requires``).

503 with the same body when a required check fails. The answer names kinds and counts, never
addresses or credentials.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from hub.settings import get_settings
from hub.web.api.schemas import CheckOut, ReadyOut

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])

Check = tuple[bool, str]


def check_database() -> Check:
    from hub.web.health import check_database as select_one

    health = select_one()
    return health.reachable, f"SELECT 1 {'answered' if health.reachable else 'failed'} " \
        f"({health.vendor})"


def check_broker() -> Check:
    settings = get_settings()
    url = settings.broker_url
    if not url:
        from hub.jobs.celery_app import broker_folders

        try:
            folder = broker_folders(settings)["in"]
            probe = folder / f".ready-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            return False, f"embedded broker folder not writable ({type(exc).__name__})"
        return True, "embedded broker folder writable"
    scheme = urlsplit(url).scheme.lower()
    if scheme in ("redis", "rediss"):
        import redis

        try:
            redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping()
        except Exception as exc:
            return False, f"redis did not answer PING ({type(exc).__name__})"
        return True, "redis answered PING"
    return True, f"{scheme or 'unknown'} broker configured (not checked)"


def check_storage() -> Check:
    settings = get_settings()
    minimum = settings.storage.min_free_mb
    root = settings.data_dir.resolve()
    try:
        root.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(root).free // (1024 * 1024)
    except OSError as exc:
        return False, f"data directory not usable ({type(exc).__name__})"
    ok = free >= minimum
    return ok, f"{free} MiB free, watermark {minimum} MiB ([storage] min_free_mb)"


def check_scp() -> Check:
    port = get_settings().dicom_port
    if port == 0:
        return False, "no DICOM port configured (DICOM_PORT=0)"
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            pass
    except OSError:
        return False, f"not running: nothing listens on 127.0.0.1:{port}"
    return True, f"listening on 127.0.0.1:{port}"


def check_models() -> Check:
    from hub.plugins.manager import get_registry

    try:
        registry = get_registry()
    except Exception as exc:
        log.exception("readiness: the plugin registry failed to load")
        return False, f"plugin registry failed to load ({type(exc).__name__})"
    enabled = len(registry.enabled())
    disabled = len(registry.models) - enabled
    return enabled > 0, f"{enabled} model(s) enabled, {disabled} disabled"


CHECKS: dict[str, Callable[[], Check]] = {
    "database": check_database,
    "broker": check_broker,
    "storage": check_storage,
    "scp": check_scp,
    "models": check_models,
}


def readiness() -> tuple[bool, ReadyOut]:
    """Run every check (sync); whether all required ones passed, and the report."""
    required = set(get_settings().api.ready_requires)
    checks: dict[str, CheckOut] = {}
    for name, check in CHECKS.items():
        try:
            ok, detail = check()
        except Exception as exc:  # a check must never take readiness down with it
            log.exception("readiness check %s failed", name)
            ok, detail = False, f"check failed ({type(exc).__name__})"
        checks[name] = CheckOut(ok=ok, required=name in required, detail=detail)
    ready = all(c.ok for c in checks.values() if c.required)
    return ready, ReadyOut(status="ready" if ready else "not ready", checks=checks)


@router.get(
    "/health/ready",
    summary="Readiness with every sub-check",
    response_model=ReadyOut,
    responses={503: {"model": ReadyOut, "description": "a required check failed"}},
)
async def ready() -> JSONResponse:
    """200 when every required check passes (``[api] ready_requires``), else 503; each
    sub-check is reported either way."""
    ok, report = await run_in_threadpool(readiness)
    return JSONResponse(report.model_dump(), status_code=200 if ok else 503)
