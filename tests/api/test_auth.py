"""hub.web.auth and hub.web.problems on a small app: 401/403 problems, tokens, sessions."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from api_helpers import People, assert_problem, login_session
from fastapi import FastAPI, WebSocket
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from hub.errors import NotAcceptedError, UnknownModelError
from hub.web.auth import CurrentPrincipal, Runner, authenticate_websocket, require
from hub.web.problems import ProblemError, install_handlers


def small_app() -> FastAPI:
    app = FastAPI()
    install_handlers(app)

    @app.get("/me")
    def me(principal: CurrentPrincipal) -> dict[str, object]:
        return {"user": principal.username, "via": principal.via,
                "permissions": sorted(principal.permissions)}

    @app.post("/run")
    def run(principal: Runner) -> dict[str, str]:
        return {"ok": principal.username}

    @app.post("/jobs", dependencies=[require("manage_jobs")])
    def manage() -> dict[str, str]:
        return {"ok": "yes"}

    @app.get("/unknown-model")
    def unknown() -> None:
        raise UnknownModelError("no model named 'x'", "list models with GET /api/v1/models")

    @app.get("/not-accepted")
    def not_accepted() -> None:
        error = NotAcceptedError("Modality 'MR' is not accepted", "send CT")
        error.field = "Modality"  # type: ignore[attr-defined]
        raise error

    @app.get("/teapot")
    def teapot() -> None:
        raise ProblemError(418, "short and stout", spout=True)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals /etc/passwd")

    @app.get("/typed")
    def typed(count: int) -> dict[str, int]:
        return {"count": count}

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        principal = await authenticate_websocket(websocket)
        if principal is None:
            await websocket.close(code=1008)
            return
        await websocket.accept()
        await websocket.send_json({"user": principal.username})
        await websocket.close()

    return app


@pytest.fixture
def small(database: str) -> Iterator[TestClient]:
    with TestClient(small_app(), raise_server_exceptions=False) as test_client:
        yield test_client


def test_missing_credentials_answer_401_problem_with_challenge(small: TestClient) -> None:
    answer = small.get("/me")
    assert_problem(answer, 401)
    assert answer.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", [
    "Bearer phub_deadbeef_nope", "Bearer not-a-hub-token", "Basic YWRhOnB3", "Bearer ",
])
def test_bad_credentials_answer_401(small: TestClient, people: People, header: str) -> None:
    assert_problem(small.get("/me", headers={"Authorization": header}), 401)


def test_token_principal_has_role_narrowed_by_scopes(small: TestClient, people: People) -> None:
    body = small.get("/me", headers=people.reader).json()
    assert body["via"] == "token" and body["user"] == "eve"
    assert body["permissions"] == ["view_studies"]
    body = small.get("/me", headers=people.radiologist).json()
    assert "manage_jobs" not in body["permissions"] and "run_inference" in body["permissions"]


def test_missing_permission_answers_403_naming_it(small: TestClient, people: People) -> None:
    body = assert_problem(small.post("/run", headers=people.reader), 403)
    assert body["permission"] == "run_inference"
    assert small.post("/run", headers=people.inferer).json() == {"ok": "eve"}
    body = assert_problem(small.post("/jobs", headers=people.radiologist), 403)
    assert "manage_jobs" in body["detail"]
    assert small.post("/jobs", headers=people.engineer).status_code == 200


def test_revoked_token_is_refused(small: TestClient, people: People) -> None:
    from hub.accounts.models import ApiToken
    from hub.accounts.services import revoke_token

    token = ApiToken.objects.get(name="r")
    revoke_token(token.pk)
    assert_problem(small.get("/me", headers=people.reader), 401)


def test_session_cookie_authenticates_with_the_role(small: TestClient, people: People) -> None:
    key = login_session(people.users["radiologist"])
    small.cookies.set("pacs_hub_session", key)
    body = small.get("/me").json()
    assert body == {"user": "rad", "via": "session",
                    "permissions": ["review_results", "run_inference", "view_studies"]}
    assert_problem(small.post("/jobs"), 403)


def test_session_ends_when_the_password_changes(small: TestClient, people: People) -> None:
    user = people.users["radiologist"]
    key = login_session(user)
    user.set_password("another-password-42")  # type: ignore[attr-defined]
    user.save()  # type: ignore[attr-defined]
    small.cookies.set("pacs_hub_session", key)
    assert_problem(small.get("/me"), 401)
    small.cookies.set("pacs_hub_session", "no-such-session")
    assert_problem(small.get("/me"), 401)


def test_bad_token_never_falls_back_to_session(small: TestClient, people: People) -> None:
    small.cookies.set("pacs_hub_session", login_session(people.users["admin"]))
    assert_problem(small.get("/me", headers={"Authorization": "Bearer phub_x_y"}), 401)


def test_hub_errors_map_to_statuses_with_cause_fix_and_field(small: TestClient) -> None:
    body = assert_problem(small.get("/unknown-model"), 404)
    assert body["detail"] == "no model named 'x'" and body["fix"].startswith("list models")
    body = assert_problem(small.get("/not-accepted"), 422)
    assert body["field"] == "Modality"
    body = assert_problem(small.get("/teapot"), 418)
    assert body["spout"] is True and body["detail"] == "short and stout"


def test_unexpected_errors_never_show_internals(small: TestClient) -> None:
    answer = small.get("/boom")
    assert_problem(answer, 500)
    assert "passwd" not in answer.text and "Traceback" not in answer.text


def test_validation_and_http_errors_are_problems(small: TestClient) -> None:
    body = assert_problem(small.get("/typed", params={"count": "many"}), 422)
    assert body["field"] == "query.count" and body["errors"]
    assert_problem(small.get("/nowhere"), 404)
    assert_problem(small.delete("/me"), 405)


def test_websocket_auth_by_query_header_or_cookie(small: TestClient, people: People) -> None:
    plain = people.reader["Authorization"].split()[1]
    with small.websocket_connect(f"/ws?token={plain}") as ws:
        assert ws.receive_json() == {"user": "eve"}
    with small.websocket_connect("/ws", headers=people.admin) as ws:
        assert ws.receive_json() == {"user": "ada"}
    small.cookies.set("pacs_hub_session", login_session(people.users["radiologist"]))
    with small.websocket_connect("/ws") as ws:
        assert ws.receive_json() == {"user": "rad"}
    small.cookies.clear()
    for url in ("/ws", "/ws?token=phub_bad_token"):
        with pytest.raises(WebSocketDisconnect) as closed:
            with small.websocket_connect(url) as ws:
                ws.receive_json()
        assert closed.value.code == 1008


def test_a_revoked_token_stops_working_within_the_cache_ttl(small: TestClient,
                                                            people: People) -> None:
    import time

    from hub.accounts.models import ApiToken
    from hub.accounts.services import revoke_token
    from hub.web.auth import PRINCIPAL_TTL

    assert small.get("/me", headers=people.reader).status_code == 200
    revoke_token(ApiToken.objects.get(name="r").pk)
    time.sleep(PRINCIPAL_TTL + 0.1)
    assert_problem(small.get("/me", headers=people.reader), 401)


def test_cross_site_requests_with_the_session_cookie_are_refused(
    small: TestClient, people: People
) -> None:
    """CSRF defence: an unsafe request made with the session cookie must come from the hub's
    own pages (Origin or Referer on the same host); tokens are not affected."""
    small.cookies.set("pacs_hub_session", login_session(people.users["radiologist"]))
    evil = {"Origin": "https://evil.example"}
    answer = small.post("/run", headers=evil)
    assert_problem(answer, 403)
    assert "cross-site" in answer.json()["detail"]
    assert_problem(small.post("/run", headers={"Referer": "https://evil.example/page"}), 403)
    assert_problem(small.post("/run", headers={"Origin": "null"}), 403)
    assert small.post("/run", headers={"Origin": "http://testserver"}).status_code == 200
    assert small.post("/run").status_code == 200  # no browser page involved
    assert small.get("/me", headers=evil).status_code == 200  # reads are not refused
    with pytest.raises(WebSocketDisconnect) as closed:
        with small.websocket_connect("/ws", headers=evil) as ws:
            ws.receive_json()
    assert closed.value.code == 1008
    small.cookies.clear()
    assert small.post("/run", headers={**evil, **people.admin}).status_code == 200  # a token
