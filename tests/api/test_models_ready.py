"""Models listing, readiness sub-checks, the OpenAPI page."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from api_helpers import People, assert_problem
from fastapi.testclient import TestClient

from hub.settings import override_settings


def test_models_list_manifests_with_codes_and_status(client: TestClient, people: People
                                                     ) -> None:
    assert_problem(client.get("/api/v1/models"), 401)
    body = client.get("/api/v1/models", headers=people.reader).json()
    models = {m["name"]: m for m in body["models"]}
    lung = models["ct-lung-seg"]
    assert lung["status"] == "enabled" and lung["finding_ids"] == []
    assert lung["modalities"] == ["CT"] and lung["outputs"] == ["SEG", "SR"]
    assert lung["inputs"][0] == {"name": "image", "shape": [None, 1, None, None],
                                 "dtype": "float32"}
    assert lung["segments"][0]["type"] == {"value": "39607008", "scheme": "SCT",
                                           "meaning": "Lung"}
    assert lung["measurements"][0]["unit"]["scheme"] == "UCUM"
    assert "/" not in lung["model_file"]  # no server paths


def test_one_model_and_unknown_model(client: TestClient, people: People) -> None:
    answer = client.get("/api/v1/models/ct-lung-seg", headers=people.reader)
    assert answer.status_code == 200 and answer.json()["version"] == "1.0.0"
    body = assert_problem(client.get("/api/v1/models/nope", headers=people.reader), 404)
    assert "nope" in body["detail"]


BROKEN_PLUGIN = """
from pathlib import Path
from hub.sdk import CODES, ModelManifest, ModelPlugin, SegmentSpec, TensorSpec, hookimpl

class Broken(ModelPlugin):
    manifest = ModelManifest(
        name="broken-model", version="1.0", modalities=("CT",),
        model_file=Path("/nonexistent/broken.onnx"), sha256="0" * 64,
        inputs=(TensorSpec("image", (None, 1, None, None), "float32"),), outputs=("SEG",),
        segments=(SegmentSpec(1, "Bright", CODES["anatomical_structure"], CODES["lung"]),),
    )

    def preprocess(self, series):
        return {}

    def postprocess(self, outputs, series):
        return None

@hookimpl
def hub_models():
    return [Broken()]
"""


def test_disabled_model_is_listed_with_its_finding_ids(
    client: TestClient, people: People, tmp_path: Path
) -> None:
    from hub.plugins.manager import reset_registry

    plugin = tmp_path / "api_broken_plugin.py"
    plugin.write_text(BROKEN_PLUGIN)
    override_settings(plugin_paths=[str(plugin)])
    reset_registry()
    try:
        body = client.get("/api/v1/models/broken-model", headers=people.reader).json()
        assert body["status"] == "disabled" and body["enabled"] is False
        assert body["finding_ids"] == ["plugins.E006"]
        assert body["findings"][0]["hint"]
        listing = client.get("/api/v1/models", headers=people.reader).json()
        assert listing["ok"] is False
        assert {m["name"]: m["status"] for m in listing["models"]}["ct-lung-seg"] == "enabled"
        answer = client.post("/api/v1/models/broken-model/infer", headers=people.inferer,
                             files=[("files", ("a.dcm", b"x", "application/dicom"))])
        assert "disabled" in assert_problem(answer, 409)["detail"]
    finally:
        reset_registry()


def test_ready_reports_each_check_and_is_public(client: TestClient) -> None:
    answer = client.get("/api/v1/health/ready")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"database", "broker", "storage", "scp", "models"}
    for name in ("database", "broker", "storage"):
        assert body["checks"][name] == {**body["checks"][name], "ok": True, "required": True}
    assert body["checks"]["models"]["ok"] is True
    assert body["checks"]["scp"]["required"] is False


def test_ready_is_503_when_storage_is_below_the_watermark(client: TestClient) -> None:
    override_settings(storage={"min_free_mb": 10**9})
    answer = client.get("/api/v1/health/ready")
    assert answer.status_code == 503
    body = answer.json()
    assert body["status"] == "not ready" and body["checks"]["storage"]["ok"] is False
    assert "watermark" in body["checks"]["storage"]["detail"]


def test_ready_scp_check_finds_a_listener_and_can_be_required(client: TestClient) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        override_settings(dicom_port=port, api={"ready_requires": ["database", "scp"]})
        body = client.get("/api/v1/health/ready").json()
        assert body["checks"]["scp"] == {"ok": True, "required": True,
                                         "detail": f"listening on 127.0.0.1:{port}"}
    answer = client.get("/api/v1/health/ready")
    assert answer.status_code == 503
    assert "not running" in answer.json()["checks"]["scp"]["detail"]


def test_ready_checks_redis_broker_without_naming_it(client: TestClient) -> None:
    override_settings(broker_url="redis://:s3cr3t-pw@127.0.0.1:1/0")
    answer = client.get("/api/v1/health/ready")
    assert answer.status_code == 503
    assert answer.json()["checks"]["broker"]["ok"] is False
    assert "s3cr3t" not in answer.text and "127.0.0.1:1/" not in answer.text


@pytest.mark.parametrize("path", ["/api/docs", "/openapi.json"])
def test_openapi_page_documents_every_endpoint(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 200
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    for wanted in ("/api/v1/models/{name}/infer", "/api/v1/ai/analyze", "/api/v1/jobs/{job_id}",
                   "/api/v1/jobs/{job_id}/seg", "/api/v1/dicom/parse", "/api/v1/dicom/upload",
                   "/api/v1/health/ready"):
        assert wanted in paths, wanted
    infer = paths["/api/v1/models/{name}/infer"]["post"]
    assert "multipart/form-data" in infer["requestBody"]["content"]
    assert {"202", "413", "415", "422"} <= set(infer["responses"])
    assert "application/problem+json" in infer["responses"]["415"]["content"]
    assert any("HTTPBearer" in s for s in schema["components"]["securitySchemes"])


@pytest.mark.usefixtures("empty_hub")
def test_operator_switch_needs_manage_plugins_and_refuses_infer(
    client: TestClient, people: People, tmp_path: Path
) -> None:
    from api_helpers import file_parts, nothing_stored, write_ct

    url = "/api/v1/models/ct-lung-seg"
    for headers in (people.radiologist, people.reader, people.inferer):
        body = assert_problem(client.post(url + "/disable", headers=headers), 403)
        assert body["permission"] == "manage_plugins"
    assert_problem(client.post("/api/v1/models/nope/disable", headers=people.engineer), 404)
    off = client.post(url + "/disable", headers=people.engineer,
                      json={"reason": "checking a new version"})
    assert off.status_code == 200, off.text
    assert off.json()["status"] == "disabled"
    assert off.json()["toggle"]["reason"] == "checking a new version"
    assert off.json()["toggle"]["changed_by"] == "eve"
    listed = client.get("/api/v1/models", headers=people.reader).json()
    assert {m["name"]: m["status"] for m in listed["models"]}["ct-lung-seg"] == "disabled"
    ct = write_ct(tmp_path / "ct", slices=10, size=32, seed="switch")
    body = assert_problem(client.post(url + "/infer", headers=people.inferer,
                                      files=file_parts(ct)), 409)
    assert "disabled by eve" in body["detail"]
    nothing_stored()
    on = client.post(url + "/enable", headers=people.admin)
    assert on.status_code == 200 and on.json()["status"] == "enabled"
    assert client.post(url + "/infer", headers=people.inferer,
                       files=file_parts(ct)).status_code == 202
