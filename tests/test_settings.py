"""Settings: defaults, env over TOML over defaults, tables, and clear configuration errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.errors import ConfigError
from hub.settings import build_settings, get_settings, override_settings, reset_settings


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("DATA_DIR", "HTTP_PORT", "DICOM_PORT", "AE_TITLE", "CONFIG", "DATABASE_URL"):
        monkeypatch.delenv(f"PACS_HUB_{name}", raising=False)
    reset_settings()
    yield monkeypatch
    reset_settings()


def test_defaults(clean_env):
    s = build_settings()
    assert (s.data_dir, s.http_port, s.dicom_port, s.ae_title) == (
        Path("./hub-data"), 8000, 11112, "PACSHUB"
    )
    assert s.series_quiet_seconds == 10
    assert s.broker_url is None
    assert s.resolved_database_url.startswith("sqlite:///")
    assert s.resolved_database_url.endswith("hub-data/hub.sqlite3")
    assert s.inference.providers == "auto"


def test_env_over_toml_over_defaults(clean_env, tmp_path):
    config = tmp_path / "hub.toml"
    config.write_text(
        'AE_TITLE = "FROMFILE"\nHTTP_PORT = 9000\n'
        "[dicom]\nrequire_known_callers = true\n"
        '[[peers]]\nname = "pacs"\nae_title = "ORTHANC"\nhost = "127.0.0.1"\nport = 4242\n'
        '[[routes]]\nname = "ct-chest"\nmatch = { Modality = "CT" }\nmodels = ["ct-lung-seg"]\n'
        'send_to = ["pacs"]\ncontinue = true\n'
        "[inference]\nintra_op_threads = 2\nbatch_size = 4\n"
    )
    clean_env.setenv("PACS_HUB_CONFIG", str(config))
    clean_env.setenv("PACS_HUB_HTTP_PORT", "8123")
    s = build_settings()
    assert s.ae_title == "FROMFILE"
    assert s.http_port == 8123
    assert s.dicom.require_known_callers is True
    assert s.peers[0].ae_title == "ORTHANC" and s.peers[0].port == 4242
    assert s.routes[0].match == {"Modality": "CT"} and s.routes[0].continue_ is True
    assert s.inference.intra_op_threads == 2 and s.inference.batch_size == 4


def test_invalid_value_names_setting_and_fix(clean_env):
    clean_env.setenv("PACS_HUB_DICOM_PORT", "70000")
    with pytest.raises(ConfigError) as info:
        build_settings()
    assert "dicom_port" in info.value.cause
    assert "PACS_HUB_DICOM_PORT" in info.value.fix


def test_bad_ae_title(clean_env):
    clean_env.setenv("PACS_HUB_AE_TITLE", "WAY_TOO_LONG_AE_TITLE")
    with pytest.raises(ConfigError, match="ae_title"):
        build_settings()


def test_missing_and_broken_config_file(clean_env, tmp_path):
    clean_env.setenv("PACS_HUB_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError, match="does not exist"):
        build_settings()
    broken = tmp_path / "broken.toml"
    broken.write_text("AE_TITLE = \n")
    clean_env.setenv("PACS_HUB_CONFIG", str(broken))
    with pytest.raises(ConfigError, match="not valid TOML"):
        build_settings()


def test_cached_getter_and_override(clean_env):
    first = get_settings()
    assert get_settings() is first
    changed = override_settings(ae_title="OTHER")
    assert get_settings() is changed and changed.ae_title == "OTHER"
    reset_settings()
    assert get_settings().ae_title == "PACSHUB"


def test_cli_reports_config_error(clean_env, capsys):
    from hub.cli.main import main

    clean_env.setenv("PACS_HUB_HTTP_PORT", "not-a-number")
    code = main(["up", "--check"])
    err = capsys.readouterr().err
    assert code == 3
    assert err.startswith("error: invalid setting 'http_port'") and "PACS_HUB_HTTP_PORT" in err


def test_placeholder_secret_refused_in_production(clean_env):
    clean_env.setenv("PACS_HUB_ENVIRONMENT", "production")
    with pytest.raises(ConfigError, match="secret_key"):
        build_settings()
    clean_env.setenv("PACS_HUB_SECRET_KEY", "x" * 40)
    assert build_settings().secret_key.get_secret_value() == "x" * 40
    assert "x" * 40 not in repr(build_settings())


@pytest.mark.parametrize(
    ("route", "message"),
    [
        ({"name": "r", "match": {"Modality": "CT("}}, "not a valid regex"),
        ({"name": "r", "match": {"Modalty": "CT"}}, "'Modalty' is not a DICOM keyword"),
        ({"name": "r", "send_to": ["nowhere"]}, "unknown peer(s) nowhere"),
        ({"name": "r", "priority": "asap"}, "routes.0.priority"),
    ],
)
def test_bad_routes_are_refused_naming_the_rule(clean_env, route, message):
    with pytest.raises(ConfigError) as info:
        build_settings(routes=[route])
    assert message in str(info.value)


def test_routes_and_dicom_limits_from_toml(clean_env, tmp_path, monkeypatch):
    config = tmp_path / "hub.toml"
    config.write_text(
        '[dicom]\nmax_associations = 4\nlate_instances = "ignore"\n'
        '[[peers]]\nname = "pacs"\nae_title = "ORTHANC"\nhost = "127.0.0.1"\nport = 4242\n'
        '[[routes]]\nname = "ct"\nmatch = { Modality = "CT", calling_ae = "CT0[1-9]" }\n'
        'send_to = ["pacs"]\npriority = "urgent"\ncontinue = true\n'
    )
    monkeypatch.setenv("PACS_HUB_CONFIG", str(config))
    settings = build_settings()
    assert settings.dicom.max_associations == 4 and settings.dicom.late_instances == "ignore"
    route = settings.routes[0]
    assert route.continue_ and route.priority == "urgent" and route.send_to == ["pacs"]
    with pytest.raises(ConfigError, match="peer names must be unique"):
        build_settings(peers=[settings.peers[0].model_dump()] * 2, routes=[])


def test_table_and_list_errors_say_where_to_fix(clean_env):
    with pytest.raises(ConfigError) as info:
        build_settings(api={"max_files": 0})
    assert info.value.cause.startswith("invalid setting 'api.max_files'")
    assert "'max_files' in the [api] table" in info.value.fix and "PACS_HUB_API" in info.value.fix
    with pytest.raises(ConfigError) as info:
        build_settings(routes=[{"name": "r", "priority": "asap"}])
    assert "'priority' in entry 0 (counted from 0) of [[routes]]" in info.value.fix
