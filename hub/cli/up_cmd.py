"""``pacs-hub up``: everything on one machine with embedded defaults.

Prepares the data directory, migrates the database, loads and validates the plugins, starts a
job worker child process (embedded filesystem broker unless ``PACS_HUB_BROKER_URL`` is set) and
stays in the foreground until Ctrl-C or SIGTERM, when it stops the worker cleanly. The DICOM SCP
and the web app are not started by this release; ``up`` says so.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from hub import __version__
from hub.db.urls import redacted
from hub.errors import HubError

#: Seconds the worker gets to finish its running jobs after Ctrl-C before it is killed.
STOP_GRACE_S = 30.0
#: The worker child touches this file (named in its environment) once it consumes jobs.
READY_FILE_ENV = "PACS_HUB_WORKER_READY_FILE"


class WorkerStartError(HubError):
    """The job worker child did not start."""

    exit_code = 7


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
    processes = settings.jobs.concurrency or os.cpu_count() or 1
    broker = "embedded broker" if not settings.broker_url else redacted(settings.broker_url)
    worker_part = f"job worker ({broker}, {processes} processes)"
    started = "plugin registry (validated), data directory, database"
    typer.echo(f"  started        : {started}" + ("" if check_only else f", {worker_part}"))
    typer.echo(
        "  not available  : DICOM SCP (port "
        f"{settings.dicom_port}, AE {settings.ae_title}), web UI and REST API (port "
        f"{settings.http_port}) - not part of this release yet"
    )
    if not enabled:
        raise typer.Exit(code=1)
    if check_only:
        return
    code = run_worker_in_foreground(processes)
    raise typer.Exit(code=code)


def run_worker_in_foreground(processes: int) -> int:
    """Start ``pacs-hub worker``, wait for Ctrl-C/SIGTERM, stop it; returns the exit code."""
    stop_requested: list[int] = []

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        stop_requested.append(signum)

    previous = {
        sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    with tempfile.TemporaryDirectory(prefix="pacs-hub-up-") as scratch:
        ready = Path(scratch) / "worker-ready"
        child = subprocess.Popen(
            [sys.executable, "-m", "hub.cli.main", "worker", "--concurrency", str(processes)],
            env={**os.environ, READY_FILE_ENV: str(ready)},
            start_new_session=True,  # Ctrl-C reaches only us; we stop the worker in order
        )
        try:
            if not _wait_ready(child, ready, stop_requested):
                return 0 if stop_requested else 1
            typer.echo("pacs-hub is up; press Ctrl-C to stop")
            while not stop_requested and child.poll() is None:
                time.sleep(0.2)
            if not stop_requested:
                typer.echo(f"error: the job worker exited with code {child.returncode}", err=True)
                return 1
            typer.echo("stopping the job worker (running jobs finish first) ...")
            return 0
        finally:
            _stop(child)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            if stop_requested:
                typer.echo("stopped")


def _wait_ready(child: subprocess.Popen[bytes], ready: Path, stop: list[int]) -> bool:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not stop:
        if ready.exists():
            return True
        if child.poll() is not None:
            raise WorkerStartError(
                f"the job worker exited with code {child.returncode} while starting",
                "see its log lines above; check PACS_HUB_BROKER_URL and the database",
            )
        time.sleep(0.1)
    if stop:
        return False
    raise WorkerStartError("the job worker did not start within 120 s", "see its log above")


def _stop(child: subprocess.Popen[bytes]) -> None:
    """Warm shutdown (SIGTERM) of the worker's process group, then SIGKILL after the grace."""
    if child.poll() is None:
        _signal_group(child.pid, signal.SIGTERM)
        try:
            child.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            _signal_group(child.pid, signal.SIGKILL)
            child.wait(timeout=10)
    _signal_group(child.pid, signal.SIGKILL)  # any pool process left behind


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
