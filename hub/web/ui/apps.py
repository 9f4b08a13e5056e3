"""Django app configuration of :mod:`hub.web.ui`."""

from __future__ import annotations

from django.apps import AppConfig


class UiConfig(AppConfig):
    name = "hub.web.ui"
    label = "ui"
    verbose_name = "Web app: reviews and audit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from hub.web.ui import audit

        audit.connect_signals()
