"""Entry point of the ``pacs-hub`` command.

Every :class:`hub.errors.HubError` that reaches here is printed as one line on stderr,
``error: <cause> (fix: <fix>)``, and the process exits with the error's ``exit_code``.
"""

from __future__ import annotations

import sys

import typer

from hub.errors import HubError
from hub.logs import configure_logging

app = typer.Typer(
    name="pacs-hub",
    help="pacs-ai-hub: AI inference hub for PACS (DICOM in, ONNX models, DICOM SEG/SR out).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    from hub.cli import (
        accounts_cmd,
        dicom_cmd,
        infer_cmd,
        jobs_cmd,
        manage_cmd,
        outbox_cmd,
        phantom_cmd,
        plugins_cmd,
        routing_cmd,
        scp_cmd,
        up_cmd,
        web_cmd,
    )

    app.command("up")(up_cmd.up)
    app.command("scp")(scp_cmd.scp)
    app.command("web")(web_cmd.web)
    app.command("worker")(jobs_cmd.worker)
    app.command("infer")(infer_cmd.infer)
    app.add_typer(plugins_cmd.app, name="plugins")
    app.add_typer(jobs_cmd.app, name="jobs")
    app.add_typer(routing_cmd.series_app, name="series")
    app.add_typer(routing_cmd.routes_app, name="routes")
    app.add_typer(outbox_cmd.app, name="outbox")
    app.command("echo")(dicom_cmd.echo)
    app.command("send")(dicom_cmd.send)
    app.add_typer(accounts_cmd.user_app, name="user")
    app.add_typer(accounts_cmd.token_app, name="token")
    app.command("phantom")(phantom_cmd.phantom)
    app.command("manage", context_settings=manage_cmd.CONTEXT)(manage_cmd.manage)


def report_error(error: HubError) -> None:
    """Print a hub error as the CLI's one-line message naming cause and fix."""
    typer.echo(f"error: {error}", err=True)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (also used by tests without a subprocess)."""
    configure_logging()
    _register()
    try:
        code = app(args=argv, standalone_mode=False)
    except HubError as error:
        report_error(error)
        return error.exit_code
    except typer.Exit as done:
        return done.exit_code
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("aborted", err=True)
        return 130
    except typer.TyperException as exc:  # usage errors: bad option values, unknown options
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            typer.echo(f"error: {exc}", err=True)
        return int(getattr(exc, "exit_code", 2))
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
