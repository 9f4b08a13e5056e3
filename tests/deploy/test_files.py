"""Static checks of deploy/: compose services, systemd units, env example without secrets."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_compose_has_the_parts_and_shares_the_data_directory() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "web", "worker", "scp", "nginx"} <= set(services)
    for name in ("web", "worker", "scp"):
        assert services[name]["env_file"] == ["pacs-hub.env"]
        assert "hub-data:/var/lib/pacs-hub/data" in services[name]["volumes"]
    assert services["web"]["command"][0] == "web" and services["worker"]["command"] == ["worker"]
    template = "./nginx/pacs-hub.conf.template:/etc/nginx/templates/pacs-hub.conf.template:ro"
    assert template in services["nginx"]["volumes"]


@pytest.mark.parametrize("part", ["web", "worker", "scp"])
def test_systemd_unit(part: str) -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(DEPLOY / "systemd" / f"pacs-hub-{part}.service")
    service = unit["Service"]
    assert service["ExecStart"].split()[:2] == ["/opt/pacs-hub/venv/bin/pacs-hub", part]
    assert service["EnvironmentFile"] == "/etc/pacs-hub/env"
    assert service["Restart"] == "on-failure"
    assert service["User"] == "pacs-hub"
    for option in ("NoNewPrivileges", "ProtectHome", "PrivateTmp"):
        assert service[option] == "yes"
    assert service["ProtectSystem"] == "strict"
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_env_example_holds_no_secret() -> None:
    lines = (DEPLOY / "pacs-hub.env.example").read_text().splitlines()
    values = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
    assert values["PACS_HUB_SECRET_KEY"] == ""
    assert "CHANGE-ME" in values["PACS_HUB_DATABASE_URL"]
