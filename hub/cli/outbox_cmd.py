"""``pacs-hub outbox list|show|retry|cancel``: the deliveries of results to ``send_to`` peers."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from hub.errors import InputError

app = typer.Typer(
    help="Results outbox: deliveries of SEG/SR to PACS peers; list, inspect, re-send, cancel.",
    no_args_is_help=True,
)


def _setup() -> None:
    from hub.db import setup

    setup()


@app.command("list")
def list_items(
    state: Annotated[
        str | None,
        typer.Option("--state", help="Only items in this state (pending, sending, sent, dead, "
                     "cancelled)."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many items.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List outbox items, newest first."""
    _setup()
    from hub.dimse.models import OutboxItem
    from hub.dimse.outbox import item_summary

    query = OutboxItem.objects.all()
    if state:
        if state not in OutboxItem.State.values:
            raise InputError(
                f"unknown state {state!r}", f"use one of {', '.join(OutboxItem.State.values)}"
            )
        query = query.filter(state=state)
    items = list(query[:limit])
    if as_json:
        typer.echo(json.dumps([item_summary(item) for item in items], indent=2))
        return
    if not items:
        typer.echo("no outbox items")
        return
    typer.echo(f"{'ID':>6}  {'STATE':<9} {'JOB':>6}  {'PEER':<16} {'ATT':>3}  LAST ERROR")
    for item in items:
        error = item.last_error if len(item.last_error) <= 90 else item.last_error[:87] + "..."
        typer.echo(
            f"{item.pk:>6}  {item.state:<9} {item.job_id:>6}  {item.peer_name:<16} "
            f"{item.attempts:>3}  {error}"
        )


@app.command("show")
def show(
    item_id: Annotated[int, typer.Argument(help="Outbox item id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show one item: peer, files in sending order, attempts, last error."""
    _setup()
    from hub.dimse.outbox import get_item, item_summary

    summary = item_summary(get_item(item_id))
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    peer = summary.pop("peer")
    typer.echo(f"{'peer':<16}: {peer['name']} ({peer['ae_title']}@{peer['host']}:{peer['port']})")
    for entry in summary.pop("files"):
        mark = "confirmed" if entry["sop_instance_uid"] in summary["confirmed"] else "to send"
        typer.echo(f"{entry['kind'].upper():<16}: {entry['sop_instance_uid']} [{mark}]")
    summary.pop("confirmed")
    for key, value in summary.items():
        if value in ("", None):
            continue
        typer.echo(f"{key:<16}: {value}")


@app.command("retry")
def retry(
    item_id: Annotated[int | None, typer.Argument(help="Outbox item id.")] = None,
    all_dead: Annotated[
        bool, typer.Option("--all-dead", help="Send every dead item again.")
    ] = False,
) -> None:
    """Send a dead (or sent) item again with fresh attempts, or every dead one."""
    if (item_id is None) == (not all_dead):
        raise InputError(
            "give either an item id or --all-dead",
            "run 'pacs-hub outbox retry ID' or 'pacs-hub outbox retry --all-dead'",
        )
    _setup()
    from hub.dimse.outbox import resend, retry_dead

    if item_id is not None:
        item = resend(item_id)
        typer.echo(f"outbox item {item.pk} queued again for {item.peer_name}")
        return
    items = retry_dead()
    typer.echo(f"{len(items)} dead outbox item(s) queued again")


@app.command("cancel")
def cancel(item_id: Annotated[int, typer.Argument(help="Outbox item id.")]) -> None:
    """Stop delivering a pending or dead item."""
    _setup()
    from hub.dimse.outbox import cancel as cancel_item

    item = cancel_item(item_id)
    typer.echo(f"outbox item {item.pk} cancelled")
