"""The OHIF drop-in (deploy/ohif/): the prebuilt OHIF viewer from npm (@ohif/app, fetched by
``deploy/ohif/fetch.sh`` with ``npm pack``; never committed) served by ``deploy/ohif/serve.py``
at the root of its own port, reading the hub's DICOMweb through that server with the hub
session of the logged-in user. It lists the study and shows the hub's SEG over the CT.

Slow (fetches ~50 MB from the npm registry on a clean clone) but runs in CI: a fetch that
fails fails the test there, with the time it took.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_helpers import (
    ROOT,
    VIEWPORT,
    ConsoleLog,
    LiveHub,
    colour_count,
    log_in,
    pixels,
    require,
    screenshot,
)

from hub.testing.net import free_port

pytestmark = pytest.mark.slow

OHIF = ROOT / "deploy" / "ohif"
SITE = OHIF / "site"
FETCH_TIMEOUT = 600
#: Cornerstone's default segment colours, which OHIF uses when a SEG recommends none.
OHIF_COLOURS = {"Right lung": [221, 84, 84], "Left lung": [77, 228, 121]}
MIN_OVERLAY_PIXELS = 300


@pytest.fixture(scope="module")
def ohif_site() -> Path:
    """The OHIF site in deploy/ohif/site (fetched once; kept for the next run)."""
    started = time.monotonic()
    try:
        done = subprocess.run(
            ["bash", str(OHIF / "fetch.sh"), str(SITE)], capture_output=True, text=True,
            timeout=FETCH_TIMEOUT, check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        require(False, f"deploy/ohif/fetch.sh did not finish in {FETCH_TIMEOUT} s: {exc}")
    took = time.monotonic() - started
    sys.stderr.write(f"\nOHIF fetch: {took:.1f} s\n")
    require(done.returncode == 0,
            f"deploy/ohif/fetch.sh failed after {took:.1f} s:\n{done.stdout}\n{done.stderr}")
    return SITE


@pytest.fixture(scope="module")
def ohif_url(ohif_site: Path, live_hub: LiveHub) -> Iterator[str]:
    """deploy/ohif/serve.py on a free port, passing /dicomweb/ to the live hub."""
    port = free_port()
    log = (live_hub.logs / "ohif-serve.log").open("w")
    server = subprocess.Popen(
        [sys.executable, str(OHIF / "serve.py"), "--site", str(ohif_site), "--hub",
         live_hub.url, "--host", "127.0.0.1", "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"{url}/", timeout=2) as answer:
                    assert b"<html" in answer.read(2000).lower()
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


@pytest.fixture(scope="module")
def hub_user(browser: Any, live_hub: LiveHub) -> Iterator[Any]:
    """A context logged in to the hub: its session cookie also goes to OHIF's port."""
    context = browser.new_context(viewport=VIEWPORT)
    tab = context.new_page()
    log_in(tab, live_hub.url, "rad", live_hub.password)
    tab.close()
    yield context
    context.close()


def test_serve_py_falls_back_to_index_html_and_guards_dicomweb(ohif_url: str):
    with urllib.request.urlopen(f"{ohif_url}/viewer/some/route") as answer:
        assert answer.headers["Content-Type"].startswith("text/html")
    with urllib.request.urlopen(f"{ohif_url}/app-config.js") as answer:
        assert b"/dicomweb" in answer.read()
    for path, status in (("/missing.js", 404), ("/dicomweb/studies", 401)):
        try:
            urllib.request.urlopen(f"{ohif_url}{path}")
        except urllib.error.HTTPError as exc:
            assert exc.code == status, path
        else:
            raise AssertionError(f"{path} answered 200")


def test_ohif_lists_the_hub_study(hub_user: Any, ohif_url: str, live_hub: LiveHub):
    tab = hub_user.new_page()
    console = ConsoleLog()
    console.attach(tab)
    tab.goto(f"{ohif_url}/")
    row = tab.get_by_text("Doe, Phantom")
    row.wait_for(timeout=60_000)
    text = tab.inner_text("body")
    assert "CT\\SEG\\SR" in text
    screenshot(tab, "20-ohif-study-list")
    console.assert_clean()
    tab.close()


def test_ohif_shows_the_hub_seg(hub_user: Any, ohif_url: str, live_hub: LiveHub):
    tab = hub_user.new_page()
    console = ConsoleLog()
    console.attach(tab)
    tab.goto(f"{ohif_url}/viewer?StudyInstanceUIDs={live_hub.study}")
    skip = tab.get_by_text("Skip all")  # OHIF's first-visit tour
    skip.wait_for(timeout=60_000)
    skip.click()
    tab.get_by_text("SEG", exact=True).dblclick()
    tab.get_by_role("button", name="Yes").wait_for(timeout=60_000)
    viewport = tab.locator(".cornerstone-viewport-element").first
    counts: list[int] = []
    for _ in range(40):
        image = pixels(viewport.screenshot())
        counts = [colour_count(image, colour) for colour in OHIF_COLOURS.values()]
        if min(counts) >= MIN_OVERLAY_PIXELS:
            break
        tab.wait_for_timeout(250)
    screenshot(tab, "21-ohif-seg-preview")
    assert min(counts) >= MIN_OVERLAY_PIXELS, f"OHIF overlay pixels (right, left): {counts}"
    tab.get_by_role("button", name="Yes").click()
    tab.locator("[data-cy=panelSegmentation-btn]").click()
    for label in OHIF_COLOURS:
        tab.get_by_text(label).first.wait_for(timeout=30_000)
    screenshot(tab, "22-ohif-seg-loaded")
    console.assert_clean()
    tab.close()


def _get(url: str, cookie: str = "") -> tuple[int, str, bytes]:
    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.headers.get("Content-Type", ""), answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), b""


def test_nginx_template_serves_ohif_and_passes_dicomweb(
    ohif_site: Path, live_hub: LiveHub, hub_user: Any, tmp_path: Path
):
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else "")
    require(bool(nginx), "nginx is not installed (make system-deps: nginx-light)")
    port = free_port()
    site = (OHIF / "ohif.conf.template").read_text()
    for name, value in {
        "OHIF_LISTEN": f"127.0.0.1:{port}",
        "OHIF_SITE": f"{ohif_site}/",
        "PACS_HUB_UPSTREAM": live_hub.url.removeprefix("http://"),
    }.items():
        site = site.replace("${" + name + "}", value)
    prefix = tmp_path / "nginx"
    (prefix / "logs").mkdir(parents=True)
    (prefix / "ohif.conf").write_text(site)
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = "\n".join(f"    {kind}_temp_path {prefix / kind};"
                     for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    conf = prefix / "nginx.conf"
    conf.write_text(
        f"{user}worker_processes 1;\npid {prefix}/nginx.pid;\n"
        f"error_log {prefix}/logs/error.log warn;\nevents {{ worker_connections 64; }}\n"
        f"http {{\n    include /etc/nginx/mime.types;\n    access_log {prefix}/logs/access.log;\n"
        f"{temp}\n    include {prefix}/ohif.conf;\n}}\n"
    )
    check = subprocess.run([nginx, "-t", "-p", str(prefix), "-c", str(conf)],
                           capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stderr
    server = subprocess.Popen([nginx, "-p", str(prefix), "-c", str(conf), "-g", "daemon off;"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                if _get(f"{base}/")[0] == 200:
                    break
            except urllib.error.URLError:
                pass
            assert time.monotonic() < deadline and server.poll() is None, "nginx did not start"
            time.sleep(0.1)
        status, kind, body = _get(f"{base}/viewer?StudyInstanceUIDs={live_hub.study}")
        assert status == 200 and kind.startswith("text/html") and b"app-config.js" in body
        assert _get(f"{base}/app-config.js")[0] == 200
        assert _get(f"{base}/no-such-file.js")[0] == 404
        assert _get(f"{base}/dicomweb/studies")[0] == 401
        session = "; ".join(f"{c['name']}={c['value']}" for c in hub_user.cookies())
        status, kind, body = _get(f"{base}/dicomweb/studies", session)
        assert status == 200 and live_hub.study.encode() in body, (status, kind)
    finally:
        server.terminate()
        server.wait(timeout=10)
