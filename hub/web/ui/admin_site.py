"""Django's admin at ``/admin/``, for the Admin role only (staff with ``manage_users``)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.admin import AdminSite
from django.contrib.admin.apps import AdminConfig
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse


class HubAdminSite(AdminSite):
    """The admin site: the hub's own login page, 403 for logged-in users without the role."""

    site_header = "pacs-ai-hub administration"
    site_title = "pacs-ai-hub admin"
    index_title = "Users, tokens, jobs, routing and audit"
    site_url = "/worklist/"

    def has_permission(self, request: HttpRequest) -> bool:
        user = request.user
        return bool(
            user.is_active and user.is_staff and user.has_perm("accounts.manage_users")
        )

    def admin_view(self, view: Callable[..., Any], cacheable: bool = False) -> Callable[..., Any]:
        """Admin's own wrapper, plus 403 (not the admin login) for a user without the role."""
        inner = super().admin_view(view, cacheable)

        @wraps(inner)
        def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            if request.user.is_authenticated and not self.has_permission(request):
                raise PermissionDenied("the admin is for the Admin role")
            return inner(request, *args, **kwargs)

        return guarded

    def login(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        from django.contrib.auth.views import redirect_to_login

        if request.user.is_authenticated:
            raise PermissionDenied("the admin is for the Admin role")
        return redirect_to_login(request.GET.get("next") or "/admin/")


class HubAdminConfig(AdminConfig):
    """``django.contrib.admin`` with :class:`HubAdminSite` as the default site."""

    default_site = "hub.web.ui.admin_site.HubAdminSite"
