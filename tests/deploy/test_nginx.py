"""The repo's nginx config, run by Debian's nginx on loopback ports in front of real upstreams.

``deploy/nginx/pacs-hub.conf.template`` is rendered the way envsubst renders it (only its four
variables), wrapped in a minimal main config with every path inside a temporary prefix, checked
with ``nginx -t`` and started in the foreground. Skipped without nginx outside CI; fails in CI.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from hub.testing.net import free_port

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "deploy" / "nginx" / "pacs-hub.conf.template"
VARIABLES = (
    "NGINX_LISTEN",
    "PACS_HUB_WEB_UPSTREAM",
    "PACS_HUB_API_UPSTREAM",
    "PACS_HUB_STATIC_ROOT",
)
BIN = Path(sys.executable).parent
Spawn = Callable[..., subprocess.Popen[bytes]]




NGINX = shutil.which("nginx") or next(
    (p for p in ("/usr/sbin/nginx", "/sbin/nginx") if Path(p).exists()), None
)

if NGINX is None:
    if os.environ.get("CI") == "true":
        pytest.fail("nginx is not installed (CI installs it: scripts/system-deps.sh)")
    pytest.skip(
        "nginx not installed; run scripts/system-deps.sh (apt-get install nginx-light)",
        allow_module_level=True,
    )


def render(values: dict[str, str]) -> str:
    """The template with its variables replaced (like ``envsubst '${NGINX_LISTEN} ...'``)."""
    text = TEMPLATE.read_text(encoding="utf-8")
    for name in VARIABLES:
        text = text.replace("${" + name + "}", values[name])
    assert "${" not in text.split("upstream pacs_hub_web", 1)[1], "unrendered variable"
    return text


def nginx_prefix(tmp_path: Path, web: int, api: int) -> tuple[Path, int]:
    """A prefix folder with nginx.conf including the rendered site; returns (conf, port)."""
    prefix = tmp_path / "nginx"
    (prefix / "logs").mkdir(parents=True)
    static = prefix / "static"
    static.mkdir()
    (static / "hub.css").write_text("body { color: #123; }\n")
    port = free_port()
    site = render(
        {
            "NGINX_LISTEN": f"127.0.0.1:{port}",
            "PACS_HUB_WEB_UPSTREAM": f"127.0.0.1:{web}",
            "PACS_HUB_API_UPSTREAM": f"127.0.0.1:{api}",
            "PACS_HUB_STATIC_ROOT": f"{static}/",
        }
    )
    (prefix / "pacs-hub.conf").write_text(site)
    temp = {name: prefix / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers must read the tmp prefix
    conf = prefix / "nginx.conf"
    conf.write_text(
        f"""{user}worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log warn;
events {{ worker_connections 64; }}
http {{
    include /etc/nginx/mime.types;
    access_log {prefix}/logs/access.log;
    client_body_temp_path {temp["body"]};
    proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]};
    uwsgi_temp_path {temp["uwsgi"]};
    scgi_temp_path {temp["scgi"]};
    include {prefix}/pacs-hub.conf;
}}
"""
    )
    return conf, port


def start_nginx(spawn: Spawn, conf: Path, port: int) -> str:
    """``nginx -t`` then nginx in the foreground; returns its base URL."""
    prefix = conf.parent
    test = subprocess.run(
        [NGINX, "-t", "-p", str(prefix), "-c", str(conf)], capture_output=True, text=True
    )
    assert test.returncode == 0, test.stderr
    base = f"http://127.0.0.1:{port}"
    spawn(
        [NGINX, "-p", str(prefix), "-c", str(conf), "-g", "daemon off;"], base + "/static/hub.css"
    )
    return base


def echo_server(spawn: Spawn, role: str) -> int:
    """The test-only echo upstream (tests/deploy/echo_app.py) on a free port."""
    port = free_port()
    env = os.environ | {"ECHO_ROLE": role}
    argv = [str(BIN / "uvicorn"), "--app-dir", str(Path(__file__).parent), "echo_app:app"]
    spawn([*argv, "--host", "127.0.0.1", "--port", str(port)], f"http://127.0.0.1:{port}/", env)
    return port


PASSWORD = "a-long-enough-password-42"


def test_requests_through_nginx_reach_the_hub(spawn: Spawn, tmp_path: Path) -> None:
    hub = free_port()
    env = {key: value for key, value in os.environ.items()
           if key not in ("PACS_HUB_DATABASE_URL", "PACS_HUB_CONFIG")}
    env["PACS_HUB_DATA_DIR"] = str(tmp_path / "data")
    for command in (["manage", "migrate"],
                    ["user", "create", "rad", "--role", "radiologist", "--password", PASSWORD]):
        subprocess.run([str(BIN / "pacs-hub"), *command], env=env, check=True,
                       capture_output=True)
    argv = [str(BIN / "pacs-hub"), "web", "--host", "127.0.0.1", "--port", str(hub)]
    spawn(argv, f"http://127.0.0.1:{hub}/api/v1/health", env)
    conf, port = nginx_prefix(tmp_path, web=hub, api=hub)
    base = start_nginx(spawn, conf, port)

    health = httpx.get(base + "/api/v1/health", timeout=10)
    assert health.status_code == 200 and health.json()["version"] == "0.1.0"
    metrics = httpx.get(base + "/metrics", timeout=10)
    assert metrics.status_code == 200 and "pacs_hub_database_up" in metrics.text
    page = httpx.get(base + "/", timeout=10, follow_redirects=True)
    assert page.status_code == 200 and str(page.url).startswith(base + "/accounts/login/")
    # a real login through the proxy on a non-default port: Django's CSRF check compares the
    # browser's Origin with the Host nginx passes on (which must keep the port)
    with httpx.Client(base_url=base, timeout=10) as browser:
        form = browser.get("/accounts/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
        done = browser.post(
            "/accounts/login/",
            data={"username": "rad", "password": PASSWORD, "csrfmiddlewaretoken": token},
            headers={"Origin": base, "Referer": base + "/accounts/login/"},
        )
        assert done.status_code == 302, done.text[:500]
        assert browser.get("/worklist/").status_code == 200
    static = httpx.get(base + "/static/hub.css", timeout=10)
    assert static.status_code == 200 and static.headers["content-type"] == "text/css"
    assert "server" not in health.headers or "nginx/" not in health.headers["server"]


def test_locations_route_to_their_upstream_with_forwarded_headers(
    spawn: Spawn, tmp_path: Path
) -> None:
    web, api = echo_server(spawn, "web"), echo_server(spawn, "api")
    conf, port = nginx_prefix(tmp_path, web=web, api=api)
    base = start_nginx(spawn, conf, port)
    expected = {
        "/": "web",
        "/admin/login/": "web",
        "/studies": "web",
        "/api/v1/models": "api",
        "/dicomweb/studies": "api",
        "/metrics": "api",
    }
    for path, upstream in expected.items():
        seen = httpx.get(base + path, headers={"Host": "hub.example"}, timeout=10).json()
        assert (seen["upstream"], seen["path"]) == (upstream, path)
        assert seen["headers"]["host"] == "hub.example"
        assert seen["headers"]["x-forwarded-for"] == "127.0.0.1"
        assert seen["headers"]["x-forwarded-proto"] == "http"
    big = httpx.post(base + "/api/v1/models/x/infer", content=b"\0" * (12 * 2**20), timeout=30)
    assert big.status_code == 200, "API uploads above the 10 MB page limit pass"
    assert httpx.post(base + "/", content=b"\0" * (12 * 2**20), timeout=30).status_code == 413


def test_websocket_upgrade_is_forwarded(spawn: Spawn, tmp_path: Path) -> None:
    from websockets.sync.client import connect

    web, api = echo_server(spawn, "web"), echo_server(spawn, "api")
    conf, port = nginx_prefix(tmp_path, web=web, api=api)
    start_nginx(spawn, conf, port)
    with connect(f"ws://127.0.0.1:{port}/ws/jobs", open_timeout=10) as socket:
        seen = json.loads(socket.recv(timeout=10))
    assert (seen["upstream"], seen["path"]) == ("api", "/ws/jobs")
    assert seen["headers"]["upgrade"].lower() == "websocket"
    assert seen["headers"]["connection"].lower() == "upgrade"
    assert "sec-websocket-key" in seen["headers"]

    dump = subprocess.run(
        [NGINX, "-T", "-p", str(conf.parent), "-c", str(conf)], capture_output=True, text=True
    ).stdout
    ws_block = dump.split("location /ws/", 1)[1].split("}", 1)[0]
    assert "proxy_set_header Upgrade $http_upgrade;" in ws_block
    assert "proxy_set_header Connection $pacs_hub_connection;" in ws_block
