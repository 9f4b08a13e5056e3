"""``pacs-hub up``: everything on one machine with embedded defaults.

Prepares the data directory, migrates the database, creates the first ``admin`` user when
there is none (its random password is printed once, here, and never logged), loads and
validates the plugins, and starts three child processes: a job worker (embedded filesystem
broker unless ``PACS_HUB_BROKER_URL`` is set), the DICOM SCP (``pacs-hub scp`` on
``PACS_HUB_DICOM_PORT``, with series completion and routing) and the web app (``pacs-hub web``
on ``PACS_HUB_HTTP_PORT``). It stays in the foreground until Ctrl-C or SIGTERM, then stops them
in reverse order: the web app, the SCP (open associations end), the worker (running jobs
finish first).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
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
    """A child process (job worker or web app) did not start."""

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
        from hub.accounts.services import ensure_initial_admin

        first_password = ensure_initial_admin()
    else:
        first_password = None
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
    scp_part = f"DICOM SCP (AE {settings.ae_title} on port {settings.dicom_port})"
    web_part = f"web app (http://127.0.0.1:{settings.http_port})"
    started = "plugin registry (validated), data directory, database"
    typer.echo(
        f"  started        : {started}"
        + ("" if check_only else f", {worker_part}, {scp_part}, {web_part}")
    )
    if first_password:
        typer.echo(
            f"  first admin    : user 'admin', password {first_password} "
            "(shown once; log in and change it)"
        )
    if not enabled:
        raise typer.Exit(code=1)
    if check_only:
        return
    code = run_in_foreground(processes, settings.http_port, settings.dicom_port)
    raise typer.Exit(code=code)


def _http_ready(port: int) -> Callable[[], bool]:
    def ready() -> bool:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{port}/api/v1/health", timeout=1
            ) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    return ready


def _die_with_parent() -> None:
    """In a child, before exec: get SIGTERM when ``up`` dies, even by SIGKILL (Linux).

    The children run in their own sessions (so Ctrl-C reaches only ``up``, which stops them
    in order); without this, an ``up`` killed outright would leave them running.
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the children outlive a killed ``up``
        pass


def _port_open(port: int) -> Callable[[], bool]:
    def ready() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            return False

    return ready


def run_in_foreground(processes: int, http_port: int, dicom_port: int) -> int:
    """Start the worker, the SCP and the web app, wait for Ctrl-C/SIGTERM, stop them."""
    stop_requested: list[int] = []

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        stop_requested.append(signum)

    previous = {
        sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    hub = [sys.executable, "-m", "hub.cli.main"]
    children: dict[str, subprocess.Popen[bytes]] = {}
    with tempfile.TemporaryDirectory(prefix="pacs-hub-up-") as scratch:
        ready_file = Path(scratch) / "worker-ready"
        try:
            # new sessions: Ctrl-C reaches only us, and we stop the children in order
            children["job worker"] = subprocess.Popen(
                [*hub, "worker", "--concurrency", str(processes)],
                env={**os.environ, READY_FILE_ENV: str(ready_file)},
                start_new_session=True, preexec_fn=_die_with_parent,
            )
            children["DICOM SCP"] = subprocess.Popen(
                [*hub, "scp", "--port", str(dicom_port)], start_new_session=True,
                preexec_fn=_die_with_parent,
            )
            children["web app"] = subprocess.Popen(
                [*hub, "web", "--port", str(http_port)], start_new_session=True,
                preexec_fn=_die_with_parent,
            )
            checks = {
                "job worker": ready_file.exists,
                "DICOM SCP": _port_open(dicom_port),
                "web app": _http_ready(http_port),
            }
            for name, check in checks.items():
                if not _wait_ready(name, children[name], check, stop_requested):
                    return 0 if stop_requested else 1
            typer.echo(
                f"pacs-hub is up: web app on http://127.0.0.1:{http_port}, DICOM on port "
                f"{dicom_port}; press Ctrl-C to stop"
            )
            while not stop_requested:
                dead = [name for name, child in children.items() if child.poll() is not None]
                if dead:
                    code = children[dead[0]].returncode
                    typer.echo(f"error: the {dead[0]} exited with code {code}", err=True)
                    return 1
                time.sleep(0.2)
            typer.echo(
                "stopping the web app, the SCP and the job worker (running jobs finish first) ..."
            )
            return 0
        finally:
            for child in reversed(list(children.values())):
                _stop(child)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            if stop_requested:
                typer.echo("stopped")


def _wait_ready(
    name: str, child: subprocess.Popen[bytes], ready: Callable[[], bool], stop: list[int]
) -> bool:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not stop:
        if ready():
            return True
        if child.poll() is not None:
            raise WorkerStartError(
                f"the {name} exited with code {child.returncode} while starting",
                "see its log lines above; check the port (PACS_HUB_HTTP_PORT), "
                "PACS_HUB_BROKER_URL and the database",
            )
        time.sleep(0.1)
    if stop:
        return False
    raise WorkerStartError(f"the {name} did not start within 120 s", "see its log above")


def _stop(child: subprocess.Popen[bytes]) -> None:
    """Warm shutdown: SIGTERM to the child's main process only (Celery then lets running
    jobs finish, uvicorn drains requests); SIGKILL to its whole group after the grace."""
    if child.poll() is None:
        child.terminate()
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
