"""Template context for every page: the navigation the user's role allows."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from hub import __version__
from hub.accounts.roles import role_of
from hub.web.ui.access import can

#: (url, label, permission or "" for any logged-in user); a path under url marks it current
NAVIGATION = (
    ("/worklist/", "Worklist", "view_studies"),
    ("/jobs/", "Jobs", "manage_jobs"),
    ("/plugins/", "Plugins", "manage_plugins"),
    ("/routes/", "Routes & peers", "manage_routes"),
    ("/audit/", "Audit", "view_audit"),
    ("/tokens/", "API tokens", ""),
    ("/admin/", "Admin", "manage_users"),
)


def navigation(request: HttpRequest) -> dict[str, Any]:
    """``nav`` (the links this user may follow, ``current`` on the open section), ``role``."""
    user = getattr(request, "user", None)
    items = []
    role = ""
    if user is not None and user.is_authenticated:
        found = role_of(user)
        role = found.group if found else "no role"
        for url, label, permission in NAVIGATION:
            if permission and not can(user, permission):
                continue
            if url == "/admin/" and not user.is_staff:
                continue
            items.append({"url": url, "label": label,
                          "current": request.path.startswith(url)})
    return {"nav": items, "role": role, "hub_version": __version__}
