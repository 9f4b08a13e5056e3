"""Permission checks of the pages: each view names the role permission it needs.

Anonymous callers are sent to the login page; a logged-in user without the permission gets
403. Permissions are the codenames of :class:`hub.accounts.models.HubPermissions` (granted by
role groups, :mod:`hub.accounts.roles`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

View = Callable[..., HttpResponse]


def can(user: Any, codename: str) -> bool:
    """True when ``user`` holds the hub permission ``codename`` (``view_studies``, ...)."""
    return bool(user.is_authenticated and user.is_active and user.has_perm(f"accounts.{codename}"))


def require(*codenames: str) -> Callable[[View], View]:
    """Decorator: login required, then every permission in ``codenames`` (none: login only)."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not all(can(request.user, name) for name in codenames):
                raise PermissionDenied(f"needs permission {', '.join(codenames)}")
            return view(request, *args, **kwargs)

        return wrapped

    return decorate
