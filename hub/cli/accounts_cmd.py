"""``pacs-hub user create|list`` and ``pacs-hub token create|list|revoke``."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from hub.errors import InputError

user_app = typer.Typer(help="Web and API users with a role.", no_args_is_help=True)
token_app = typer.Typer(help="Personal API tokens (Authorization: Bearer).", no_args_is_help=True)

ROLE_HELP = "radiologist, ml-engineer or admin"


def _setup() -> None:
    from hub.db import setup

    setup()


@user_app.command("create")
def create_user(
    name: Annotated[str, typer.Argument(help="User name (log-in name).")],
    role: Annotated[str, typer.Option("--role", help=ROLE_HELP)],
    password: Annotated[
        str | None,
        typer.Option("--password", help="Password (prompted when omitted; at least 10 chars)."),
    ] = None,
) -> None:
    """Create a user with a role."""
    _setup()
    from hub.accounts.services import create_user as create
    from hub.accounts.services import parse_role

    parse_role(role)  # refuse a bad role before prompting
    if password is None:
        if not sys.stdin.isatty():
            raise InputError(
                "no --password given and no terminal to prompt on",
                "pass --password or run the command in a terminal",
            )
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    create(name, role, password)
    typer.echo(f"user {name} created ({role})")


@user_app.command("list")
def list_users(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List users with their role and state."""
    _setup()
    from django.contrib.auth import get_user_model

    from hub.accounts.roles import role_of

    rows = []
    for user in get_user_model().objects.order_by("username"):
        role = role_of(user)
        rows.append({
            "username": user.username, "role": role.slug if role else None,
            "active": user.is_active,
            "last_login": user.last_login.isoformat() if user.last_login else None,
        })
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        state = "" if row["active"] else " (inactive)"
        typer.echo(f"{row['username']:<24} {row['role'] or '-':<12}{state}")


@token_app.command("create")
def create_token(
    user: Annotated[str, typer.Argument(help="The user the token acts as.")],
    scopes: Annotated[str, typer.Option("--scopes", help="Comma-separated: read, infer, admin.")],
    label: Annotated[str, typer.Option("--label", help="What the token is for.")] = "cli",
    expires_days: Annotated[
        int | None, typer.Option("--expires-days", min=1, help="Expire after N days.")
    ] = None,
) -> None:
    """Create an API token for USER and print it once (it is stored hashed)."""
    _setup()
    from hub.accounts.services import create_token as create
    from hub.accounts.services import find_user, parse_scopes

    chosen = parse_scopes(scopes)
    token, plain = create(find_user(user), label, chosen, expires_days)
    typer.echo(plain)
    typer.echo(
        f"token {token.prefix} for {user} ({','.join(chosen)}); shown once, store it now",
        err=True,
    )


@token_app.command("list")
def list_tokens(
    user: Annotated[str | None, typer.Argument(help="Only this user's tokens.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List tokens (never their secret)."""
    _setup()
    from hub.accounts.models import ApiToken
    from hub.accounts.services import find_user

    tokens = ApiToken.objects.select_related("user")
    if user:
        tokens = tokens.filter(user=find_user(user))
    rows = [
        {
            "id": t.pk, "prefix": t.prefix, "user": t.user.username, "label": t.name,
            "scopes": sorted(t.scope_set), "active": t.active,
            "created_at": t.created_at.isoformat(),
            "last_used_at": t.last_used_at.isoformat() if t.last_used_at else None,
        }
        for t in tokens
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        state = "active" if row["active"] else "revoked/expired"
        typer.echo(
            f"{row['id']:>4}  {row['prefix']}  {row['user']:<16} {','.join(row['scopes']):<16} "
            f"{row['label']:<16} {state}"
        )


@token_app.command("revoke")
def revoke_token(token_id: Annotated[int, typer.Argument(help="Token id (token list).")]) -> None:
    """Revoke a token at once."""
    _setup()
    from hub.accounts.services import revoke_token as revoke

    token = revoke(token_id)
    typer.echo(f"token {token.prefix} revoked")
