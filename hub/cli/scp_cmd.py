"""``pacs-hub scp``: the DICOM SCP and the series completion loop, until SIGTERM/SIGINT."""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Annotated

import typer

from hub.errors import ConfigError, HubError


class NotMigratedError(HubError):
    """The database lacks migrations the SCP needs."""

    exit_code = 3


def scp(
    port: Annotated[
        int | None, typer.Option(help="TCP port [default: PACS_HUB_DICOM_PORT, 11112].")
    ] = None,
    ae_title: Annotated[
        str | None, typer.Option("--ae-title", help="AE title [default: PACS_HUB_AE_TITLE].")
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0: all).")] = "0.0.0.0",
) -> None:
    """Receive DICOM (C-ECHO, C-STORE, query/retrieve) and complete and route series."""
    from hub.dimse.scp import SCP
    from hub.settings import build_settings, get_settings

    settings = get_settings()
    if ae_title is not None:
        try:
            build_settings(ae_title=ae_title)  # validated as the settings validate it
        except ConfigError:
            raise ConfigError(
                f"--ae-title {ae_title!r} is not a valid AE title",
                "use 1-16 ASCII characters without backslash or leading/trailing spaces",
            ) from None
    if port is not None and not 0 <= port <= 65535:
        raise ConfigError(f"--port {port} is not a TCP port", "use a port between 1 and 65535")
    require_migrated()
    warm_registry()
    from hub.routing.completion import CompletionLoop

    server = SCP(host=host, port=port, ae_title=ae_title)
    loop = CompletionLoop(interval=1.0)
    stop = threading.Event()

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.start()
        loop.start()
        typer.echo(
            f"pacs-hub scp: AE {server.ae_title} on {host}:{server.port} "
            f"(data {settings.data_dir.resolve()}); Ctrl-C stops",
            err=True,
        )
        while not stop.wait(0.5):
            pass
        typer.echo("stopping the SCP ...", err=True)
    finally:
        server.stop()
        loop.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    typer.echo("stopped", err=True)


def warm_registry() -> None:
    """Load what routing needs before listening: the plugin registry, the job services and
    the job queue's app. Loading them when the first series completes (about 1.5 s of CPU:
    ONNX Runtime, model checks, highdicom, Celery) would stall the associations receiving at
    that moment."""
    import logging

    from hub.plugins.manager import get_registry

    try:
        get_registry()
        from hub.jobs import services  # noqa: F401 (imported for its import cost)
        from hub.jobs.celery_app import get_app
        from hub.jobs.tasks import run_job  # noqa: F401

        get_app()
    except Exception:  # routing reports it per series; the SCP still receives
        logging.getLogger(__name__).exception("loading the plugins and job queue failed")


def require_migrated() -> None:
    """Raise :class:`NotMigratedError` when the database has unapplied migrations."""
    from hub.db import setup

    setup()
    from django.db import DatabaseError, connection
    from django.db.migrations.executor import MigrationExecutor

    try:
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError as exc:
        raise NotMigratedError(
            f"cannot read the database's migration state: {exc}",
            "check PACS_HUB_DATABASE_URL and that the database server runs",
        ) from None
    finally:
        connection.close()
    if pending:
        names = ", ".join(f"{m.app_label}.{m.name}" for m, _ in pending[:3])
        more = f" and {len(pending) - 3} more" if len(pending) > 3 else ""
        raise NotMigratedError(
            f"the database is not migrated ({len(pending)} pending: {names}{more})",
            "run 'pacs-hub manage migrate'",
        )
