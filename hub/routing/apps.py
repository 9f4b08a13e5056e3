"""Django app configuration of :mod:`hub.routing`."""

from django.apps import AppConfig


class RoutingConfig(AppConfig):
    name = "hub.routing"
    label = "routing"
    verbose_name = "Series completion and routing"
    default_auto_field = "django.db.models.BigAutoField"
