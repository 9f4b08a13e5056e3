"""``pacs-hub up``: everything on one machine with embedded defaults.

This version of the hub has no long-running parts yet (the DICOM SCP, the web app and the job
worker come with later releases), so ``up`` prepares the data directory, loads and validates
the plugins, says exactly what it started and what is not available, and exits.
"""

from __future__ import annotations

from typing import Annotated

import typer

from hub import __version__
from hub.db.urls import redacted


def up(
    check_only: Annotated[
        bool, typer.Option("--check", help="Only validate settings and plugins.")
    ] = False,
) -> None:
    """Start everything on one machine with embedded defaults (see the README)."""
    from hub.plugins.manager import get_registry
    from hub.settings import get_settings

    settings = get_settings()
    data_dir = settings.data_dir.resolve()
    if not check_only:
        data_dir.mkdir(parents=True, exist_ok=True)
    if not check_only:
        from hub.db import migrate

        migrate()
    registry = get_registry()
    enabled = registry.enabled()
    disabled = [m for m in registry.models if not m.enabled]
    typer.echo(f"pacs-hub {__version__} (embedded defaults)")
    typer.echo(f"  data directory : {data_dir}")
    typer.echo(f"  database       : {redacted(settings.resolved_database_url)} (migrated)")
    names = ", ".join(f"{m.manifest.name} {m.manifest.version}" for m in enabled) or "none"
    typer.echo(f"  models enabled : {len(enabled)} ({names})")
    if disabled or not registry.ok:
        typer.echo(
            f"  plugin problems: {len(disabled)} model(s) disabled, "
            f"{sum(f.severity == 'error' for f in registry.findings)} error finding(s); "
            "run 'pacs-hub plugins check' for details"
        )
    typer.echo("  started        : plugin registry (validated), data directory, database")
    typer.echo(
        "  not available  : DICOM SCP (port "
        f"{settings.dicom_port}, AE {settings.ae_title}), web UI and REST API (port "
        f"{settings.http_port}), job worker - not part of this release yet"
    )
    typer.echo("Nothing long-running to keep up yet; run models locally with:")
    typer.echo("  pacs-hub phantom demo-ct")
    typer.echo("  pacs-hub infer --model ct-lung-seg --out out demo-ct")
    if not enabled:
        raise typer.Exit(code=1)
