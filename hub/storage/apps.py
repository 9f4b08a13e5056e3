"""Django app configuration of :mod:`hub.storage`."""

from django.apps import AppConfig


class StorageConfig(AppConfig):
    name = "hub.storage"
    label = "storage"
    verbose_name = "Stored instances"
    default_auto_field = "django.db.models.BigAutoField"
