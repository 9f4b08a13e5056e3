"""The Django app inside the hub's one ASGI app: ``/`` redirect, static files, a real login
with session and CSRF cookies, the API beside it, WebSockets."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from ui_helpers import PASSWORD, Study

from hub.web.app import create_app


@pytest.fixture
def app_client(people: Any) -> Iterator[TestClient]:
    with TestClient(create_app(), follow_redirects=False) as client:
        yield client


def test_root_redirects_to_login_and_api_still_answers(app_client: TestClient) -> None:
    answer = app_client.get("/")
    assert answer.status_code == 302
    assert answer.headers["location"] == "/accounts/login/?next=/worklist/"
    assert app_client.get("/api/v1/health").status_code == 200
    assert app_client.get("/worklist/").headers["location"].startswith("/accounts/login/")
    assert app_client.get("/no-such-page/").status_code == 404


def test_static_files_come_from_the_app_folders(app_client: TestClient) -> None:
    css = app_client.get("/static/ui/hub.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "@media print" in css.text
    assert app_client.get("/static/ui/worklist.js").status_code == 200
    assert app_client.get("/static/admin/css/base.css").status_code == 200
    assert app_client.get("/static/ui/nothing.css").status_code == 404
    for sneaky in ("/static/../settings.py", "/static/ui/../../urls.py", "/static/%2e%2e/x"):
        assert app_client.get(sneaky).status_code == 404, sneaky
    assert app_client.post("/static/ui/hub.css").status_code == 405
    assert app_client.get("/favicon.ico").headers["location"] == "/static/ui/favicon.svg"
    assert app_client.get("/static/ui/favicon.svg").status_code == 200


def test_login_session_and_csrf_through_the_asgi_app(app_client: TestClient, study: Study
                                                     ) -> None:
    form = app_client.get("/accounts/login/")
    assert form.status_code == 200
    assert form.headers["x-frame-options"] == "DENY"
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
    refused = app_client.post("/accounts/login/", data={"username": "radiologist",
                                                        "password": PASSWORD})
    assert refused.status_code == 403
    answer = app_client.post("/accounts/login/", data={
        "username": "radiologist", "password": PASSWORD, "next": "/worklist/",
        "csrfmiddlewaretoken": token})
    assert answer.status_code == 302 and answer.headers["location"] == "/worklist/"
    assert "pacs_hub_session" in app_client.cookies
    page = app_client.get("/worklist/")
    assert page.status_code == 200 and "Rossi, Phantom" in page.text
    report = app_client.get(f"/reports/{study.study_uid}/")
    assert report.status_code == 200 and "AI-generated, not a diagnosis" in report.text
    with app_client.websocket_connect("/ws/jobs") as socket:  # the session authenticates it
        socket.close()


def test_websocket_outside_the_api_is_closed(app_client: TestClient) -> None:
    with pytest.raises(WebSocketDisconnect) as closed:
        with app_client.websocket_connect("/worklist/") as socket:
            socket.receive_text()
    assert closed.value.code == 1008
