"""Every page and action against every role: allowed, 403, or a redirect to the login page;
CSRF on every form; nothing about a study is shown without login."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from ui_helpers import ROLES, Study, csrf_token, is_login_redirect

ALL = set(ROLES)
#: page -> roles allowed (the others get 403, anonymous is sent to the login page)
PAGES: dict[str, set[str]] = {
    "/worklist/": ALL,
    "/worklist/status.json?study={study}": ALL,
    "/reports/{study}/": ALL,
    "/plugins/": {"ml-engineer", "admin"},
    "/jobs/": {"ml-engineer", "admin"},
    "/jobs/{job}/": {"ml-engineer", "admin"},
    "/routes/": {"admin"},
    "/audit/": {"admin"},
    "/tokens/": ALL,
    "/accounts/password/": ALL,
    "/admin/": {"admin"},
    "/admin/jobs/job/": {"admin"},
    "/admin/auth/user/": {"admin"},
}
#: action -> (form data, roles allowed)
ACTIONS: dict[str, tuple[dict[str, str], set[str]]] = {
    "/reports/{study}/review/{job}/": ({"decision": "accepted"}, {"radiologist", "admin"}),
    "/plugins/toggle/": ({"model": "ct-lung-seg", "enabled": "1"}, {"ml-engineer", "admin"}),
    "/jobs/{job}/retry/": ({}, {"ml-engineer", "admin"}),
    "/jobs/{job}/cancel/": ({}, {"ml-engineer", "admin"}),
    "/routes/echo/": ({"peer": "nobody"}, {"admin"}),
    "/tokens/new/": ({"name": "t", "scopes": "read"}, ALL),
    "/tokens/999999/revoke/": ({}, ALL),
}


def _fill(path: str, study: Study) -> str:
    return path.format(study=study.study_uid, job=study.job.pk)


@pytest.mark.parametrize("role", [None, *ROLES])
def test_every_page_allows_exactly_its_roles(
    role: str | None, client_for: Callable[[str | None], Any], study: Study
) -> None:
    client = client_for(role)
    for template, allowed in PAGES.items():
        answer = client.get(_fill(template, study))
        if role is None:
            assert is_login_redirect(answer, client), (template, answer.status_code)
        elif role in allowed:
            assert answer.status_code == 200, (role, template, answer.status_code)
        else:
            assert answer.status_code == 403, (role, template, answer.status_code)


@pytest.mark.parametrize("role", [None, *ROLES])
def test_every_action_allows_exactly_its_roles(
    role: str | None, client_for: Callable[[str | None], Any], study: Study
) -> None:
    client = client_for(role)
    token = csrf_token(client, "/accounts/login/" if role is None else "/tokens/")
    for template, (data, allowed) in ACTIONS.items():
        answer = client.post(_fill(template, study), {**data, "csrfmiddlewaretoken": token})
        if role is None:
            assert is_login_redirect(answer), (template, answer.status_code)
        elif role in allowed:
            assert answer.status_code in (200, 302), (role, template, answer.status_code)
            assert not is_login_redirect(answer)
        else:
            assert answer.status_code == 403, (role, template, answer.status_code)


def test_every_form_refuses_a_post_without_csrf_token(
    client_for: Callable[[str | None], Any], study: Study
) -> None:
    admin = client_for("admin")
    for template, (data, _allowed) in ACTIONS.items():
        answer = admin.post(_fill(template, study), data)
        assert answer.status_code == 403, template
        assert b"CSRF" in answer.content, template
    assert admin.post("/accounts/logout/").status_code == 403
    assert admin.post("/accounts/password/", {"old_password": "x"}).status_code == 403
    assert client_for(None).post(
        "/accounts/login/", {"username": "admin", "password": "x"}
    ).status_code == 403
    from hub.web.ui.models import ResultReview

    assert not ResultReview.objects.exists()


def test_logout_is_post_only(client_for: Callable[[str | None], Any], people: Any) -> None:
    client = client_for("radiologist")
    assert client.get("/accounts/logout/").status_code == 405
    assert client.get("/worklist/").status_code == 200


def test_no_study_data_without_login(client_for: Callable[[str | None], Any], study: Study
                                     ) -> None:
    anonymous = client_for(None)
    paths = [_fill(p, study) for p in PAGES] + ["/", "/accounts/login/", "/nothing-here/"]
    for path in paths:
        answer = anonymous.get(path, follow=True)
        assert answer.status_code in (200, 404), path
        body = answer.content.decode()
        for secret in (study.patient_id, study.accession, "Rossi", "ct-lung-seg", "1,234.50"):
            assert secret not in body, (path, secret)


def test_user_without_role_sees_nothing(ui_db: None, study: Study) -> None:
    from django.contrib.auth import get_user_model
    from django.test import Client

    nobody = get_user_model().objects.create_user("nobody", password="x-long-password-1")
    client = Client()
    client.force_login(nobody)
    for template in ("/worklist/", "/reports/{study}/", "/plugins/", "/jobs/", "/audit/"):
        assert client.get(_fill(template, study)).status_code == 403, template


def test_navigation_links_are_the_roles_pages(
    client_for: Callable[[str | None], Any], study: Study
) -> None:
    import re

    for role in ROLES:
        client = client_for(role)
        page = client.get("/tokens/").content.decode()
        nav = page.split('<nav aria-label="Main">', 1)[1].split("</nav>", 1)[0]
        links = re.findall(r'href="([^"]+)"', nav)
        assert links, role
        for link in links:
            assert client.get(link).status_code == 200, (role, link)
        expected = {p.split("?")[0] for p, roles in PAGES.items()
                    if role in roles and p.count("/") == 2 and "{" not in p}
        assert expected - {"/accounts/password/"} <= set(links), (role, links)
