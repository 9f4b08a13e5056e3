"""Helpers of the REST API tests (imported by the tests and tests/api/conftest.py)."""

from __future__ import annotations

from dataclasses import dataclass

from hub.web.problems import PROBLEM_JSON

PASSWORD = "correct-horse-battery-9"


@dataclass
class People:
    """Plain tokens (``Authorization`` headers) of the test users."""

    admin: dict[str, str]
    engineer: dict[str, str]
    radiologist: dict[str, str]
    reader: dict[str, str]
    inferer: dict[str, str]
    users: dict[str, object]


def bearer(plain: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {plain}"}


def login_session(user: object) -> str:
    """A Django session for ``user`` as the web app's login makes one; returns its key."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)  # type: ignore[attr-defined]
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()  # type: ignore[attr-defined]
    session.create()
    assert session.session_key
    return session.session_key



def assert_problem(answer: object, status: int) -> dict:  # type: ignore[type-arg]
    """``answer`` is a problem+json document with ``status``; returns its body."""
    assert answer.status_code == status, answer.text  # type: ignore[attr-defined]
    assert answer.headers["content-type"] == PROBLEM_JSON  # type: ignore[attr-defined]
    body = answer.json()  # type: ignore[attr-defined]
    assert body["status"] == status and body["title"] and body["detail"]
    return body
