"""Account models: the hub's permissions and personal API tokens."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class HubPermissions(models.Model):
    """Carrier of the hub's own permissions (no rows); roles are groups holding some of them."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("view_studies", "View studies, images and AI results"),
            ("review_results", "Accept or reject AI results"),
            ("run_inference", "Run models (upload, analyze, re-run)"),
            ("manage_jobs", "Retry and cancel jobs"),
            ("manage_plugins", "Enable and disable models"),
            ("manage_routes", "View routes and peers, echo peers"),
            ("manage_users", "Manage users, roles and everyone's tokens"),
            ("view_audit", "View the audit log"),
        ]


class ApiToken(models.Model):
    """A personal API token: shown once at creation, stored as a SHA-256 digest.

    The plain token reads ``phub_<prefix>_<secret>``; ``prefix`` finds the row, the digest
    of the whole token is compared in constant time.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=64)
    prefix = models.CharField(max_length=16, unique=True)
    digest = models.CharField(max_length=64)
    #: Comma-separated scopes: ``read``, ``infer``, ``admin``.
    scopes = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"token {self.prefix} ({self.name}) of {self.user}"

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(s for s in self.scopes.split(",") if s)

    @property
    def active(self) -> bool:
        now = timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)
