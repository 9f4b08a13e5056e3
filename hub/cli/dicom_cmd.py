"""``pacs-hub echo PEER`` and ``pacs-hub send PATH... --to PEER``: DICOM SCU helpers."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from hub.dimse import scu
from hub.inference.volume import collect_files


def echo(
    peer: Annotated[str, typer.Argument(help="Peer name (or AE title) from [[peers]].")],
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the peer.")] = 10.0,
) -> None:
    """Verify a peer with C-ECHO and print the round-trip time."""
    node = scu.find_peer(peer)
    seconds = scu.echo(node, timeout=timeout)
    typer.echo(
        f"{node.name} ({node.ae_title}@{node.host}:{node.port}): "
        f"echo OK in {seconds * 1000:.0f} ms"
    )


def send(
    paths: Annotated[list[Path], typer.Argument(help="DICOM files or folders (recursive).")],
    to: Annotated[str, typer.Option("--to", help="Peer name (or AE title) from [[peers]].")],
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each answer.")] = 30.0,
    retries: Annotated[int, typer.Option(help="Resends of unconfirmed instances.")] = 3,
) -> None:
    """Send DICOM files to a peer by C-STORE, with a progress bar, then print a summary."""
    node = scu.find_peer(to)
    files = collect_files(paths)
    if sys.stderr.isatty():
        from rich.console import Console
        from rich.progress import Progress

        with Progress(console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task(f"sending to {node.name}", total=len(files))

            def advance(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            report = scu.send(node, files, advance, timeout=timeout, retries=retries)
    else:
        report = scu.send(node, files, timeout=timeout, retries=retries)
    rate = len(report.sent) / report.seconds if report.seconds > 0 else 0.0
    typer.echo(
        f"sent {len(report.sent)} of {report.total} instances to {node.name} "
        f"in {report.seconds:.1f} s ({rate:.0f} images/s); {len(report.failed)} failed"
    )
    for path, status in report.warnings:
        typer.echo(f"warning: {path}: status 0x{status:04X}", err=True)
    if report.failed:
        for failure in report.failed:
            code = f" (status 0x{failure.status:04X})" if failure.status is not None else ""
            typer.echo(f"failed: {failure.path}: {failure.reason}{code}", err=True)
        raise typer.Exit(1)
