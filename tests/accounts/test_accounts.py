"""Users, roles, the first admin and API tokens (real database)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hub.errors import InputError

PASSWORD = "a-long-enough-password-42"


def test_roles_are_groups_with_exactly_their_permissions(accounts):
    from django.contrib.auth.models import Group

    from hub.accounts.roles import ROLES

    for role in ROLES.values():
        group = Group.objects.get(name=role.group)
        assert set(group.permissions.values_list("codename", flat=True)) == role.permissions
    assert "manage_plugins" not in ROLES["radiologist"].permissions


def test_create_user_with_role_and_django_permissions(accounts):
    from hub.accounts.roles import permissions_of, role_of
    from hub.accounts.services import create_user

    user = create_user("rad1", "radiologist", PASSWORD)
    assert role_of(user).slug == "radiologist"
    assert user.check_password(PASSWORD) and user.password != PASSWORD
    assert user.has_perm("accounts.review_results")
    assert not user.has_perm("accounts.manage_plugins")
    assert permissions_of(user) == {"view_studies", "review_results", "run_inference"}
    user.is_active = False
    assert permissions_of(user) == frozenset()


@pytest.mark.parametrize(
    ("name", "role", "password", "message"),
    [
        ("x", "surgeon", PASSWORD, "unknown role 'surgeon'"),
        ("x", "admin", "short", "password refused"),
        ("x", "admin", "1234567890123", "password refused"),
        ("", "admin", PASSWORD, "1-150 characters"),
    ],
)
def test_bad_user_input_names_the_problem(accounts, name, role, password, message):
    from hub.accounts.services import create_user

    with pytest.raises(InputError, match=message):
        create_user(name, role, password)


def test_duplicate_user_is_refused(accounts):
    from hub.accounts.services import AccountError, create_user

    create_user("eng", "ml-engineer", PASSWORD)
    with pytest.raises(AccountError, match="already exists"):
        create_user("ENG", "admin", PASSWORD)


def test_first_admin_only_when_no_user_exists(accounts):
    from django.contrib.auth import authenticate

    from hub.accounts.services import ensure_initial_admin

    password = ensure_initial_admin()
    assert password and len(password) >= 16
    assert authenticate(username="admin", password=password) is not None
    assert ensure_initial_admin() is None


def test_token_is_shown_once_stored_hashed_and_narrowed_by_scopes(accounts):
    from hub.accounts.models import ApiToken
    from hub.accounts.roles import permissions_of
    from hub.accounts.services import authenticate_token, create_token, create_user

    user = create_user("eng", "ml-engineer", PASSWORD)
    token, plain = create_token(user, "ci", ["read"])
    assert plain.startswith("phub_") and plain not in str(
        list(ApiToken.objects.values_list())
    )
    found = authenticate_token(plain)
    assert found is not None and found.pk == token.pk
    assert permissions_of(found.user, found.scope_set) == {"view_studies"}
    assert found.last_used_at is not None
    assert authenticate_token(plain[:-1] + ("A" if plain[-1] != "A" else "B")) is None
    assert authenticate_token("phub_nothere_xyz") is None
    assert authenticate_token("Bearer " + plain) is None


def test_revoked_expired_and_inactive_user_tokens_fail(accounts):
    from django.utils import timezone

    from hub.accounts.models import ApiToken
    from hub.accounts.services import (
        AccountError,
        authenticate_token,
        create_token,
        create_user,
        revoke_token,
    )

    user = create_user("adm", "admin", PASSWORD)
    other = create_user("rad", "radiologist", PASSWORD)
    revoked, plain1 = create_token(user, "a", ["admin"])
    expired, plain2 = create_token(user, "b", ["read"], expires_in_days=1)
    live, plain3 = create_token(user, "c", ["infer"])
    with pytest.raises(AccountError):
        revoke_token(revoked.pk, user=other)  # not hers
    revoke_token(revoked.pk, user=user)
    ApiToken.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(1))
    assert authenticate_token(plain1) is None
    assert authenticate_token(plain2) is None
    assert authenticate_token(plain3) is not None
    user.is_active = False
    user.save()
    assert authenticate_token(plain3) is None


def test_unknown_scope_is_refused():
    from hub.accounts.services import parse_scopes

    assert parse_scopes(" read, infer ,read") == ["infer", "read"]
    with pytest.raises(InputError, match="unknown scope"):
        parse_scopes("read,write")
    with pytest.raises(InputError, match="no scope"):
        parse_scopes(" , ")
