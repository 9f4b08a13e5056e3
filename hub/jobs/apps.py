"""Django app configuration of :mod:`hub.jobs`."""

from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "hub.jobs"
    label = "jobs"
    verbose_name = "Inference jobs"
    default_auto_field = "django.db.models.BigAutoField"
