"""Celery task of the results outbox (thin: it takes an item id; the work is in
:mod:`hub.dimse.delivery`).

Idempotent before ``acks_late``: a message for an item already sent, dead or cancelled, not
yet due, or held by another worker is dropped, so duplicate and redelivered messages are
harmless.
"""

from __future__ import annotations

from celery import Task

from hub.jobs.celery_app import app


class DeliveryTask(Task):
    """Base of the delivery task: acknowledged after it ran; redelivered if the worker died."""

    acks_late = True
    reject_on_worker_lost = True


@app.task(bind=True, base=DeliveryTask, name="hub.dimse.deliver", ignore_result=True)
def deliver(self: Task, item_id: int) -> str:
    """One delivery attempt of outbox item ``item_id``."""
    from hub.db import setup

    setup()
    from hub.dimse.delivery import deliver as run

    return run(int(item_id), task_id=self.request.id or "")
