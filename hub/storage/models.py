"""The index of stored instances: one row per series and one per instance.

Deliberately no patient names, patient IDs or birth dates: the DICOM file keeps them and
readers that need them open the file. The index holds only what filing, routing and
completion need (UIDs, Modality, BodyPartExamined, SeriesDescription, AE titles, times), so a
copy of the database or a log of its queries discloses no patient identity.
"""

from __future__ import annotations

from django.db import models

#: ``Instance.source`` of the SEG/SR objects the hub writes itself; never routed.
RESULT_SOURCE = "result"


class Series(models.Model):
    """One series as received; its state machine is driven by series completion (routing).

    ``receiving`` -> ``complete`` when :mod:`hub.routing.completion` completes it (quiet
    period, association released + grace, forced by an admin, or at once for the hub's own
    results); ``completion_run`` counts the completions. A new instance stored into a complete
    series either re-opens it for the next run (``[dicom] late_instances = "rerun"``) or is
    kept out of routing (``"ignore"``, :attr:`Instance.ignored_for_routing`).
    """

    class State(models.TextChoices):
        RECEIVING = "receiving"
        COMPLETE = "complete"

    class CompletionReason(models.TextChoices):
        QUIET = "quiet", "quiet period passed"
        RELEASED = "released", "association released"
        FORCED = "forced", "forced by an admin"
        RESULT = "result", "hub results (never routed)"

    series_instance_uid = models.CharField(max_length=64, unique=True)
    study_instance_uid = models.CharField(max_length=64, db_index=True)
    modality = models.CharField(max_length=16, blank=True)
    body_part_examined = models.CharField(max_length=64, blank=True)
    series_description = models.CharField(max_length=64, blank=True)
    #: AE titles of the association that brought the latest instance ("" for REST/STOW).
    calling_ae = models.CharField(max_length=16, blank=True)
    called_ae = models.CharField(max_length=16, blank=True)
    instance_count = models.PositiveIntegerField(default=0)
    first_received_at = models.DateTimeField()
    last_received_at = models.DateTimeField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.RECEIVING)
    #: When the association that brought instances of this series was last released.
    released_at = models.DateTimeField(null=True, blank=True)
    #: When the series last completed, why, and how many times it has completed.
    completed_at = models.DateTimeField(null=True, blank=True)
    completion_reason = models.CharField(
        max_length=16, choices=CompletionReason.choices, blank=True
    )
    completion_run = models.PositiveIntegerField(default=0)
    #: New instances stored after the first completion (re-opened or ignored).
    late_instance_count = models.PositiveIntegerField(default=0)
    #: True when instances came from the hub itself (``source="result"``: SEG/SR); such a
    #: series is never routed.
    hub_results = models.BooleanField(default=False)

    class Meta:
        verbose_name_plural = "series"
        ordering = ["-last_received_at", "-id"]
        indexes = [models.Index(fields=["state", "last_received_at"])]

    def __str__(self) -> str:
        return f"series {self.series_instance_uid} [{self.state}, {self.instance_count}]"


class Instance(models.Model):
    """One stored DICOM file; ``path`` is relative to ``DATA_DIR``."""

    sop_instance_uid = models.CharField(max_length=64, unique=True)
    sop_class_uid = models.CharField(max_length=64, blank=True)
    series = models.ForeignKey(Series, on_delete=models.CASCADE, related_name="instances")
    path = models.CharField(max_length=255)
    size = models.BigIntegerField()
    #: Hex SHA-256 of the file, "" when ``[storage] checksums`` is off.
    sha256 = models.CharField(max_length=64, blank=True)
    transfer_syntax_uid = models.CharField(max_length=64, blank=True)
    #: How it arrived: ``scp``, ``rest``, ``stow``, or ``result`` (written by the hub itself).
    source = models.CharField(max_length=16, default="scp")
    received_at = models.DateTimeField()
    #: Stored into a complete series with ``late_instances = "ignore"``: kept, not routed.
    ignored_for_routing = models.BooleanField(default=False)

    class Meta:
        ordering = ["series_id", "id"]

    def __str__(self) -> str:
        return f"instance {self.sop_instance_uid}"
