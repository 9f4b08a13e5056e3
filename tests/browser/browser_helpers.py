"""Helpers of the browser tests: console-error capture, logins, screenshots, overlay colours."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from hub.testing.validators import in_ci

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM = "/usr/bin/chromium"
BUNDLE = ROOT / "hub" / "web" / "ui" / "static" / "ui" / "viewer" / "viewer.js"
#: Headless Chromium without a GPU; WebGL from SwiftShader (software).
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
]
#: The same without any WebGL: the viewer must switch to server-rendered frames.
NO_WEBGL_ARGS = [*CHROMIUM_ARGS, "--disable-webgl", "--disable-3d-apis"]
VIEWPORT = {"width": 1280, "height": 800}


def require(condition: bool, reason: str) -> None:
    """Skip (locally) or fail (CI=true) when ``condition`` does not hold."""
    if condition:
        return
    if in_ci():
        pytest.fail(reason)
    pytest.skip(reason)


@dataclass
class LiveHub:
    """The running hub and what the seed put in it."""

    url: str
    study: str
    series: str
    job: int
    password: str
    env: dict[str, str]
    logs: Path


#: Requests whose failure is the browser's habit, not the page's: the favicon it asks for on
#: every page (the hub's pages do not declare one).
IGNORED_URLS = re.compile(r"/favicon\.ico$")


@dataclass
class ConsoleLog:
    """Console errors and uncaught exceptions of one page."""

    errors: list[str] = field(default_factory=list)

    def attach(self, page: Any) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))

    def _console(self, message: Any) -> None:
        if message.type != "error":
            return
        url = (message.location or {}).get("url", "")
        if IGNORED_URLS.search(url):
            return
        self.errors.append(f"{message.text} ({url})")

    def assert_clean(self) -> None:
        assert not self.errors, "console errors:\n" + "\n".join(self.errors)


def log_in(page: Any, base_url: str, username: str, password: str) -> None:
    """Log in through the login form; lands wherever ``next`` (or the hub) sends."""
    page.goto(f"{base_url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    with page.expect_navigation():
        page.click("form button[type=submit]")


def screenshot(page: Any, name: str) -> Path:
    """A full-page screenshot under test-artifacts/browser/ (kept after the run)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def pixels(png: bytes) -> np.ndarray:
    """An RGB screenshot as an int array (rows, columns, 3)."""
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(np.int32)


def colour_count(image: np.ndarray, rgb: tuple[int, int, int] | list[int]) -> int:
    """Pixels tinted with ``rgb``: a colour blended over grey keeps the colour's hue, so the
    pixel's chroma vector (pixel minus its smallest channel) points the way the colour's does."""
    target = np.asarray(rgb, dtype=np.float64)
    target = target - target.min()
    target /= np.linalg.norm(target)
    chroma = image - image.min(axis=2, keepdims=True)
    strength = np.linalg.norm(chroma, axis=2)
    cosine = (chroma @ target) / np.maximum(strength, 1e-9)
    return int(np.count_nonzero((strength > 40) & (cosine > 0.97)))


def image_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two same-sized screenshots (0-255)."""
    return float(np.abs(a - b).mean())


def wait_ready(page: Any, timeout: float = 60_000) -> dict[str, Any]:
    """Wait until the viewer shows its study (or failed); returns ``window.hubViewer``'s data."""
    page.wait_for_function(
        "window.hubViewer && (window.hubViewer.ready || window.hubViewer.state === 'error')",
        timeout=timeout,
    )
    state = viewer_state(page)
    assert state["state"] == "ready", f"viewer failed: {state.get('error')}"
    return state


def viewer_state(page: Any) -> dict[str, Any]:
    """The plain data of ``window.hubViewer`` (JSON leaves its functions out)."""
    return page.evaluate("JSON.parse(JSON.stringify(window.hubViewer))")


def wait_rendered(page: Any, index: int, timeout: float = 15_000) -> None:
    """Wait until slice ``index`` is the current one and has been drawn, then two frames."""
    page.wait_for_function(
        "i => window.hubViewer.sliceIndex === i && window.hubViewer.renderedSlice === i",
        arg=index,
        timeout=timeout,
    )
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    page.wait_for_timeout(150)


def viewport_pixels(page: Any) -> np.ndarray:
    """A screenshot of the viewer's image area."""
    return pixels(page.locator(".hv-viewport").screenshot())


def poll_colours(
    page: Any, colours: list[list[int]], at_least: int, timeout: float = 10.0
) -> tuple[list[int], np.ndarray]:
    """Screenshot the image area until every colour covers ``at_least`` pixels (or time runs
    out: the last counts are returned for the assertion to show)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        image = viewport_pixels(page)
        counts = [colour_count(image, colour) for colour in colours]
        if min(counts) >= at_least or time.monotonic() > deadline:
            return counts, image
        page.wait_for_timeout(250)


def poll_no_colours(
    page: Any, colours: list[list[int]], at_most: int, timeout: float = 10.0
) -> tuple[list[int], np.ndarray]:
    """Screenshot the image area until no colour covers more than ``at_most`` pixels."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        image = viewport_pixels(page)
        counts = [colour_count(image, colour) for colour in colours]
        if max(counts) <= at_most or time.monotonic() > deadline:
            return counts, image
        page.wait_for_timeout(250)
