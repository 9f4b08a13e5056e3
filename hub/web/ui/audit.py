"""The audit log: :func:`record` one event; logins and logouts are recorded by signal.

Use from any view (the viewer's too)::

    from hub.web.ui import audit
    audit.record(request, audit.Action.VIEWER_OPENED, study_uid, "opened in the viewer")

Targets and details name UIDs, job ids, model names and user names, never patient names or IDs.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

from django.contrib.auth import user_logged_in, user_logged_out, user_login_failed
from django.http import HttpRequest

from hub.web.ui.models import AuditEvent

log = logging.getLogger(__name__)

Action = AuditEvent.Action


def client_ip(request: HttpRequest | None) -> str | None:
    """The peer address of ``request`` (uvicorn applies trusted proxy headers), or None."""
    if request is None:
        return None
    value = str(request.META.get("REMOTE_ADDR") or "")
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def record(
    request_or_user: HttpRequest | Any | None,
    action: str,
    target: str = "",
    detail: str = "",
) -> AuditEvent:
    """Store one audit event for a request (its user and address) or a user (no address)."""
    request = request_or_user if isinstance(request_or_user, HttpRequest) else None
    user = getattr(request, "user", None) if request is not None else request_or_user
    if user is not None and not getattr(user, "is_authenticated", False):
        user = None
    event = AuditEvent.objects.create(
        user=user,
        username=user.get_username() if user is not None else "",
        action=str(action),
        target=str(target)[:200],
        detail=str(detail),
        ip=client_ip(request),
    )
    log.info("audit: %s %s %s", event.username or "-", event.action, event.target)
    return event


def _logged_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    AuditEvent.objects.create(
        user=user, username=user.get_username(), action=Action.LOGIN,
        target=user.get_username(), ip=client_ip(request),
    )


def _logged_out(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if user is None:
        return
    AuditEvent.objects.create(
        user=user, username=user.get_username(), action=Action.LOGOUT,
        target=user.get_username(), ip=client_ip(request),
    )


def _login_failed(sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None,
                  **kwargs: Any) -> None:
    name = str(credentials.get("username", ""))[:150]
    AuditEvent.objects.create(
        action=Action.LOGIN_FAILED, target=name, detail="wrong user name or password",
        ip=client_ip(request),
    )


def connect_signals() -> None:
    """Record logins, logouts and failed logins (called once from the app's ``ready``)."""
    user_logged_in.connect(_logged_in, dispatch_uid="hub-ui-audit-login")
    user_logged_out.connect(_logged_out, dispatch_uid="hub-ui-audit-logout")
    user_login_failed.connect(_login_failed, dispatch_uid="hub-ui-audit-login-failed")
