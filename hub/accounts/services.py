"""Account services: users with a role, the first admin, personal API tokens."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from hub.accounts.models import ApiToken
from hub.accounts.roles import ROLES, SCOPES, Role
from hub.errors import HubError, InputError

logger = logging.getLogger(__name__)

TOKEN_PREFIX = "phub_"
#: How often ``last_used_at`` is written for a busy token (seconds).
LAST_USED_RESOLUTION = 60


class AccountError(HubError):
    """A user or token operation that cannot be done as asked."""

    exit_code = 2


def parse_role(slug: str) -> Role:
    """The role named ``slug``; an error listing the roles otherwise."""
    role = ROLES.get(slug.strip().lower())
    if role is None:
        raise InputError(f"unknown role {slug!r}", f"use one of: {', '.join(ROLES)}")
    return role


def parse_scopes(text: str) -> list[str]:
    """``read,infer`` -> ``["infer", "read"]``; unknown scopes are an error naming them."""
    scopes = sorted({part.strip().lower() for part in text.split(",") if part.strip()})
    unknown = [scope for scope in scopes if scope not in SCOPES]
    if not scopes or unknown:
        raise InputError(
            f"unknown scope(s) {', '.join(unknown)}" if unknown else "no scope given",
            f"use a comma-separated list of: {', '.join(SCOPES)}",
        )
    return scopes


def create_user(username: str, role: str, password: str) -> object:
    """Create an active user with ``role``; the password must pass Django's validators."""
    User = get_user_model()
    chosen = parse_role(role)
    username = username.strip()
    if not username or len(username) > 150:
        raise InputError("a user name is 1-150 characters", "choose another name")
    if User.objects.filter(username__iexact=username).exists():
        raise AccountError(f"user {username!r} already exists", "choose another name")
    user = User(username=username, is_staff=chosen.slug == "admin")
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise InputError(f"password refused: {' '.join(exc.messages)}", "choose a longer, "
                         "less common password") from None
    with transaction.atomic():
        user.set_password(password)
        user.save()
        user.groups.set([Group.objects.get_or_create(name=chosen.group)[0]])
    logger.info("user %s created with role %s", username, chosen.slug)
    return user


def ensure_initial_admin() -> str | None:
    """With no user at all, create ``admin`` with a random password and return it (once)."""
    User = get_user_model()
    if User.objects.exists():
        return None
    password = secrets.token_urlsafe(15)
    create_user("admin", "admin", password)
    return password


def find_user(username: str) -> object:
    User = get_user_model()
    user = User.objects.filter(username=username).first()
    if user is None:
        raise AccountError(f"no user named {username!r}", "list users with 'pacs-hub user list'")
    return user


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    user: object, name: str, scopes: list[str], expires_in_days: int | None = None
) -> tuple[ApiToken, str]:
    """Create a token; returns the row and the plain token (shown once, never stored)."""
    name = name.strip() or "token"
    prefix = secrets.token_hex(4)
    while ApiToken.objects.filter(prefix=prefix).exists():  # 2**32 space; collisions are rare
        prefix = secrets.token_hex(4)
    plain = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    expires = (
        timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
    )
    token = ApiToken.objects.create(
        user=user, name=name[:64], prefix=prefix, digest=_digest(plain),
        scopes=",".join(sorted(scopes)), expires_at=expires,
    )
    logger.info("API token %s (%s) created for user id %s", prefix, name, token.user_id)
    return token, plain


def authenticate_token(plain: str) -> ApiToken | None:
    """The active token matching ``plain`` (its user active), or None."""
    if not plain.startswith(TOKEN_PREFIX):
        return None
    prefix = plain[len(TOKEN_PREFIX):].split("_", 1)[0]
    token = ApiToken.objects.select_related("user").filter(prefix=prefix).first()
    if token is None or not hmac.compare_digest(token.digest, _digest(plain)):
        return None
    if not token.active or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > (
        LAST_USED_RESOLUTION
    ):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def revoke_token(token_id: int, user: object | None = None) -> ApiToken:
    """Revoke a token; with ``user``, only one of that user's own tokens."""
    tokens = ApiToken.objects.filter(pk=token_id)
    if user is not None:
        tokens = tokens.filter(user=user)
    token = tokens.first()
    if token is None:
        raise AccountError(f"no token {token_id}", "list tokens with 'pacs-hub token list'")
    if token.revoked_at is None:
        ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
        token.refresh_from_db()
        logger.info("API token %s revoked", token.prefix)
    return token
