"""``pacs-hub infer``: run one model on local DICOM files and write its SEG/SR."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from hub.errors import InputError

console = Console(stderr=True)


def infer(
    paths: Annotated[
        list[Path], typer.Argument(help="DICOM files or folders holding one series.")
    ],
    model: Annotated[str, typer.Option("--model", "-m", help="Model name (see plugins list).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the SEG/SR files.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Run one model on DICOM files or folders; write its SEG/SR into OUT and summarise."""
    from hub.inference import load_series, run_model
    from hub.plugins.manager import get_registry
    from hub.results.writer import write_results

    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file", "give a folder (it is created if missing)")
    loaded = get_registry().get(model)
    manifest = loaded.manifest
    timings: dict[str, float] = {}
    show = not as_json and sys.stderr.isatty()
    with Progress(
        TextColumn("{task.description:<10}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        disable=not show,
        transient=True,
    ) as bar:
        loading = bar.add_task("loading", total=None)
        started = time.perf_counter()
        series = load_series(
            paths, progress=lambda done, total: bar.update(loading, completed=done, total=total)
        )
        timings["load"] = time.perf_counter() - started
        running = bar.add_task("inference", total=None)
        outcome = run_model(
            loaded,
            series,
            progress=lambda done, total: bar.update(running, completed=done, total=total),
        )
        timings.update(outcome.timings)
        started = time.perf_counter()
        files = write_results(series, manifest, outcome.result, out)
        timings["write"] = time.perf_counter() - started
    timings["total"] = sum(timings[k] for k in ("load", "preprocess", "inference", "postprocess"))
    timings["total"] += timings["write"]
    summary = _summary(series, loaded, outcome.result, files, timings)
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
    else:
        _print_summary(summary)


def _summary(series: Any, loaded: Any, result: Any, files: Any, timings: dict[str, float]) -> dict:
    from hub.results.summary import findings_summary

    manifest = loaded.manifest
    return {
        "model": {"name": manifest.name, "version": manifest.version},
        "series": {
            "SeriesInstanceUID": series.series_instance_uid,
            "StudyInstanceUID": series.study_instance_uid,
            "Modality": series.modality,
            "slices": int(series.volume.shape[0]),
            "rows": int(series.volume.shape[1]),
            "columns": int(series.volume.shape[2]),
            "spacing_mm": [round(float(v), 4) for v in series.spacing],
        },
        **findings_summary(series, manifest, result, files),
        "files": {
            "seg": str(files.seg_path) if files.seg_path else None,
            "sr": str(files.sr_path) if files.sr_path else None,
        },
        "uids": {"seg": files.seg_uid, "sr": files.sr_uid},
        "timings_s": {key: round(value, 3) for key, value in timings.items()},
    }


def _print_summary(summary: dict) -> None:
    model, series = summary["model"], summary["series"]
    typer.echo(
        f"{model['name']} {model['version']} on {series['Modality']} series "
        f"{series['SeriesInstanceUID']} ({series['slices']} x {series['rows']} x "
        f"{series['columns']}, spacing {series['spacing_mm']} mm)"
    )
    for segment in summary["segments"]:
        typer.echo(
            f"  segment {segment['label']} {segment['name']}: {segment['voxels']} voxels, "
            f"{segment['volume_ml']:.3f} ml"
        )
    for item in summary["measurements"]:
        typer.echo(f"  {item['key']}: {item['value']:.3f} {item['unit']}")
    for item in summary["findings"]:
        score = f" (score {item['score']:.2f})" if item["score"] is not None else ""
        typer.echo(f"  {item['key']}: {item['value']}{score}")
    for kind, path in summary["files"].items():
        if path:
            typer.echo(f"wrote {kind.upper()}: {path}")
    timing = summary["timings_s"]
    typer.echo(
        "timings: "
        + ", ".join(f"{key} {timing[key]:.2f}s" for key in timing if key != "session_run")
    )
