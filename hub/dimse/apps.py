"""Django app configuration of :mod:`hub.dimse` (the results outbox tables)."""

from django.apps import AppConfig


class DimseConfig(AppConfig):
    name = "hub.dimse"
    label = "dimse"
    verbose_name = "DICOM networking (results outbox)"
    default_auto_field = "django.db.models.BigAutoField"
