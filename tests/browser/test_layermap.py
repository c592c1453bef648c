"""The explorer's layer map (``layermap.js``) drawn in a bare headless
Chromium page from the layers the explorer's requests describe: side lanes
sit beside their stage, as on the headset's grid (no Jupyter needed)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from dvvr_jupyter.explore.requests import ExplorerRequests
from dvvr_jupyter.testing.browser import have_chromium, launch_chromium

STATIC = Path(__file__).resolve().parents[2] / "dvvr_jupyter" / "widgets" / "static"
ORIGIN = "http://explorer.test/"  # answered from STATIC by the page's own route

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not have_chromium(), reason="needs Debian's chromium at /usr/bin/chromium (apt-get install "
                                                   "chromium; .ci/run installs it)"),
]


def draw(layers: list, shot: Path) -> list[dict]:
    """Each layer's box in the map as drawn: its id, x and y (page pixels)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page = browser.new_page()
            page.route(ORIGIN + "**", lambda route: route.fulfill(
                status=200, content_type="text/html" if route.request.url == ORIGIN else "text/javascript",
                body="<!doctype html><body></body>" if route.request.url == ORIGIN
                else (STATIC / route.request.url[len(ORIGIN):]).read_text()))
            page.goto(ORIGIN)
            page.add_style_tag(content=(STATIC / "explorer.css").read_text())
            boxes = page.evaluate("""async (layers) => {
                const { layerMap } = await import("/layermap.js");
                const holder = document.createElement("div");
                holder.className = "dvvr-explorer";
                holder.appendChild(layerMap(layers, 1, () => {}));
                document.body.appendChild(holder);
                return [...document.querySelectorAll(".dvvr-layer")].map((g) => {
                  const r = g.getBoundingClientRect();
                  return { id: Number(g.dataset.layerId), x: r.x, y: r.y, width: r.width, skip: g.classList.contains("dvvr-lane-skip") };
                });
            }""", layers)
            page.locator(".dvvr-layermap").screenshot(path=str(shot))
            return boxes
        finally:
            browser.close()


def test_a_side_lane_sits_beside_its_stage(tiny_session, tmp_path):
    shots = Path(os.environ.get("DVVR_SCREENSHOT_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    layers = json.loads(ExplorerRequests(tiny_session).handle("GET", "state/0").body)["layers"]
    boxes = {box["id"]: box for box in draw(layers, shots / "layermap_lanes.png")}
    by_pos = {tuple(layer["pos"]): boxes[layer["id"]] for layer in layers}
    conv2, skip = by_pos[(3, 0)], by_pos[(3, 1)]  # tests/tiny.py: the skip lane beside Conv2
    assert conv2["y"] == skip["y"] and skip["x"] >= conv2["x"] + conv2["width"]  # one row, side by side
    assert skip["skip"] and not conv2["skip"]
    # the main lane one column, stages top to bottom
    main = [by_pos[(depth, 0)] for depth in range(7)]
    assert len({box["x"] for box in main}) == 1 and [b["y"] for b in main] == sorted(b["y"] for b in main)
