"""Django app configuration of :mod:`hub.accounts`."""

from __future__ import annotations

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "hub.accounts"
    label = "accounts"
    verbose_name = "Accounts and API tokens"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from hub.accounts.roles import sync_roles

        post_migrate.connect(_sync_after_migrate, sender=self, dispatch_uid="hub-accounts-roles")
        self._sync = sync_roles


def _sync_after_migrate(sender: AccountsConfig, **kwargs: object) -> None:
    sender._sync(using=str(kwargs.get("using") or "default"))
