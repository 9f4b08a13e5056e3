"""Login, logout, failed logins and password change (audited), personal API tokens, and the
audit page."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ui_helpers import PASSWORD, csrf_token, is_login_redirect


def _login(client: Any, username: str, password: str) -> Any:
    token = csrf_token(client, "/accounts/login/")
    return client.post("/accounts/login/", {"username": username, "password": password,
                                            "next": "/worklist/", "csrfmiddlewaretoken": token})


def test_login_logout_and_failed_login_are_audited(
    client_for: Callable[[str | None], Any], people: Any
) -> None:
    from hub.web.ui.models import AuditEvent

    client = client_for(None)
    bad = _login(client, "radiologist", "wrong-password")
    assert bad.status_code == 200 and "Wrong user name or password" in bad.content.decode()
    failed = AuditEvent.objects.get(action="login_failed")
    assert failed.target == "radiologist" and failed.user is None
    assert "wrong-password" not in failed.detail

    good = _login(client, "radiologist", PASSWORD)
    assert good.status_code == 302 and good["Location"] == "/worklist/"
    assert client.get("/worklist/").status_code == 200
    assert AuditEvent.objects.get(action="login").username == "radiologist"

    token = csrf_token(client, "/worklist/")
    out = client.post("/accounts/logout/", {"csrfmiddlewaretoken": token})
    assert out.status_code == 302 and out["Location"] == "/accounts/login/"
    assert AuditEvent.objects.get(action="logout").username == "radiologist"
    assert is_login_redirect(client.get("/worklist/"))


def test_password_change(client_for: Callable[[str | None], Any], people: Any) -> None:
    from hub.web.ui.models import AuditEvent

    client = client_for(None)
    _login(client, "ml-engineer", PASSWORD)
    token = csrf_token(client, "/accounts/password/")
    new = "another-long-password-77"
    answer = client.post("/accounts/password/", {
        "old_password": PASSWORD, "new_password1": new, "new_password2": new,
        "csrfmiddlewaretoken": token})
    assert answer.status_code == 302 and answer["Location"] == "/accounts/password/done/"
    assert client.get("/accounts/password/done/").status_code == 200
    assert AuditEvent.objects.filter(action="password_changed", username="ml-engineer").exists()
    other = client_for(None)
    assert _login(other, "ml-engineer", new).status_code == 302
    refused = client.post("/accounts/password/", {
        "old_password": "nope", "new_password1": "x", "new_password2": "x",
        "csrfmiddlewaretoken": csrf_token(client, "/accounts/password/")})
    assert refused.status_code == 200 and "role=\"alert\"" in refused.content.decode()


def test_token_is_shown_once_listed_and_revoked(
    client_for: Callable[[str | None], Any], people: Any
) -> None:
    from hub.accounts.models import ApiToken
    from hub.accounts.services import authenticate_token
    from hub.web.ui.models import AuditEvent

    client = client_for("radiologist")
    token = csrf_token(client)
    answer = client.post("/tokens/new/", {"name": "pacs script", "scopes": ["read", "infer"],
                                          "expires_in_days": "30", "csrfmiddlewaretoken": token})
    assert answer.status_code == 200 and answer["Cache-Control"] == "no-store"
    plain = re.search(r'value="(phub_[^"]+)"', answer.content.decode()).group(1)
    row = ApiToken.objects.get()
    assert authenticate_token(plain).pk == row.pk
    assert row.scopes == "infer,read" and row.expires_at is not None
    assert plain not in client.get("/tokens/").content.decode()
    listing = client.get("/tokens/").content.decode()
    assert "pacs script" in listing and row.prefix in listing
    created = AuditEvent.objects.get(action="token_created")
    assert created.target == f"token {row.prefix}" and plain not in created.detail

    revoked = client.post(f"/tokens/{row.pk}/revoke/", {"csrfmiddlewaretoken": token})
    assert revoked.status_code == 302
    assert authenticate_token(plain) is None
    assert AuditEvent.objects.get(action="token_revoked").target == f"token {row.prefix}"


def test_token_form_errors(client_for: Callable[[str | None], Any], people: Any) -> None:
    from hub.accounts.models import ApiToken

    client = client_for("radiologist")
    answer = client.post("/tokens/new/", {"name": "", "scopes": ["root"],
                                          "csrfmiddlewaretoken": csrf_token(client)})
    assert answer.status_code == 400 and not ApiToken.objects.exists()


def test_only_admins_see_and_revoke_other_peoples_tokens(
    client_for: Callable[[str | None], Any], people: dict[str, Any]
) -> None:
    from hub.accounts.services import create_token

    mine, _ = create_token(people["radiologist"], "mine", ["read"])
    theirs, _ = create_token(people["ml-engineer"], "theirs", ["read"])
    radiologist = client_for("radiologist")
    listing = radiologist.get("/tokens/").content.decode()
    assert "mine" in listing and "theirs" not in listing
    radiologist.post(f"/tokens/{theirs.pk}/revoke/",
                     {"csrfmiddlewaretoken": csrf_token(radiologist)})
    theirs.refresh_from_db()
    assert theirs.revoked_at is None

    admin = client_for("admin")
    listing = admin.get("/tokens/").content.decode()
    assert "mine" in listing and "theirs" in listing and "All tokens" in listing
    admin.post(f"/tokens/{theirs.pk}/revoke/", {"csrfmiddlewaretoken": csrf_token(admin)})
    theirs.refresh_from_db()
    assert theirs.revoked_at is not None


def test_audit_page_shows_and_filters_events(
    client_for: Callable[[str | None], Any], people: Any
) -> None:
    from hub.web.ui import audit

    audit.record(people["radiologist"], audit.Action.REPORT_VIEWED, "1.2.3.4", "1 AI result")
    audit.record(people["admin"], audit.Action.MODEL_DISABLED, "ct-lung-seg", "maintenance")
    client = client_for("admin")

    def actions(query: str) -> list[str]:
        page = client.get("/audit/" + query).content.decode()
        found = re.findall(r'<tr class="audit-([a-z_]+)">', page)
        return [action for action in found if action != "login"]  # the client's own login

    page = client.get("/audit/").content.decode()
    assert "opened a report" in page and "1.2.3.4" in page and "maintenance" in page
    assert actions("") == ["model_disabled", "report_viewed"]
    assert actions("?user=radiologist") == ["report_viewed"]
    assert actions("?action=model_disabled") == ["model_disabled"]
    assert actions("?target=ct-lung") == ["model_disabled"]
    assert actions("?target=maint") == ["model_disabled"]
    assert actions("?date_to=2000-01-01") == []
