"""Sign-in throttling: too many failed logins per user name or per address answer 429."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from ui_helpers import PASSWORD, csrf_token, is_login_redirect

from hub.errors import ConfigError
from hub.settings import build_settings, override_settings

LOCKED_NAME = "Too many failed sign-ins for this user name. Try again in 15 minutes"
LOCKED_ADDRESS = "Too many failed sign-ins from this address. Try again in 15 minutes"


def _login(client: Any, username: str, password: str, ip: str = "127.0.0.1") -> Any:
    token = csrf_token(client, "/accounts/login/")
    return client.post("/accounts/login/", {"username": username, "password": password,
                                            "next": "/worklist/", "csrfmiddlewaretoken": token},
                       REMOTE_ADDR=ip)


def _fail(client: Any, username: str, times: int, ip: str = "127.0.0.1") -> None:
    for attempt in range(times):
        answer = _login(client, username, f"wrong-password-{attempt}", ip)
        assert answer.status_code == 200, f"attempt {attempt + 1} was not an ordinary failure"


def _events(action: str, **filters: Any) -> Any:
    from hub.web.ui.models import AuditEvent

    return AuditEvent.objects.filter(action=action, **filters)


@pytest.fixture
def limits() -> None:
    """3 failures per user name, 5 per address, within 15 minutes."""
    override_settings(web={"login_max_failures": 3, "login_max_failures_per_ip": 5})


def test_user_name_is_locked_after_max_failures(
    client_for: Callable[[str | None], Any], people: Any, limits: None
) -> None:
    client = client_for(None)
    _fail(client, "radiologist", 2)
    _fail(client, "RadioLogist", 1)  # counted whatever the case
    answer = _login(client, "radiologist", "yet-another-guess")
    page = answer.content.decode()
    assert answer.status_code == 429
    assert 890 <= int(answer["Retry-After"]) <= 900
    assert LOCKED_NAME in page and "ask an administrator to reset the password" in page
    assert "Wrong user name or password" not in page and "yet-another-guess" not in page
    throttled = _events("login_throttled").get()
    assert throttled.target == "radiologist" and throttled.ip == "127.0.0.1"
    assert throttled.user is None and "yet-another-guess" not in throttled.detail
    assert "3 failed sign-ins for this user name" in throttled.detail
    # the password was not checked at all: no fourth failure was recorded
    assert _events("login_failed").count() == 3


def test_correct_password_is_refused_while_locked(
    client_for: Callable[[str | None], Any], people: Any, limits: None
) -> None:
    client = client_for(None)
    _fail(client, "radiologist", 2)
    assert _login(client, "radiologist", PASSWORD).status_code == 302  # below the limit
    client = client_for(None)
    _fail(client, "radiologist", 1)  # a success reset nothing: this is the third failure
    answer = _login(client, "radiologist", PASSWORD)
    assert answer.status_code == 429 and LOCKED_NAME in answer.content.decode()
    assert _events("login", username="radiologist").count() == 1
    assert is_login_redirect(client.get("/worklist/"))


def test_unknown_user_name_is_locked_the_same_way(
    client_for: Callable[[str | None], Any], people: Any, limits: None
) -> None:
    client = client_for(None)
    _fail(client, "radiologist", 3, ip="192.0.2.1")  # two addresses: under the address limit
    _fail(client, "nobody-here", 3, ip="192.0.2.2")
    known = _login(client, "radiologist", "guess", ip="192.0.2.1")
    unknown = _login(client, "nobody-here", "guess", ip="192.0.2.1")
    assert known.status_code == unknown.status_code == 429
    assert LOCKED_NAME in unknown.content.decode()

    def page(answer: Any, name: str) -> str:  # the typed name and the (masked) CSRF token vary
        text = answer.content.decode().replace(name, "NAME")
        return re.sub(r'"[A-Za-z0-9]{64}"', '"TOKEN"', text)

    assert page(known, "radiologist") == page(unknown, "nobody-here")
    assert 890 <= int(known["Retry-After"]) <= 900 and 890 <= int(unknown["Retry-After"]) <= 900
    assert _events("login_throttled", target="nobody-here").count() == 1


def test_other_user_names_are_not_affected(
    client_for: Callable[[str | None], Any], people: Any, limits: None
) -> None:
    client = client_for(None)
    _fail(client, "radiologist", 3)
    assert _login(client, "radiologist", PASSWORD).status_code == 429
    other = client_for(None)
    assert _login(other, "ml-engineer", "a-wrong-one").status_code == 200
    answer = _login(other, "ml-engineer", PASSWORD)
    assert answer.status_code == 302 and answer["Location"] == "/worklist/"


def test_one_address_is_locked_across_user_names(
    client_for: Callable[[str | None], Any], people: Any, limits: None
) -> None:
    client = client_for(None)
    for name in ("alice", "bob", "carol", "dave", "erin"):  # 5 names, one failure each
        _fail(client, name, 1, ip="203.0.113.7")
    answer = _login(client, "admin", PASSWORD, ip="203.0.113.7")
    assert answer.status_code == 429 and LOCKED_ADDRESS in answer.content.decode()
    assert 890 <= int(answer["Retry-After"]) <= 900
    assert _events("login_throttled", target="admin", ip="203.0.113.7").exists()
    assert _events("login", username="admin").count() == 0
    elsewhere = _login(client_for(None), "admin", PASSWORD, ip="198.51.100.2")
    assert elsewhere.status_code == 302


def test_lock_lifts_once_failures_leave_the_window(
    client_for: Callable[[str | None], Any], people: Any, limits: None
) -> None:
    from django.utils import timezone

    client = client_for(None)
    _fail(client, "radiologist", 3)
    now = timezone.now()
    rows = list(_events("login_failed").order_by("created_at"))
    for row, minutes_ago in zip(rows, (14, 10, 1), strict=True):
        _events("login_failed", pk=row.pk).update(created_at=now - timedelta(minutes=minutes_ago))
    answer = _login(client, "radiologist", PASSWORD)
    assert answer.status_code == 429  # three failures within the last 15 minutes
    # the oldest leaves the window in a minute, and then only two remain
    assert 55 <= int(answer["Retry-After"]) <= 60
    assert "Try again in 1 minute," in answer.content.decode()

    _events("login_failed", pk=rows[0].pk).update(created_at=now - timedelta(minutes=16))
    answer = _login(client, "radiologist", PASSWORD)
    assert answer.status_code == 302 and answer["Location"] == "/worklist/"


def test_defaults_lock_at_ten_failures(
    client_for: Callable[[str | None], Any], people: Any
) -> None:
    web = build_settings().web
    assert (web.login_max_failures, web.login_max_failures_per_ip, web.login_window_minutes) == (
        10, 50, 15)
    client = client_for(None)
    _fail(client, "radiologist", 9)
    assert _login(client, "radiologist", "guess").status_code == 200  # the tenth failure
    assert _login(client, "radiologist", PASSWORD).status_code == 429


@pytest.mark.parametrize(
    ("key", "value"),
    [("login_max_failures", 0), ("login_max_failures_per_ip", 0), ("login_window_minutes", 0),
     ("login_window_minutes", -5)],
)
def test_bad_web_settings_are_refused_naming_the_key(key: str, value: float) -> None:
    with pytest.raises(ConfigError) as info:
        build_settings(web={key: value})
    assert f"invalid setting 'web.{key}'" in info.value.cause
    assert f"'{key}' in the [web] table" in info.value.fix and "PACS_HUB_WEB" in info.value.fix


def test_web_table_from_toml_and_env(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "hub.toml"
    config.write_text("[web]\nlogin_max_failures = 4\nlogin_window_minutes = 30\n")
    monkeypatch.setenv("PACS_HUB_CONFIG", str(config))
    web = build_settings().web
    assert (web.login_max_failures, web.login_window_minutes) == (4, 30)
    assert web.login_max_failures_per_ip == 50
    monkeypatch.setenv("PACS_HUB_WEB", '{"login_max_failures_per_ip": 20}')
    web = build_settings().web
    # the variable's keys win over the file's, key by key
    assert (web.login_max_failures, web.login_max_failures_per_ip) == (4, 20)
    monkeypatch.setenv("PACS_HUB_WEB", '{"login_max_failures": 2}')
    assert build_settings().web.login_max_failures == 2
