"""``pacs-hub plugins list|check`` (being written)."""

import typer

app = typer.Typer(help="Show loaded model plugins and their validation findings.", no_args_is_help=True)
