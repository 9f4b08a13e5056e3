"""The hub's models in Django's admin (``/admin/``, Admin role only): mostly read-only views,
because jobs, the index and routing decisions are written by the hub itself."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.http import HttpRequest

from hub.accounts.models import ApiToken
from hub.jobs.models import Job, ModelToggle
from hub.routing.models import RoutingDecision
from hub.storage.models import Instance, Series
from hub.web.ui.models import AuditEvent, ResultReview


class ForAdmins:
    """Model permissions for the Admin role (``manage_users``) instead of per-model ones."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("accounts.manage_users")

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("accounts.manage_users")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("accounts.manage_users")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("accounts.manage_users")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("accounts.manage_users")


class ReadOnly(ForAdmins, admin.ModelAdmin):
    """Browse and search only: the hub writes these rows."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Job)
class JobAdmin(ReadOnly):
    list_display = ("id", "model_name", "model_version", "run", "state", "trigger", "route",
                    "attempts", "created_at", "finished_at")
    list_filter = ("state", "model_name", "trigger")
    search_fields = ("=id", "series_instance_uid", "study_instance_uid", "model_name")
    date_hierarchy = "created_at"


@admin.register(ModelToggle)
class ModelToggleAdmin(ForAdmins, admin.ModelAdmin):
    list_display = ("model_name", "enabled", "reason", "changed_by", "changed_at")
    readonly_fields = ("changed_by", "changed_at")

    def save_model(self, request: HttpRequest, obj: ModelToggle, form: Any, change: bool) -> None:
        obj.changed_by = request.user.get_username()
        super().save_model(request, obj, form, change)


@admin.register(Series)
class SeriesAdmin(ReadOnly):
    list_display = ("series_instance_uid", "modality", "series_description", "instance_count",
                    "state", "hub_results", "calling_ae", "last_received_at")
    list_filter = ("state", "modality", "hub_results")
    search_fields = ("series_instance_uid", "study_instance_uid", "series_description")


@admin.register(Instance)
class InstanceAdmin(ReadOnly):
    list_display = ("sop_instance_uid", "series", "source", "size", "received_at")
    list_filter = ("source",)
    search_fields = ("sop_instance_uid",)
    list_select_related = ("series",)


@admin.register(RoutingDecision)
class RoutingDecisionAdmin(ReadOnly):
    list_display = ("series", "run", "route", "model_name", "outcome", "reason", "created_at")
    list_filter = ("outcome", "route", "model_name")
    list_select_related = ("series",)


@admin.register(ApiToken)
class ApiTokenAdmin(ForAdmins, admin.ModelAdmin):
    """Tokens are created on the tokens page (shown once); here they can be listed and revoked."""

    list_display = ("prefix", "name", "user", "scopes", "created_at", "last_used_at",
                    "expires_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("prefix", "name", "user__username")
    readonly_fields = ("user", "prefix", "digest", "scopes", "created_at", "last_used_at")
    fields = ("user", "name", "prefix", "scopes", "created_at", "last_used_at", "expires_at",
              "revoked_at")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnly):
    list_display = ("created_at", "username", "action", "target", "detail", "ip")
    list_filter = ("action",)
    search_fields = ("username", "target", "detail")
    date_hierarchy = "created_at"


@admin.register(ResultReview)
class ResultReviewAdmin(ReadOnly):
    list_display = ("created_at", "job", "decision", "reviewer_name", "comment")
    list_filter = ("decision",)
    search_fields = ("study_instance_uid", "reviewer_name")


admin.site.unregister(get_user_model())
admin.site.unregister(Group)


@admin.register(get_user_model())
class HubUserAdmin(ForAdmins, UserAdmin):
    """Users; the role is the group (Radiologist, ML engineer, Admin)."""


@admin.register(Group)
class HubGroupAdmin(ForAdmins, GroupAdmin):
    """Role groups; their permissions are reset to the role's at every migrate."""
