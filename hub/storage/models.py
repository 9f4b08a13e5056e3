"""The index of stored instances: one row per series and one per instance.

Deliberately no patient names, patient IDs or birth dates: the DICOM file keeps them and
readers that need them open the file. The index holds only what filing, routing and
completion need (UIDs, Modality, BodyPartExamined, SeriesDescription, AE titles, times), so a
copy of the database or a log of its queries discloses no patient identity.
"""

from __future__ import annotations

from django.db import models


class Series(models.Model):
    """One series as received; its state machine is driven by series completion (routing)."""

    class State(models.TextChoices):
        RECEIVING = "receiving"
        COMPLETE = "complete"

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
    #: How it arrived: ``scp``, ``rest``, ``stow``.
    source = models.CharField(max_length=16, default="scp")
    received_at = models.DateTimeField()

    class Meta:
        ordering = ["series_id", "id"]

    def __str__(self) -> str:
        return f"instance {self.sop_instance_uid}"
