"""``pacs-hub plugins list [--json]`` and ``pacs-hub plugins check``.

Both load the registry with the current settings (``PACS_HUB_PLUGIN_PATHS``,
``PACS_HUB_DISABLED_PLUGINS``, the TOML file) and show what is loaded, what is broken and why.
``check`` exits with code 1 when any plugin has an error finding.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from hub.plugins.manager import Registry, load_registry
from hub.settings import get_settings

app = typer.Typer(
    help="Show loaded model plugins and their validation findings.", no_args_is_help=True
)


def _load() -> Registry:
    return load_registry(get_settings())


@app.command("list")
def list_plugins(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the registry as JSON (models and findings).")
    ] = False,
) -> None:
    """List every model found (enabled or disabled) and the findings of validation."""
    registry = _load()
    if as_json:
        typer.echo(json.dumps(registry.as_json(), indent=2))
        return
    console = Console()
    if not console.is_terminal:  # piped or captured: do not truncate columns to 80 chars
        console = Console(width=200)
    if not registry.models:
        console.print(
            "no models installed; install a model plugin with `pip install <plugin package>`",
            markup=False,
        )
    else:
        table = Table(title="models")
        for column in (
            "name",
            "version",
            "modalities",
            "outputs",
            "status",
            "source",
            "provided by",
        ):
            table.add_column(column)
        for model in registry.models:
            table.add_row(
                model.manifest.name,
                model.manifest.version,
                ",".join(model.manifest.modalities),
                ",".join(model.manifest.outputs),
                "enabled" if model.enabled else "disabled",
                model.source,
                model.distribution or model.plugin_name,
            )
        console.print(table)
    for finding in registry.findings:
        typer.echo(str(finding))


@app.command("check")
def check_plugins() -> None:
    """Validate every plugin; print each finding on one line; exit 1 when any is an error."""
    registry = _load()
    for finding in registry.findings:
        typer.echo(str(finding))
    enabled = len(registry.enabled())
    disabled = len(registry.models) - enabled
    typer.echo(f"{enabled} models OK, {disabled} disabled")
    if not registry.ok:
        raise typer.Exit(code=1)
