"""The Celery app: the one job path, embedded or scaled out.

With ``PACS_HUB_BROKER_URL`` unset the broker is kombu's filesystem transport under
``DATA_DIR/broker`` (no server; polled every 50 ms). With ``redis://...`` any number of
``pacs-hub worker`` processes on any machines share the queues; they must also share the
database and the data directory. No result backend: a job's state lives in the job table.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from celery import Celery

from hub.settings import Settings, get_settings

logger = logging.getLogger(__name__)

#: Queues a worker consumes by default; GPU models are routed to ``gpu`` workers.
DEFAULT_QUEUES = ("default",)
#: Polling interval of the filesystem broker (1 s made 50 tiny tasks take 21 s; 0.05 s: 1.5 s).
FILESYSTEM_POLLING_S = 0.05

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.db.django_settings")
app = Celery("hub", include=["hub.jobs.tasks", "hub.dimse.tasks"])
_configured: list[tuple[str, str]] = []


def broker_folders(settings: Settings) -> dict[str, Path]:
    """The filesystem broker's folders (created if missing)."""
    root = settings.data_dir.resolve() / "broker"
    folders = {name: root / name for name in ("in", "out", "processed", "control")}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    return folders


def is_embedded(settings: Settings) -> bool:
    """Whether the embedded (filesystem) broker is used."""
    return not settings.broker_url


def embedded_task_ids(settings: Settings) -> set[str]:
    """Task ids of the messages waiting in the embedded broker's folder.

    kombu's filesystem transport removes a message file when a worker fetches it and has no
    real acknowledgement, so a worker killed with fetched messages loses them; the reaper
    compares this set with the queued jobs to send those messages again.
    """
    import json

    ids: set[str] = set()
    folder = broker_folders(settings)["in"]
    for entry in os.scandir(folder):
        if not entry.name.endswith(".msg"):
            continue
        try:
            with open(entry.path, "rb") as handle:
                message = json.loads(handle.read() or b"{}")
        except (OSError, ValueError):  # fetched meanwhile, or still being written
            continue
        task_id = (message.get("headers") or {}).get("id") or (
            message.get("properties") or {}
        ).get("correlation_id")
        if task_id:
            ids.add(str(task_id))
    return ids


def celery_config(settings: Settings) -> dict[str, Any]:
    """Celery configuration derived from the hub settings."""
    config: dict[str, Any] = {
        "task_serializer": "json",
        "accept_content": ["json"],
        "result_backend": None,
        "task_ignore_result": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_default_queue": "default",
        "task_queue_max_priority": 9,
        "task_default_priority": 5,
        "worker_hijack_root_logger": False,
        "broker_connection_retry_on_startup": True,
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        "enable_utc": True,
    }
    if is_embedded(settings):
        folders = broker_folders(settings)
        config["broker_url"] = "filesystem://"
        # The filesystem transport shares the in-folder for every queue, so "out" and "in"
        # both point at one folder: every process reads and writes the same messages.
        config["broker_transport_options"] = {
            "data_folder_in": str(folders["in"]),
            "data_folder_out": str(folders["in"]),
            "processed_folder": str(folders["processed"]),
            # exchange tables; kombu's default is ./control in the current directory
            "control_folder": str(folders["control"]),
            "store_processed": False,
            "polling_interval": FILESYSTEM_POLLING_S,
        }
        config["broker_pool_limit"] = None
    else:
        config["broker_url"] = settings.broker_url
        config["broker_transport_options"] = {
            # A message not acknowledged within this time is delivered again; it must exceed
            # the longest hard time limit so a slow job is never run twice at once.
            "visibility_timeout": int(settings.jobs.longest_time_limit * 2 + 60),
            "priority_steps": list(range(10)),
            "sep": ":",
            "queue_order_strategy": "priority",
        }
        if settings.jobs.broker_key_prefix:
            config["broker_transport_options"]["global_keyprefix"] = settings.jobs.broker_key_prefix
    return config


def get_app() -> Celery:
    """The Celery app configured from the current settings (reconfigured when they change)."""
    settings = get_settings()
    key = (settings.broker_url or "", str(settings.data_dir.resolve()))
    if _configured and _configured[-1] == key:
        return app
    app.conf.update(celery_config(settings))
    if _configured:  # settings changed in this process (tests): drop pooled connections
        app.pool.force_close_all()
        app._pool = None
        app.amqp._producer_pool = None
    _configured.append(key)
    return app


def broker_priority(priority: int) -> int:
    """Job priority (9 urgent .. 0 off-peak) as the broker's (Redis: 0 is served first)."""
    return 9 - max(0, min(9, priority))
