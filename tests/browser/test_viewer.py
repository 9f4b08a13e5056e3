"""The radiologist's path in a real browser: log in, worklist, the study in the Cornerstone3D
viewer (scroll, SEG overlay on/off, window/level, findings), the server-rendered fallback,
then the report's accept and the worklist badge. Screenshots: test-artifacts/browser/."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from browser_helpers import (
    CHROMIUM,
    NO_WEBGL_ARGS,
    VIEWPORT,
    ConsoleLog,
    LiveHub,
    image_difference,
    log_in,
    poll_colours,
    poll_no_colours,
    screenshot,
    viewer_state,
    viewport_pixels,
    wait_ready,
    wait_rendered,
)

#: A lung on its largest slice covers far more than this many screen pixels at 1280x800.
MIN_OVERLAY_PIXELS = 300
#: What may remain "tinted" with the overlay off (anti-aliasing, noise).
MAX_STRAY_PIXELS = 30
#: The first class of the focused element (Cornerstone adds classes to the image area).
FOCUSED = """(() => {
  const e = document.activeElement;
  if (e.classList.contains("hv-viewport")) return "hv-viewport";
  return e.classList[0] || e.tagName;
})()"""


@pytest.fixture(scope="module")
def radiologist(browser: Any, live_hub: LiveHub) -> Iterator[Any]:
    """A browser context logged in as the radiologist ``rad``."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    log_in(page, live_hub.url, "rad", live_hub.password)
    page.close()
    yield context
    context.close()


@pytest.fixture
def page(radiologist: Any) -> Iterator[tuple[Any, ConsoleLog]]:
    """A new tab of the radiologist's context, its console errors collected."""
    tab = radiologist.new_page()
    console = ConsoleLog()
    console.attach(tab)
    yield tab, console
    tab.close()


def viewer_url(hub: LiveHub, query: str = "") -> str:
    return f"{hub.url}/dicom-viewer/{hub.study}/{query}"


def go_to_slice_by_wheel(tab: Any, target: int) -> None:
    """Scroll with the mouse wheel over the image until ``target`` is shown."""
    box = tab.locator(".hv-viewport").bounding_box()
    tab.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    for _ in range(80):
        current = viewer_state(tab)["sliceIndex"]
        if current == target:
            break
        tab.mouse.wheel(0, 120 if target > current else -120)
        tab.wait_for_function("i => window.hubViewer.sliceIndex !== i", arg=current, timeout=5000)
    assert viewer_state(tab)["sliceIndex"] == target
    wait_rendered(tab, target)


def segment_colours_on(state: dict[str, Any], index: int) -> list[list[int]]:
    return [s["color"] for s in state["segments"] if index in s["slices"]]


def test_the_viewer_needs_a_login_and_shows_no_patient_before(browser: Any, live_hub: LiveHub):
    context = browser.new_context(viewport=VIEWPORT)
    tab = context.new_page()
    console = ConsoleLog()
    console.attach(tab)
    tab.goto(viewer_url(live_hub))
    assert "/accounts/login/" in tab.url and "next=" in tab.url
    assert "Phantom" not in tab.content()
    screenshot(tab, "01-login-required")
    tab.fill("#id_username", "rad")
    tab.fill("#id_password", live_hub.password)
    with tab.expect_navigation():
        tab.click("form button[type=submit]")
    assert tab.url.startswith(viewer_url(live_hub))
    wait_ready(tab)
    console.assert_clean()
    context.close()


def test_a_user_without_view_studies_is_refused(browser: Any, live_hub: LiveHub):
    context = browser.new_context(viewport=VIEWPORT)
    tab = context.new_page()
    log_in(tab, live_hub.url, "nobody", live_hub.password)
    response = tab.goto(viewer_url(live_hub))
    assert response.status == 403
    assert "Phantom" not in tab.content()
    context.close()


def test_worklist_lists_the_analysed_study_and_opens_the_viewer(page, live_hub: LiveHub):
    tab, console = page
    tab.goto(f"{live_hub.url}/worklist/")
    row = tab.locator("tr", has=tab.locator(f"a[href='/dicom-viewer/{live_hub.study}/']"))
    assert row.count() == 1
    assert "ct-lung-seg" in row.inner_text()
    assert row.locator(".state-done").count() == 1
    assert row.locator(".review-pending").count() == 1
    screenshot(tab, "02-worklist-to-review")
    with tab.expect_navigation():
        row.locator(f"a[href='/dicom-viewer/{live_hub.study}/']").click()
    state = wait_ready(tab)
    assert state["mode"] == "webgl", f"WebGL viewer expected: {state['fallbackReason']}"
    console.assert_clean()


def test_cornerstone_viewer_overlay_window_level_and_findings(page, live_hub: LiveHub):
    tab, console = page
    tab.goto(viewer_url(live_hub))
    state = wait_ready(tab)
    assert state["mode"] == "webgl", state["fallbackReason"]
    assert state["sliceCount"] == 24
    assert [s["label"] for s in state["segments"]] == ["Right lung", "Left lung"]
    assert all(s["bestSlice"] >= 0 for s in state["segments"])
    assert [f["title"] for f in state["findings"]] == ["Right lung", "Left lung"]
    assert all(m["unit"] == "ml" for f in state["findings"] for m in f["measurements"])

    # the page fits 1280x800: no scrolling, the image area and controls inside the window
    size = tab.evaluate("[document.documentElement.scrollWidth, document.body.scrollHeight]")
    assert size[0] <= VIEWPORT["width"] and size[1] <= VIEWPORT["height"], size
    box = tab.locator(".hv-viewport").bounding_box()
    assert box["width"] >= 500 and box["height"] >= 500 and box["y"] + box["height"] <= 800

    # slice 0 first (keyboard), then the wheel to the right lung's largest slice
    tab.locator(".hv-viewport").focus()
    tab.keyboard.press("Home")
    wait_rendered(tab, 0)
    target = state["segments"][0]["bestSlice"]
    go_to_slice_by_wheel(tab, target)
    colours = segment_colours_on(state, target)
    counts, _ = poll_colours(tab, colours, MIN_OVERLAY_PIXELS)
    screenshot(tab, "03-viewer-overlay")
    assert min(counts) >= MIN_OVERLAY_PIXELS, f"overlay pixels per segment: {counts}"
    assert tab.locator("#hub-viewer").get_attribute("data-overlay-visible") == "true"

    # overlay off: the segment colours are gone; on again: back
    tab.locator("label[for=hv-overlay]").click()
    tab.wait_for_selector("#hub-viewer[data-overlay-visible=false]")
    off, _ = poll_no_colours(tab, colours, MAX_STRAY_PIXELS)
    screenshot(tab, "04-viewer-overlay-off")
    assert max(off) <= MAX_STRAY_PIXELS, f"overlay still drawn: {off}"
    tab.keyboard.press("o")
    tab.wait_for_selector("#hub-viewer[data-overlay-visible=true]")
    counts, _ = poll_colours(tab, colours, MIN_OVERLAY_PIXELS)
    assert min(counts) >= MIN_OVERLAY_PIXELS

    # window/level by dragging on the image: the window changes, so does the image
    before = viewport_pixels(tab)
    window = tab.locator("#hub-viewer").get_attribute("data-window")
    tab.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    tab.mouse.down()
    tab.mouse.move(box["x"] + box["width"] / 2 + 120, box["y"] + box["height"] / 2 + 60, steps=8)
    tab.mouse.up()
    tab.wait_for_function(
        "w => document.getElementById('hub-viewer').dataset.window !== w", arg=window
    )
    tab.wait_for_timeout(300)
    dragged = viewport_pixels(tab)
    assert image_difference(before, dragged) > 3, "window/level drag did not change the image"
    # ... and by preset
    tab.get_by_role("button", name="Bone", exact=True).click()
    tab.wait_for_selector("#hub-viewer[data-window='2000'][data-level='300']")
    tab.wait_for_timeout(300)
    bone = viewport_pixels(tab)
    screenshot(tab, "05-viewer-bone-window")
    assert image_difference(dragged, bone) > 3, "the bone preset did not change the image"
    tab.get_by_role("button", name="Lung", exact=True).click()
    tab.wait_for_selector("#hub-viewer[data-window='1500'][data-level='-600']")

    # keyboard scrolling and the slider
    tab.locator(".hv-viewport").focus()
    tab.keyboard.press("ArrowDown")
    wait_rendered(tab, target + 1)
    tab.keyboard.press("ArrowUp")
    wait_rendered(tab, target)
    tab.locator(".hv-slider").fill("3")
    wait_rendered(tab, 3)

    # a finding jumps to its slice, where its segment is drawn
    left = state["segments"][1]
    tab.locator(".hv-finding", has_text="Left lung").click()
    wait_rendered(tab, left["bestSlice"])
    counts, _ = poll_colours(tab, [left["color"]], MIN_OVERLAY_PIXELS)
    screenshot(tab, "06-viewer-finding-left-lung")
    assert counts[0] >= MIN_OVERLAY_PIXELS, counts
    console.assert_clean()


def test_keyboard_reaches_the_image_and_controls(page, live_hub: LiveHub):
    tab, console = page
    tab.goto(viewer_url(live_hub))
    wait_ready(tab)
    reached = set()
    for _ in range(60):
        tab.keyboard.press("Tab")
        focused = tab.evaluate(FOCUSED)
        reached.add(focused)
        if "hv-viewport" in reached:
            break
    assert {"hv-preset", "hv-overlay-toggle", "hv-viewport"} <= reached, reached
    tab.keyboard.press("End")
    wait_rendered(tab, 23)
    console.assert_clean()


def test_server_rendered_fallback_on_request(page, live_hub: LiveHub):
    tab, console = page
    tab.goto(viewer_url(live_hub, "?fallback=1"))
    state = wait_ready(tab)
    assert state["mode"] == "fallback"
    target = state["segments"][0]["bestSlice"]
    tab.locator(".hv-viewport").focus()
    tab.keyboard.press("Home")
    wait_rendered(tab, 0)
    go_to_slice_by_wheel(tab, target)
    colours = segment_colours_on(state, target)
    counts, _ = poll_colours(tab, colours, MIN_OVERLAY_PIXELS)
    screenshot(tab, "07-fallback-overlay")
    assert min(counts) >= MIN_OVERLAY_PIXELS, counts
    overlay_src = tab.locator(".hub-fallback-image").get_attribute("src")
    assert "/api/v1/viewer/frames/" in overlay_src and "overlay=" in overlay_src
    tab.locator("label[for=hv-overlay]").click()
    wait_rendered(tab, target)
    off, _ = poll_no_colours(tab, colours, MAX_STRAY_PIXELS)
    assert max(off) <= MAX_STRAY_PIXELS, off
    before = viewport_pixels(tab)
    tab.get_by_role("button", name="Brain", exact=True).click()
    tab.wait_for_selector("#hub-viewer[data-window='80'][data-level='40']")
    tab.wait_for_function("() => document.querySelector('.hub-fallback-image').complete")
    tab.wait_for_timeout(300)
    screenshot(tab, "08-fallback-brain-window")
    assert image_difference(before, viewport_pixels(tab)) > 3
    console.assert_clean()


def test_without_webgl_the_viewer_switches_to_server_rendering(playwright: Any, live_hub: LiveHub):
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=NO_WEBGL_ARGS)
    try:
        context = browser.new_context(viewport=VIEWPORT)
        tab = context.new_page()
        console = ConsoleLog()
        console.attach(tab)
        log_in(tab, live_hub.url, "rad", live_hub.password)
        tab.goto(viewer_url(live_hub))
        state = wait_ready(tab)
        assert state["mode"] == "fallback"
        assert "WebGL" in state["fallbackReason"]
        target = state["segments"][1]["bestSlice"]
        tab.locator(".hv-finding", has_text="Left lung").click()
        wait_rendered(tab, target)
        counts, _ = poll_colours(tab, [state["segments"][1]["color"]], MIN_OVERLAY_PIXELS)
        screenshot(tab, "09-no-webgl-fallback")
        assert counts[0] >= MIN_OVERLAY_PIXELS, counts
        console.assert_clean()
    finally:
        browser.close()


def test_report_accept_changes_the_worklist_badge(page, live_hub: LiveHub):
    tab, console = page
    tab.goto(viewer_url(live_hub))
    wait_ready(tab)
    with tab.expect_navigation():
        tab.get_by_role("link", name="Open the report").click()
    assert tab.url.endswith(f"/reports/{live_hub.study}/")
    text = tab.inner_text("main")
    assert "AI-generated, not a diagnosis" in text
    assert "Right lung" in text and "Left lung" in text and "ml" in text
    screenshot(tab, "10-report")
    with tab.expect_navigation():
        tab.get_by_role("button", name="Accept").first.click()
    assert tab.locator(".review-accepted").count() >= 1
    tab.goto(f"{live_hub.url}/worklist/")
    row = tab.locator("tr", has=tab.locator(f"a[href='/dicom-viewer/{live_hub.study}/']"))
    assert row.locator(".review-accepted").count() == 1
    assert row.locator(".review-pending").count() == 0
    screenshot(tab, "11-worklist-accepted")
    console.assert_clean()
