"""``pacs-hub manage ...``: Django's management commands on the hub's database."""

from __future__ import annotations

import typer


def manage(ctx: typer.Context) -> None:
    """Run a Django management command (migrate, showmigrations, createsuperuser, ...)."""
    from django.core.management import execute_from_command_line

    from hub.db import setup

    setup()
    execute_from_command_line(["pacs-hub manage", *ctx.args])


CONTEXT = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}
