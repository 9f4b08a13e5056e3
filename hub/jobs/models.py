"""The job table: one row per inference of one model on one series."""

from __future__ import annotations

from django.db import models


class Job(models.Model):
    """One run of one model version on one series, and everything known about it.

    ``idempotency_key`` (series UID + model + version + run number) makes routing the same
    series twice a no-op; an admin's forced re-run takes the next run number.
    """

    class State(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        RETRYING = "retrying"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    class Trigger(models.TextChoices):
        ROUTE = "route"
        REST = "rest"
        MANUAL = "manual"

    class Priority(models.IntegerChoices):
        OFF_PEAK = 0, "off-peak"
        NORMAL = 5, "normal"
        URGENT = 9, "urgent"

    FINISHED = (State.SUCCEEDED, State.FAILED, State.CANCELLED)

    series_instance_uid = models.CharField(max_length=64, db_index=True)
    study_instance_uid = models.CharField(max_length=64, blank=True)
    model_name = models.CharField(max_length=64, db_index=True)
    model_version = models.CharField(max_length=32)
    run = models.PositiveIntegerField(default=1)
    idempotency_key = models.CharField(max_length=200, unique=True)
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.MANUAL)
    route = models.CharField(max_length=64, blank=True)
    #: Later routes (``continue``) that chose the same model, in order: the job runs once,
    #: under ``route``, and its results also go to these routes' ``send_to``.
    also_routes = models.JSONField(default=list, blank=True)
    state = models.CharField(
        max_length=16, choices=State.choices, default=State.QUEUED, db_index=True
    )
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.NORMAL)
    queue = models.CharField(max_length=64, default="default")
    attempts = models.PositiveIntegerField(default=0)
    #: Input files or folders of the series (validated paths under the data directory or
    #: given by a local caller); the worker loads them with hub.inference.load_series.
    source_paths = models.JSONField(default=list)
    output_dir = models.CharField(max_length=1024, blank=True)
    #: Seconds per stage: load, preprocess, inference, postprocess, write, send.
    timings = models.JSONField(default=dict)
    #: What the run produced: SEG/SR UIDs and paths, segment counts, measurements, findings.
    result = models.JSONField(default=dict)
    error = models.TextField(blank=True)
    error_kind = models.CharField(max_length=64, blank=True)
    worker_host = models.CharField(max_length=255, blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    #: When the job's message becomes due (enqueue time plus any retry countdown); the
    #: embedded broker's lost-message check only looks at jobs that are past due.
    due_at = models.DateTimeField(null=True, blank=True)
    #: The current owner of a running job (host:pid:random); every update a worker makes is
    #: conditional on it, so two workers can never both own a job.
    lease_owner = models.CharField(max_length=128, blank=True)
    #: Refreshed by the owner while running; a stale one means the worker died.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["state", "created_at"])]

    def __str__(self) -> str:
        return f"job {self.pk} {self.model_name}@{self.model_version} [{self.state}]"

    @staticmethod
    def key_for(series_uid: str, model_name: str, model_version: str, run: int = 1) -> str:
        """The idempotency key of a run."""
        return f"{series_uid}|{model_name}|{model_version}|{run}"

    @property
    def finished(self) -> bool:
        return self.state in self.FINISHED


class ModelToggle(models.Model):
    """An administrator's switch for one model name (all versions): disabled models are refused
    by :func:`hub.jobs.services.submit_job` and so skipped by routing, with the reason recorded.

    No row means enabled. Read through :mod:`hub.jobs.toggles`.
    """

    model_name = models.CharField(max_length=64, unique=True)
    enabled = models.BooleanField(default=True)
    #: Why it was switched (shown on the plugins page and in the refusal).
    reason = models.CharField(max_length=200, blank=True)
    changed_by = models.CharField(max_length=150, blank=True)
    changed_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["model_name"]

    def __str__(self) -> str:
        return f"{self.model_name}: {'enabled' if self.enabled else 'disabled'}"
