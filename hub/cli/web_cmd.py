"""``pacs-hub web``: serve the hub's ASGI app (:mod:`hub.web.app`) with uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer

from hub.errors import ConfigError

APP = "hub.web.app:create_app"


def web(
    host: Annotated[
        str, typer.Option(help="Address to listen on (0.0.0.0: all; behind nginx keep it local).")
    ] = "127.0.0.1",
    port: Annotated[
        int | None, typer.Option(help="TCP port [default: PACS_HUB_HTTP_PORT, 8000].")
    ] = None,
    workers: Annotated[
        int, typer.Option(min=1, help="Worker processes (each serves the whole app).")
    ] = 1,
) -> None:
    """Serve the web app and the API: REST, DICOMweb, WebSockets, /metrics (one ASGI app).

    Behind a proxy, uvicorn trusts X-Forwarded-* headers from FORWARDED_ALLOW_IPS (default
    127.0.0.1, i.e. nginx on the same machine).
    """
    import uvicorn

    from hub.logs import logging_config
    from hub.settings import get_settings

    settings = get_settings()
    port = settings.http_port if port is None else port
    if not 1 <= port <= 65535:
        raise ConfigError(f"--port {port} is not a TCP port", "use a port between 1 and 65535")
    typer.echo(f"pacs-hub web on http://{host}:{port}, {workers} worker(s); Ctrl-C stops", err=True)
    uvicorn.run(
        APP,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=logging_config(settings.log_format, settings.log_level),
        proxy_headers=True,
        server_header=False,
    )
