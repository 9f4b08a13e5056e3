"""The results outbox: what a succeeded job's SEG/SR still has to reach, and where it stands.

:class:`ResultHandoff` records that a succeeded job's results were taken over (stored in the
hub and turned into outbox items); the outbox sweep looks for succeeded jobs without one, so a
worker that died between "job succeeded" and the hand-off loses nothing. :class:`OutboxItem`
is one delivery of one job's results to one peer.
"""

from __future__ import annotations

from django.db import models

from hub.jobs.models import Job


class ResultHandoff(models.Model):
    """A succeeded job whose results the outbox has taken over (one row per job)."""

    job = models.OneToOneField(Job, on_delete=models.CASCADE, related_name="result_handoff")
    #: When the SEG/SR were stored in the hub's own storage (``source="result"``); null while
    #: that is still to do (the sweep tries again).
    stored_at = models.DateTimeField(null=True, blank=True)
    #: Why storing failed the last time ("" when it did not).
    store_error = models.TextField(blank=True)
    #: SOP Instance UIDs stored in the hub.
    stored_uids = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"hand-off of job {self.job_id}"


class OutboxItem(models.Model):
    """The delivery of one job's SEG and SR (SEG first) to one ``send_to`` peer.

    States: ``pending`` (waiting for its attempt at ``next_attempt_at``), ``sending`` (a worker
    holds the lease and refreshes ``heartbeat_at``), ``sent``, ``dead`` (attempts used up, or the
    peer was removed: re-sendable by an admin) and ``cancelled``. Every transition is a
    conditional UPDATE, so two workers never deliver one item at once.
    """

    class State(models.TextChoices):
        PENDING = "pending"
        SENDING = "sending"
        SENT = "sent"
        DEAD = "dead"
        CANCELLED = "cancelled"

    FINISHED = (State.SENT, State.DEAD, State.CANCELLED)
    BACKLOG = (State.PENDING, State.SENDING)

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="outbox_items")
    #: The ``[[peers]]`` name; the AE title, host and port are a snapshot of the last attempt.
    peer_name = models.CharField(max_length=64)
    ae_title = models.CharField(max_length=16, blank=True)
    host = models.CharField(max_length=255, blank=True)
    port = models.PositiveIntegerField(default=0)
    #: Files to send, in order (SEG before the SR that references it):
    #: ``[{"kind": "seg", "path": "/abs/file.dcm", "sop_instance_uid": "1.2..."}, ...]``.
    files = models.JSONField(default=list)
    #: SOP Instance UIDs the peer has confirmed (success or warning status); a retry sends
    #: only the others, still in order.
    confirmed = models.JSONField(default=list)
    state = models.CharField(
        max_length=16, choices=State.choices, default=State.PENDING, db_index=True
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    #: The cause of the last failed attempt (kept when the item is dead).
    last_error = models.TextField(blank=True)
    #: Seconds the successful delivery took.
    seconds = models.FloatField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    #: The worker delivering it (host:pid:random) and its heartbeat; a stale heartbeat means
    #: the worker died mid-delivery and the sweep makes the item pending again.
    lease_owner = models.CharField(max_length=128, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["job", "peer_name"], name="outbox_one_item_per_peer")
        ]
        indexes = [models.Index(fields=["state", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"outbox item {self.pk} job {self.job_id} -> {self.peer_name} [{self.state}]"

    @property
    def destination(self) -> str:
        """``pacs (ORTHANC@127.0.0.1:4242)``, as the SCU names a peer."""
        return f"{self.peer_name} ({self.ae_title}@{self.host}:{self.port})"

    @property
    def sop_instance_uids(self) -> list[str]:
        """The SOP Instance UIDs of :attr:`files`, in sending order."""
        return [str(entry.get("sop_instance_uid", "")) for entry in self.files]
