"""The README's pictures of the 3D client: ``docs/xr_desktop.png`` (the demo
network on a desktop, a layer selected) and ``docs/xr_headset.png`` (the
view of Meta's emulated Quest 3 after a controller picked a photo).

Run: python docs/xr_screenshots.py   (starts ``dvvr serve projects/demo`` on a free port)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from dvvr_jupyter.testing.browser import launch_chromium
from dvvr_jupyter.testing.jupyter import free_port
from dvvr_jupyter.testing.xr import XRPage

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "benchmarks"))
from switch import DvvrServe  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        server = DvvrServe(HERE.parent / "projects" / "demo", {"DVVR_CACHE_DIR": tmp}, free_port())
        browser = launch_chromium(playwright, webgl=True)
        try:
            desktop = XRPage(browser, server.url + "xr/", viewport=(1280, 760))
            desktop.wait_ready()
            desktop.click("dataset:0")  # the cat
            desktop.wait("dvvr.lastSwitch && /cat/.test(dvvr.input)")
            desktop.click("layer:1")
            desktop.wait("dvvr.selected && dvvr.selected.layer === 1")
            desktop.page.evaluate("window.dvvr.lookAt('layer:1', 3.4, 0.9, 0.2)")
            desktop.frames(30)  # the histograms arrive
            desktop.page.screenshot(path=str(HERE / "xr_desktop.png"))
            desktop.close()

            if "--desktop" in sys.argv:
                return
            headset = XRPage(browser, server.url + "xr/", headset=True, viewport=(1280, 760))
            headset.wait_ready()
            headset.enter_vr()
            headset.controller_select("dataset:1")  # the coffee
            headset.wait("dvvr.lastSwitch && /coffee/.test(dvvr.input)")
            headset.frames(3)
            headset.page.screenshot(path=str(HERE / "xr_headset.png"))
            headset.close()
        finally:
            browser.close()
            server.stop()


if __name__ == "__main__":
    main()
