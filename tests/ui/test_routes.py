"""Routes and peers: the active rules, each series' routing decisions, C-ECHO from the page."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from ui_helpers import Study, csrf_token

from hub.settings import reset_settings
from hub.testing.net import free_port


@pytest.fixture
def echo_peer() -> Iterator[int]:
    """A pynetdicom Verification SCP on a free loopback port."""
    from pynetdicom import AE
    from pynetdicom.sop_class import Verification

    ae = AE(ae_title="ECHOSCP")
    ae.add_supported_context(Verification)
    port = free_port()
    server = ae.start_server(("127.0.0.1", port), block=False)
    yield port
    server.shutdown()


@pytest.fixture
def configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, echo_peer: int) -> None:
    """A PACS_HUB_CONFIG with two peers (one answering, one not) and two routes."""
    closed = free_port()
    config = tmp_path / "hub.toml"
    config.write_text(f"""
[[peers]]
name = "pacs"
ae_title = "ECHOSCP"
host = "127.0.0.1"
port = {echo_peer}

[[peers]]
name = "gone"
ae_title = "GONE"
host = "127.0.0.1"
port = {closed}

[[routes]]
name = "ct-chest"
match = {{ Modality = "CT", BodyPartExamined = "CHEST|LUNG" }}
models = ["ct-lung-seg"]
send_to = ["pacs"]

[[routes]]
name = "everything-else"
match = {{}}
""")
    monkeypatch.setenv("PACS_HUB_CONFIG", str(config))
    reset_settings()


def test_routes_page_shows_rules_peers_and_decisions(
    client_for: Callable[[str | None], Any], study: Study, configured: None
) -> None:
    from hub.routing.models import RoutingDecision
    from hub.storage.models import Series

    series = Series.objects.get(series_instance_uid=study.series_uid)
    RoutingDecision.objects.create(series=series, run=1, outcome="completed",
                                   reason="completed run 1: quiet period passed")
    RoutingDecision.objects.create(
        series=series, run=1, route="ct-chest", model_name="ct-lung-seg", outcome="skipped",
        reason="model ct-lung-seg skipped: model 'ct-lung-seg' is disabled by admin")
    page = client_for("admin").get("/routes/").content.decode()
    for text in ("ct-chest", "Modality = CT", "BodyPartExamined = CHEST|LUNG", "everything-else",
                 "every series", "every enabled model that accepts the series", "ECHOSCP",
                 "C-ECHO pacs", "C-ECHO gone", "quiet period passed",
                 "is disabled by admin", "outcome-skipped", "Chest phantom"):
        assert text in page, text


def test_echo_a_peer_from_the_page(
    client_for: Callable[[str | None], Any], people: Any, configured: None
) -> None:
    from hub.web.ui.models import AuditEvent

    client = client_for("admin")
    token = csrf_token(client, "/routes/")
    ok = client.post("/routes/echo/", {"peer": "pacs", "csrfmiddlewaretoken": token},
                     follow=True).content.decode()
    assert "C-ECHO pacs: pacs (ECHOSCP@127.0.0.1:" in ok and "echo OK in" in ok
    failed = client.post("/routes/echo/", {"peer": "gone", "csrfmiddlewaretoken": token},
                         follow=True).content.decode()
    assert "C-ECHO gone:" in failed and "echo OK" not in failed.split("C-ECHO gone:")[1]
    assert "connection refused" in failed and "pynetdicom" not in failed
    events = {e.target: e.detail for e in AuditEvent.objects.filter(action="peer_echoed")}
    assert events["pacs"].startswith("OK: ") and events["gone"].startswith("failed: ")
    unknown = client.post("/routes/echo/", {"peer": "elsewhere", "csrfmiddlewaretoken": token},
                          follow=True).content.decode()
    assert "Choose one of the configured peers" in unknown
