"""The ASGI app through FastAPI's TestClient: health, start page, metrics endpoint."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from hub.settings import override_settings
from hub.web.app import create_app


@pytest.fixture
def client(database: str) -> Iterator[TestClient]:
    with TestClient(create_app()) as test_client:
        yield test_client


def test_health_reports_version_database_and_broker_kind(client: TestClient) -> None:
    answer = client.get("/api/v1/health")
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "ok"
    assert body["version"] == "0.1.0"
    assert body["database"]["reachable"] is True
    assert body["database"]["vendor"] in {"sqlite", "postgresql"}
    assert body["broker"] == {"kind": "embedded", "configured": False}


def test_health_names_broker_scheme_never_its_secrets(client: TestClient) -> None:
    override_settings(broker_url="redis://:s3cret-pw@redis.internal:6379/0")
    text = client.get("/api/v1/health").text
    assert '"kind":"redis"' in text
    assert "s3cret" not in text and "redis.internal" not in text


def test_root_sends_a_visitor_to_the_login_page(client: TestClient) -> None:
    page = client.get("/", follow_redirects=False)
    assert page.status_code == 302
    assert page.headers["location"].startswith("/accounts/login/")
    login = client.get(page.headers["location"])
    assert login.status_code == 200 and "<form" in login.text


def test_metrics_endpoint_serves_prometheus_text(client: TestClient) -> None:
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=")
    assert "pacs_hub_database_up 1.0" in answer.text
    assert "process_cpu_seconds_total" in answer.text


def test_unknown_api_path_is_404(client: TestClient) -> None:
    assert client.get("/api/v1/nothing-here").status_code == 404


def test_openapi_page_works_offline(client: TestClient) -> None:
    """The OpenAPI page loads Swagger UI from the hub itself, never from a CDN."""
    import re as regex

    page = client.get("/api/docs")
    assert page.status_code == 200
    assets = regex.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets and all(url.startswith("/") for url in assets), assets
    for url in assets:
        if url.endswith((".js", ".css")):
            answer = client.get(url)
            assert answer.status_code == 200 and len(answer.content) > 10_000, url
    assert "cdn" not in page.text.lower()
