"""Roles (Django groups) and API token scopes, as permissions of :class:`HubPermissions`.

A user's role is the group it belongs to; a request made with an API token may do what both
the user's role and the token's scopes allow.
"""

from __future__ import annotations

from dataclasses import dataclass

APP = "accounts"


@dataclass(frozen=True)
class Role:
    """A role: its CLI slug, its group name and the permission codenames it holds."""

    slug: str
    group: str
    permissions: frozenset[str]


ALL_PERMISSIONS = frozenset({
    "view_studies", "review_results", "run_inference", "manage_jobs", "manage_plugins",
    "manage_routes", "manage_users", "view_audit",
})  # fmt: skip

ROLES: dict[str, Role] = {
    "radiologist": Role(
        "radiologist", "Radiologist",
        frozenset({"view_studies", "review_results", "run_inference"}),
    ),
    "ml-engineer": Role(
        "ml-engineer", "ML engineer",
        frozenset({"view_studies", "run_inference", "manage_jobs", "manage_plugins"}),
    ),
    "admin": Role("admin", "Admin", ALL_PERMISSIONS),
}

#: What each API token scope allows at most (intersected with the user's role).
SCOPES: dict[str, frozenset[str]] = {
    "read": frozenset({"view_studies", "view_audit"}),
    "infer": frozenset({"run_inference"}),
    "admin": ALL_PERMISSIONS,
}


def role_of(user: object) -> Role | None:
    """The user's role (the first of admin, ml-engineer, radiologist it holds), or None."""
    if getattr(user, "is_superuser", False):
        return ROLES["admin"]
    names = set(user.groups.values_list("name", flat=True))  # type: ignore[attr-defined]
    for slug in ("admin", "ml-engineer", "radiologist"):
        if ROLES[slug].group in names:
            return ROLES[slug]
    return None


def permissions_of(user: object, scopes: frozenset[str] | None = None) -> frozenset[str]:
    """Codenames the user may use; narrowed to ``scopes`` for an API token."""
    if not getattr(user, "is_active", False):
        return frozenset()
    role = role_of(user)
    granted = role.permissions if role else frozenset()
    if scopes is not None:
        allowed = frozenset().union(*(SCOPES.get(scope, frozenset()) for scope in scopes))
        granted &= allowed
    return granted


def sync_roles(using: str = "default") -> None:
    """Create the role groups and give each exactly its permissions (after every migrate)."""
    from django.contrib.auth.models import Group, Permission
    from django.contrib.contenttypes.models import ContentType

    from hub.accounts.models import HubPermissions

    content_type = ContentType.objects.db_manager(using).get_for_model(
        HubPermissions, for_concrete_model=False
    )
    permissions = {}
    for codename, label in HubPermissions._meta.permissions:
        permissions[codename], _ = Permission.objects.using(using).get_or_create(
            content_type=content_type, codename=codename, defaults={"name": label}
        )
    for role in ROLES.values():
        group, _ = Group.objects.using(using).get_or_create(name=role.group)
        group.permissions.set([permissions[name] for name in sorted(role.permissions)])
