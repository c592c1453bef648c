"""notebooks/explorer.ipynb in a real JupyterLab and Notebook 7, clicked in
headless Chromium (Debian's, driven by Playwright): every part of the
explorer, both directions of the shared state, and a click while a 20 s cell
runs.

Screenshots go to ``$DVVR_SCREENSHOT_DIR`` (``docs/`` for the README) or
the test's tmp folder.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from dvvr_jupyter.testing.browser import LabServer, NotebookPage, have_chromium, launch_chromium
from dvvr_jupyter.testing.waiting import wait_until

pytestmark = [
    pytest.mark.browser,
    pytest.mark.jupyter,
    pytest.mark.slow,
    pytest.mark.skipif(not have_chromium(), reason="needs Debian's chromium at /usr/bin/chromium (apt-get install "
                                                   "chromium; .ci/run installs it)"),
]

NOTEBOOK = "notebooks/explorer.ipynb"
NOTEBOOK_7 = "notebook7/explorer.ipynb"
NOTEBOOK_COMM = "comm/explorer.ipynb"
NOTEBOOK_NARROW = "narrow/explorer.ipynb"
TRAINING_CELL = 4  # the 20 s fine-tuning cell; the cells above it show the explorer
TIMEOUT = 180_000  # ms: a generous bound on one step on a shared 2-core machine (a hang fails, never a pass)


def _checkout_notebooks() -> dict:
    return {path: path.read_bytes() for path in (Path(__file__).parents[2] / "notebooks").glob("*.ipynb")}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    before = _checkout_notebooks()
    tmp = tmp_path_factory.mktemp("lab")
    server = LabServer(tmp, base_url="/user/bench/", env={"PYTHONPATH": str(Path(__file__).parents[2])})
    try:
        server.wait_ready()
        server.copy_in(NOTEBOOK, "projects/demo")
        # the other tests open copies: kernel sessions of their own, beside the same project
        for copy in (NOTEBOOK_7, NOTEBOOK_COMM, NOTEBOOK_NARROW):
            (server.root / copy).parent.mkdir()
            shutil.copy(server.root / NOTEBOOK, server.root / copy)
        yield server
    finally:
        server.stop()
    # the tests open and run copies: the checkout's notebooks stay as they are
    assert _checkout_notebooks() == before


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def shots(tmp_path):
    folder = Path(os.environ.get("DVVR_SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def open_explorer(browser, url: str, path: str):
    """The notebook at ``url`` with the cells above the training cell run,
    once the explorer drew its first grid; (page, NotebookPage, page errors)."""
    page = browser.new_page(viewport={"width": 1400, "height": 1500})
    errors: list[str] = []
    # errors thrown by the widget's code (its modules are blob: URLs named
    # dvvr-explorer/<file> by their sourceURL); Jupyter's own bundles are not what is tested here
    page.on("pageerror", lambda exc: errors.append(f"{exc}\n{exc.stack}")
            if "blob:" in (exc.stack or "") or "dvvr-explorer/" in (exc.stack or "") else None)
    page.on("console", lambda message: print("console:", message.text) if message.type == "error" else None)
    page.goto(url)
    notebook = NotebookPage(page, path)
    notebook.wait_kernel()  # a cell sent before the kernel's websocket connects is dropped silently
    notebook.run_cells_before(TRAINING_CELL)
    page.wait_for_selector(".dvvr-explorer[data-ready='1'] canvas.dvvr-grid-canvas", timeout=TIMEOUT)
    return page, notebook, errors


def grid_pixels(page) -> str:
    return page.eval_on_selector("canvas.dvvr-grid-canvas", "c => c.toDataURL()")


def text(page, selector: str) -> str:
    return page.inner_text(selector)


def wait_for(page, js: str, arg=None):
    page.wait_for_function(js, arg=arg, timeout=TIMEOUT)


@pytest.mark.timeout(600)  # a dozen steps and a 20 s training cell on a shared 2-core machine
def test_explorer_in_jupyterlab(lab, browser, shots):
    page, notebook, errors = open_explorer(browser, lab.lab_url(NOTEBOOK), NOTEBOOK)
    explorer = page.locator(".dvvr-explorer")
    # the kernel is reached over HTTP through the Jupyter server, not the comm
    assert explorer.get_attribute("data-transport") == "http"
    assert "VR URL" in text(page, ".dvvr-connection") and page.locator(".dvvr-connection .dvvr-qr svg").count() == 2
    assert "/user/bench/dvvr/vr/" in text(page, ".dvvr-vr-url")
    explorer.screenshot(path=str(shots / "explorer_lab.png"))

    # --- a thumbnail: the channel images and the classification change
    before_pixels, before_top = grid_pixels(page), text(page, ".dvvr-top")
    before_result = page.get_attribute(".dvvr-grid", "data-result-id")
    page.click(".dvvr-thumb[data-index='1']")
    wait_for(page, "r => document.querySelector('.dvvr-grid').dataset.resultId !== r", before_result)
    assert page.locator(".dvvr-thumb[data-index='1'].dvvr-current").count() == 1
    assert text(page, ".dvvr-top") != before_top
    assert grid_pixels(page) != before_pixels
    assert "espresso" in text(page, ".dvvr-top")  # the coffee photo

    # --- a layer: its grid (1280 channels of the head, paged), histograms, pager
    layers = json.loads(page.evaluate("() => JSON.stringify([...document.querySelectorAll('.dvvr-layer')]"
                                      ".map(g => [Number(g.dataset.layerId), g.textContent, g.dataset.kind]))"))
    head = max(i for i, name, kind in layers if kind == "feature_map" and "head" in name)
    before_pixels = grid_pixels(page)
    page.click(f".dvvr-layer[data-layer-id='{head}']")
    wait_for(page, "id => document.querySelector('.dvvr-grid').dataset.layerId === String(id)", head)
    assert "of 1280" in text(page, ".dvvr-page-label")
    assert grid_pixels(page) != before_pixels
    assert page.locator(".dvvr-hist").count() == 2
    # the colour scale with real values, the histograms with axes
    assert page.locator(".dvvr-legend .dvvr-legend-labels span").count() >= 2
    assert "zero at" not in text(page, ".dvvr-layer-title")
    assert page.locator(".dvvr-hist .dvvr-axis").count() >= 4
    # a channel enlarged: its index, statistics and the value under the pointer
    page.click("canvas.dvvr-grid-canvas", position={"x": 20, "y": 20})
    page.wait_for_selector(".dvvr-inspector[data-channel='0'] canvas.dvvr-inspect-canvas", timeout=TIMEOUT)
    assert "channel 0 of" in text(page, ".dvvr-inspector") and "mean" in text(page, ".dvvr-inspect-stats")
    page.hover("canvas.dvvr-inspect-canvas", position={"x": 5, "y": 5})
    wait_for(page, "() => document.querySelector('.dvvr-inspect-value').textContent.startsWith('value at row 0, column 0: ')")
    page.click(".dvvr-inspect-next")
    page.wait_for_selector(".dvvr-inspector[data-channel='1']", timeout=TIMEOUT)
    page.locator(".dvvr-explorer").screenshot(path=str(shots / "explorer_inspect.png"))
    page.click(".dvvr-inspect-close")
    page.click(".dvvr-next")
    wait_for(page, "() => document.querySelector('.dvvr-grid').dataset.start !== '0'")
    # a 1D layer: bars labelled with the class names
    probabilities = next(i for i, name, kind in layers if kind == "vector" and name.startswith("Probabilities"))
    page.click(f".dvvr-layer[data-layer-id='{probabilities}']")
    page.wait_for_selector(".dvvr-grid .dvvr-vector", timeout=TIMEOUT)
    rows = page.locator(".dvvr-vector .dvvr-bar-value").all_inner_texts()
    assert len(rows) == 20 and all(row.endswith("%") for row in rows)  # a readable page, in percent
    values = [float(row[:-1]) for row in rows]
    assert values == sorted(values, reverse=True)  # top first
    assert "sorted by value" in text(page, ".dvvr-page-label")

    # --- the input chosen in the headset: the widget follows (pushed on the comm)
    from dvvr_jupyter.protocol.client import VRClient

    client = VRClient(lab.vr_url())
    try:
        answer = client.request("PUT", "network/0/prepareforinput", json.dumps({"mode": 1, "imageID": 5}))
        assert answer.status == 200, answer.body
        page.wait_for_selector(".dvvr-thumb[data-index='5'].dvvr-current", timeout=TIMEOUT)
    finally:
        client.close()
    assert "input chosen in the headset" in text(page, ".dvvr-input-note")  # beside the thumbnails
    wait_for(page, "() => !document.querySelector('.dvvr-clients').textContent.endsWith('none')")

    # --- noise: a new noise image is the input
    page.click(".dvvr-noise")
    wait_for(page, "() => document.querySelector('.dvvr-input-desc').textContent.startsWith('noise')")
    assert page.locator(".dvvr-noise.dvvr-current").count() == 1

    # --- feature visualization of the stem: start, progress, results, one as the input
    stem = next(i for i, name, kind in layers if name.startswith("Stem"))
    page.click(f".dvvr-layer[data-layer-id='{stem}']")
    wait_for(page, "id => document.querySelector('.dvvr-grid').dataset.layerId === String(id)", stem)
    page.click(".dvvr-fv-start")
    page.wait_for_selector(".dvvr-fv-state[data-state='running'], .dvvr-fv-state[data-state='done']", timeout=TIMEOUT)
    page.wait_for_selector(".dvvr-fv-state[data-state='done']", timeout=TIMEOUT)
    page.wait_for_selector("canvas.dvvr-fv-canvas", timeout=TIMEOUT)
    page.click("canvas.dvvr-fv-canvas", position={"x": 5, "y": 5})
    page.click(".dvvr-fv-inspector .dvvr-fv-use")
    wait_for(page, "() => document.querySelector('.dvvr-input-desc').textContent.startsWith('feature visualization')")
    page.click(".dvvr-thumb[data-index='0']")
    page.wait_for_selector(".dvvr-thumb[data-index='0'].dvvr-current", timeout=TIMEOUT)
    page.click(f".dvvr-layer[data-layer-id='{head}']")  # 1280 channels: long enough to cancel
    page.click(".dvvr-fv-start")
    page.wait_for_selector(".dvvr-fv-state[data-state='running']", timeout=TIMEOUT)
    page.click(".dvvr-fv-cancel")
    page.wait_for_selector(".dvvr-fv-state[data-state='cancelled']", timeout=TIMEOUT)

    # --- tracked modules: untick one, apply: the layer map changes (same network id)
    page.click(".dvvr-modules summary")
    page.wait_for_selector(".dvvr-tree input[data-module='_blocks.3']:checked", timeout=TIMEOUT)
    signature = page.get_attribute(".dvvr-layermap", "data-signature")
    count = int(page.get_attribute(".dvvr-layermap", "data-layers"))
    page.uncheck(".dvvr-tree input[data-module='_blocks.3']")
    page.click(".dvvr-apply-track")
    wait_for(page, "s => document.querySelector('.dvvr-layermap').dataset.signature !== s", signature)
    assert int(page.get_attribute(".dvvr-layermap", "data-layers")) != count
    assert "_blocks.3 " not in page.text_content(".dvvr-layermap")
    assert "VR client sees the new architecture" in text(page, ".dvvr-message")
    # the grid shows the same module as before, under its new id
    wait_for(page, "() => document.querySelector('.dvvr-grid').dataset.layerId === "
                   "document.querySelector('.dvvr-layer.dvvr-selected').dataset.layerId")
    assert "_conv_head" in page.text_content(".dvvr-layer.dvvr-selected")
    # back to automatic tracking: the architecture (and its stored feature visualizations) of before
    page.click(".dvvr-presets [data-preset='auto']")
    page.click(".dvvr-apply-track")
    wait_for(page, "s => document.querySelector('.dvvr-layermap').dataset.signature === s", signature)

    # --- a click while a 20 s cell runs: answered before the cell ends
    notebook.start_cell(TRAINING_CELL)
    wait_until(lambda: notebook.kernel_status() == "busy", 60, "the training cell did not start")
    page.click(".dvvr-thumb[data-index='2']")
    page.wait_for_selector(".dvvr-thumb[data-index='2'].dvvr-current", timeout=TIMEOUT)
    wait_for(page, "() => document.querySelector('.dvvr-input-desc').textContent.startsWith('image 2 ')")
    assert notebook.kernel_status() == "busy", "the click was answered only after the cell ended"
    # the explorer and the running cell ([*]) in one picture
    page.click(".dvvr-modules summary")
    page.set_viewport_size({"width": 1400, "height": 1900})
    page.evaluate("() => document.querySelector('.dvvr-explorer').scrollIntoView({block: 'start'})")
    page.screenshot(path=str(shots / "explorer_lab_busy.png"))
    notebook.wait_kernel(timeout=180)
    # after training: the stem's pictures are of older weights, and say so (never an empty "done")
    page.click(".dvvr-explorer .dvvr-tab[data-tab='explorer']")
    page.click(f".dvvr-layer[data-layer-id='{stem}']")
    page.wait_for_selector(".dvvr-fv-state[data-state='stale']", timeout=TIMEOUT)
    page.wait_for_selector(".dvvr-fv-note.dvvr-stale", timeout=TIMEOUT)
    assert "weights v0" in text(page, ".dvvr-fv-note") and page.locator("canvas.dvvr-fv-canvas").count() == 1
    assert text(page, ".dvvr-fv-start") == "recompute"
    page.locator(".dvvr-featvis").screenshot(path=str(shots / "explorer_stale_featvis.png"))
    assert not errors, errors


def test_without_the_server_extension_the_comm_carries_the_clicks(lab, browser):
    # as in a plain kernel or VS Code: the explorer's HTTP route does not answer
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.route("**/dvvr/api/explorer/**", lambda route: route.fulfill(status=404, body="{}"))
    page.goto(lab.lab_url(NOTEBOOK_COMM))
    notebook = NotebookPage(page, NOTEBOOK_COMM)
    notebook.wait_kernel()
    notebook.run_cells_before(TRAINING_CELL)
    page.wait_for_selector(".dvvr-explorer[data-ready='1'] canvas.dvvr-grid-canvas", timeout=TIMEOUT)
    assert page.locator(".dvvr-explorer").get_attribute("data-transport") == "comm"
    before = page.get_attribute(".dvvr-grid", "data-result-id")
    page.click(".dvvr-thumb[data-index='3']")
    page.wait_for_selector(".dvvr-thumb[data-index='3'].dvvr-current", timeout=TIMEOUT)
    wait_for(page, "r => document.querySelector('.dvvr-grid').dataset.resultId !== r", before)
    page.close()


def test_explorer_in_notebook_7(lab, browser, shots):
    page, _, errors = open_explorer(browser, lab.notebook_url(NOTEBOOK_7), NOTEBOOK_7)
    assert page.locator(".dvvr-explorer").get_attribute("data-transport") == "http"
    assert page.locator(".dvvr-thumb").count() == 20
    page.locator(".dvvr-explorer").screenshot(path=str(shots / "explorer_notebook7.png"))
    # the 3D view: a tab with the session's browser client (<VR URL>xr/)
    page.click(".dvvr-tab[data-tab='xr']")
    src = page.get_attribute(".dvvr-xr-frame", "src")
    assert "/dvvr/vr/" in src and src.endswith("/xr/")
    assert page.get_attribute(".dvvr-xr-link", "href") == src
    # its QR code next to the link, captioned (the VR URL's on the other side)
    assert page.locator(".dvvr-qr-xr svg").count() == 1 and page.locator(".dvvr-qr-vr svg").count() == 1
    assert page.locator(".dvvr-qr-figure figcaption").all_inner_texts() == ["VR client", "3D view"]
    # once per purpose: the %load_ext panel above (updated every 3 s) now points to the Connection panel
    wait_for(page, "() => document.querySelector('.dvvr-status') && /explorer's Connection panel/.test("
                   "document.querySelector('.dvvr-status').innerText)")
    assert page.locator(".dvvr-status svg").count() == 0
    page.locator(".dvvr-status").screenshot(path=str(shots / "load_ext_panel_with_explorer.png"))
    page.locator(".dvvr-connection").screenshot(path=str(shots / "explorer_connection.png"))
    assert page.locator("svg.segno").count() == 2  # the page's QR codes: the explorer's two
    assert not errors, errors


def test_a_narrow_jupyterlab_panel(lab, browser, shots):
    """1100 px with the file browser open: everything within the notebook's width."""
    page = browser.new_page(viewport={"width": 1100, "height": 2600})  # tall: the whole explorer in its screenshot
    page.goto(lab.lab_url(NOTEBOOK_NARROW))
    notebook = NotebookPage(page, NOTEBOOK_NARROW)
    notebook.wait_kernel()
    if page.locator(".jp-FileBrowser:visible").count() == 0:
        page.keyboard.press("Control+Shift+F")  # the file browser open, as a user has it
    page.wait_for_selector(".jp-FileBrowser", state="visible", timeout=TIMEOUT)
    notebook.run_cells_before(TRAINING_CELL)
    page.wait_for_selector(".dvvr-explorer[data-ready='1'] canvas.dvvr-grid-canvas", timeout=TIMEOUT)
    fits = page.evaluate("""() => {
        const box = (s) => document.querySelector(s).getBoundingClientRect();
        const output = box('.dvvr-explorer').right;
        return [...document.querySelectorAll('.dvvr-explorer canvas, .dvvr-explorer svg.dvvr-layermap')]
            .filter((e) => e.getBoundingClientRect().width > 0 && !e.closest('.dvvr-map'))
            .map((e) => [e.className.baseVal ?? e.className, e.getBoundingClientRect().right <= output + 1]);
    }""")
    assert fits and all(ok for _, ok in fits), fits
    # the layer map: full names, the classifier reached without an inner scroll
    names = page.locator(".dvvr-layer").all_text_contents()
    assert not any(name.endswith("…") for name in names) and any(name.startswith("_fc") for name in names)
    assert page.evaluate("() => { const m = document.querySelector('.dvvr-map'); return m.scrollHeight <= m.clientHeight + 1; }")
    page.locator(".dvvr-explorer").screenshot(path=str(shots / "explorer_lab_narrow.png"))
    page.close()
