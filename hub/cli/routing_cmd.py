"""``pacs-hub series list|show|complete`` and ``pacs-hub routes test``.

``series`` shows what the hub received and why each series went (or did not go) to each
model; ``routes test`` evaluates files against the configured ``[[routes]]`` and the models'
manifests without storing or running anything.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

series_app = typer.Typer(
    help="Received series: state, completion, routing decisions, jobs.", no_args_is_help=True
)
routes_app = typer.Typer(help="Routing rules (the config's routes tables): test them on files.",
                         no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _console() -> Console:
    console = Console()
    if not console.is_terminal:  # piped or captured: do not truncate columns to 80 chars
        console = Console(width=200)
    return console


@series_app.command("list")
def list_series(
    state: Annotated[
        str | None, typer.Option("--state", help="Only series in this state (receiving, complete).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many series.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """List received series, most recent first."""
    from hub.routing.summary import list_series as select
    from hub.routing.summary import series_summary

    rows = [series_summary(series) for series in select(state, limit)]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        typer.echo("no series")
        return
    table = Table(title="series")
    for column in ("SeriesInstanceUID", "state", "run", "modality", "instances", "calling AE",
                   "last received"):
        table.add_column(column)
    for row in rows:
        state_text = row["state"] + (" (re-run pending)" if row["rerun_pending"] else "")
        table.add_row(
            row["SeriesInstanceUID"], state_text, str(row["completion_run"]), row["Modality"],
            str(row["instances"]), row["calling_ae"], row["last_received_at"] or "",
        )
    _console().print(table)


@series_app.command("show")
def show_series(
    series_uid: Annotated[str, typer.Argument(help="SeriesInstanceUID.")],
    as_json: JsonOption = False,
) -> None:
    """Show one series: state, counts, AE titles, times, every routing decision, its jobs."""
    from hub.routing.summary import get_series, series_detail

    detail = series_detail(get_series(series_uid))
    if as_json:
        typer.echo(json.dumps(detail, indent=2))
        return
    _print_detail(detail)


def _print_detail(detail: dict[str, Any]) -> None:
    for key, value in detail.items():
        if key in ("decisions", "jobs") or value in ("", None):
            continue
        typer.echo(f"{key:<20}: {value}")
    console = _console()
    if detail["decisions"]:
        table = Table(title="routing decisions")
        for column in ("run", "outcome", "route", "model", "job", "reason"):
            table.add_column(column)
        for d in detail["decisions"]:
            table.add_row(str(d["run"]), d["outcome"], d["route"], d["model"],
                          str(d["job"] or ""), d["reason"])
        console.print(table)
    else:
        typer.echo("no routing decisions yet (the series has not completed)")
    if detail["jobs"]:
        table = Table(title="jobs")
        for column in ("id", "model", "run", "state", "trigger", "route", "priority"):
            table.add_column(column)
        for job in detail["jobs"]:
            table.add_row(str(job["id"]), job["model"], str(job["run"]), job["state"],
                          job["trigger"], _routes_text(job["route"], job["also_routes"]),
                          job["priority"])
        console.print(table)


@series_app.command("complete")
def complete_series(
    series_uid: Annotated[str, typer.Argument(help="SeriesInstanceUID of a receiving series.")],
    as_json: JsonOption = False,
) -> None:
    """Complete a receiving series now and route it (as if its quiet period had passed)."""
    from hub.routing.completion import force_complete
    from hub.routing.summary import get_series, series_detail

    done = force_complete(series_uid)
    if as_json:
        typer.echo(json.dumps(series_detail(get_series(series_uid)), indent=2))
        return
    jobs = ", ".join(str(job) for job in done.job_ids) or "none"
    typer.echo(f"series {done.series_instance_uid} completed (run {done.run}); jobs: {jobs}")
    typer.echo(f"see 'pacs-hub series show {done.series_instance_uid}' for the decisions")


@routes_app.command("test")
def test_routes(
    paths: Annotated[list[Path], typer.Argument(help="DICOM files or folders.")],
    calling_ae: Annotated[
        str, typer.Option("--calling-ae", help="Calling AE title to assume.")
    ] = "",
    called_ae: Annotated[
        str, typer.Option("--called-ae", help="Called AE title to assume (default: AE_TITLE).")
    ] = "",
    as_json: JsonOption = False,
) -> None:
    """Evaluate files against [[routes]] and the models' manifests; nothing is stored or run."""
    from hub.plugins.manager import get_registry
    from hub.routing.facts import facts_from_paths
    from hub.routing.rules import evaluate
    from hub.settings import get_settings

    settings = get_settings()
    found = facts_from_paths(
        paths, calling_ae=calling_ae, called_ae=called_ae or settings.ae_title
    )
    registry = get_registry()
    switched_off = _switched_off()
    report = []
    for facts in found.facts:
        plan = evaluate(facts, settings.routes, registry, switched_off)
        report.append({
            "SeriesInstanceUID": facts.series_instance_uid,
            "Modality": facts.values("Modality")[0] if facts.values("Modality") else "",
            "slices": facts.slice_count,
            "calling_ae": facts.calling_ae,
            "called_ae": facts.called_ae,
            "would_run": [
                {"model": d.model, "route": d.route,
                 "also_routes": plan.also_routes.get(d.model, []), "priority": d.priority}
                for d in plan.accepted
            ],
            "decisions": [
                {"outcome": str(d.outcome), "route": d.route, "model": d.model,
                 "reason": d.reason}
                for d in plan.decisions
            ],
        })
    skipped = [{"path": str(path), "why": why} for path, why in found.unreadable]
    if as_json:
        typer.echo(json.dumps({"series": report, "unreadable": skipped}, indent=2))
        return
    for entry in report:
        typer.echo(
            f"series {entry['SeriesInstanceUID']} ({entry['Modality'] or 'no Modality'}, "
            f"{entry['slices']} images, calling AE {entry['calling_ae'] or '(none)'}, "
            f"called AE {entry['called_ae']})"
        )
        for d in entry["decisions"]:
            typer.echo(f"  {d['outcome']:<11} {d['reason']}")
        runs = [f"{r['model']} ({_routes_text(r['route'], r['also_routes']) or 'no routes'}, "
                f"{r['priority']})" for r in entry["would_run"]]
        typer.echo(f"  => would run: {', '.join(runs) or 'nothing'}")
    if skipped:
        typer.echo(f"{len(skipped)} file(s) skipped: not readable DICOM")


def _routes_text(route: str, also: list[str]) -> str:
    """``route`` plus the routes its results also go to: ``all-ct + chest-ct``."""
    return " + ".join([route, *also]) if route else ""


def _switched_off() -> dict[str, str]:
    """Models an administrator switched off (none when the database is not there yet)."""
    from hub.db import setup

    setup()
    from hub.jobs.toggles import switched_off

    return switched_off()
