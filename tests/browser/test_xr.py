"""The 3D client (``<VR URL>xr/``) in a real headless Chromium with WebGL on
SwiftShader: standalone (``dvvr serve`` on the tiny project, with a token)
and through a real Jupyter server and kernel; with Meta's emulated Quest 3
(iwer) for the immersive session and a controller's select.

Screenshots go to ``$DVVR_SCREENSHOT_DIR`` (``docs/`` for the README) or the
test's tmp folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from dvvr_jupyter.protocol.client import VRClient
from dvvr_jupyter.testing.browser import have_chromium, launch_chromium
from dvvr_jupyter.testing.jupyter import JupyterServer, Kernel
from dvvr_jupyter.testing.xr import XRPage

import tiny
from conftest import HERE, REPO

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not have_chromium(), reason="needs Debian's chromium at /usr/bin/chromium (apt-get install "
                                                   "chromium; .ci/run installs it)"),
]

TINY_LAYERS = 8  # tests/tiny.py: 7 layers with activations and the "Block" info panel


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright, webgl=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """``dvvr serve`` on the tiny project with a capability token: its VR URL."""
    tmp = tmp_path_factory.mktemp("serve")
    (tmp / "project.py").write_text(tiny.PROJECT_SOURCE.format(tests=str(HERE)))
    env = {**os.environ, "DVVR_CACHE_DIR": str(tmp / "cache"), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "dvvr_jupyter.cli", "serve", str(tmp), "--port", "0",
                             "--token", "random"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for line in proc.stdout:
            if line.startswith("VR client base URL: "):
                url = line.split(": ", 1)[1].strip()
                break
        else:
            raise AssertionError("dvvr serve ended before printing its URL")
        urllib.request.urlopen(url + "network", timeout=120).read()  # the project is loaded
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def shots(tmp_path):
    folder = Path(os.environ.get("DVVR_SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def architecture(url: str) -> list:
    with urllib.request.urlopen(url + "network/0", timeout=30) as resp:
        return json.load(resp)["architecture"]


def choose_elsewhere(url: str, choice: dict) -> None:
    """Another client chooses the input with the VR app's request sequence (the choice, then every answer)."""
    client = VRClient(url)
    try:
        client.switch(0, architecture(url), choice)
    finally:
        client.close()


def every_layer_shows(status: dict) -> bool:
    """Every layer with activations shows the maps of the current result."""
    return len(status["shown"]) == TINY_LAYERS - 1 and set(status["shown"].values()) == {status["result"]}


def check_layout(xr: XRPage, layers: list) -> None:
    """The client's placement rules (CLIENT_LAYOUT.md), from its pure layout module."""
    layout = xr.page.evaluate("""async (architecture) => {
        const { layoutNetwork } = await import(new URL("layout.js", location.href).href);
        return layoutNetwork(architecture);
    }""", layers)
    placed = {tuple(layer["pos"]): placed for layer, placed in zip(layers, layout["layers"], strict=True)}
    conv2, skip, block = placed[(3, 0)], placed[(3, 1)], placed[(2, 0)]
    assert conv2["z"] == skip["z"] and conv2["x"] < skip["x"]  # one stage, left to right by lane
    assert abs((conv2["x"] - conv2["width"] / 2) + (skip["x"] + skip["width"] / 2)) < 1e-6  # centred on x = 0
    assert all(layer["width"] >= 0.75 for layer in layout["layers"])
    depths = sorted({layer["z"] for layer in layout["layers"]}, reverse=True)
    assert all(0.75 - 1e-9 <= a - b <= 10 for a, b in zip(depths, depths[1:], strict=False))  # stages 0.75-10 m apart
    assert block["kind"] == "info" and block["y"] > max(layer["y"] for layer in layout["layers"] if layer["kind"] != "info")
    assert layout["inputFrame"]["z"] == placed[(0, 0)]["z"] + 0.75
    assert len(layout["edges"]) == sum(len(layer["precursors"]) for layer in layers)


def test_scene_input_and_another_client(browser, served, shots):
    layers = architecture(served)
    xr = XRPage(browser, served + "xr/")
    try:
        status = xr.wait_ready()
        # every layer of the architecture, every channel of those with activations
        assert status["layers"] == len(layers) == TINY_LAYERS
        assert status["maps"] == sum(layer["size"][1] for layer in layers if layer["data_type"] != "None")
        # draw calls grow with layers, not channels
        xr.frames(2)
        status = xr.status()
        assert 0 < status["drawCalls"] <= 2 * len(layers) + 30
        assert status["textureBytes"] > 0 and status["input"] and status["result"]
        xr.page.screenshot(path=str(shots / "xr_tiny.png"))

        assert every_layer_shows(status)
        check_layout(xr, layers)

        # choosing an input in the page: a dataset image, then every layer shows its maps
        before = status["result"]
        xr.click("dataset:2")
        xr.wait("dvvr.lastSwitch && dvvr.lastSwitch.result && dvvr.result !== arg", before)
        status = xr.status()
        assert "image 2 " in status["input"] and every_layer_shows(status)

        # an input chosen by another client (a headset on the same view) shows up here
        before = status["result"]
        choose_elsewhere(served, {"mode": 4, "noiseGeneratorID": 1})
        xr.wait("dvvr.result !== arg && /noise/i.test(dvvr.input)", before)
        assert every_layer_shows(xr.status())

        # a tile selects its layer and channel
        xr.click("layer:1")
        xr.wait("dvvr.selected && dvvr.selected.layer === 1")
        assert xr.errors == []
        # nothing is asked outside the capability (a /favicon.ico would count as a wrong token)
        assert [url for url in xr.requested if not url.startswith(served)] == []
    finally:
        xr.close()


def test_headset_enters_vr_and_a_controller_picks_an_image(browser, served, shots):
    xr = XRPage(browser, served + "xr/", headset=True)
    try:
        before = xr.wait_ready()["result"]
        xr.enter_vr()
        xr.controller_select("dataset:4")
        xr.wait("dvvr.result !== arg && dvvr.lastSwitch && dvvr.lastSwitch.result === dvvr.result", before)
        status = xr.status()
        assert status["presenting"] and "4" in status["input"]
        xr.frames(2)
        xr.page.screenshot(path=str(shots / "xr_headset_tiny.png"))
        assert xr.errors == []
    finally:
        xr.close()


def test_the_selected_layers_panel_is_never_hidden_behind_another_layer(browser, served, shots):
    """Each layer's details panel (histograms, the feature-visualization button) sits beside it, where a
    neighbouring lane's layer may stand between it and the viewer: the panel still shows, and a click
    on its button starts the job instead of selecting the layer in front."""
    xr = XRPage(browser, served + "xr/")
    try:
        xr.wait_ready()
        for lid, layer in enumerate(architecture(served)):
            if layer["data_type"] == "None":  # an info panel has no button
                continue
            xr.click(f"layer:{lid}")
            xr.wait("dvvr.selected && dvvr.selected.layer === arg && window.dvvr.locate('featvis')", lid)
            xr.click("featvis")
            xr.wait("dvvr.featvisProgress[arg] !== undefined || !(dvvr.selected && dvvr.selected.layer === arg)", lid)
            assert xr.status()["selected"] is not None, f"the click on layer {lid}'s button hit nothing"
            assert xr.status()["selected"]["layer"] == lid, f"the click on layer {lid}'s button hit another layer"
        xr.page.screenshot(path=str(shots / "xr_tiny_details.png"))
        assert xr.errors == []
    finally:
        xr.close()


KERNEL_SETUP = """
%load_ext dvvr
import dvvr, tiny
dvvr.attach(tiny.TinyTracked(), tiny.tiny_images(), name="tiny", class_names=tiny.CLASSES, input_size=(32, 36))
"""


def start_kernel(server: JupyterServer) -> Kernel:
    kernel = Kernel(server)
    kernel.run(KERNEL_SETUP)
    return kernel


@pytest.mark.jupyter
def test_through_jupyter(browser, tmp_path):
    server = JupyterServer(tmp_path, base_url="/user/xr/", env={"PYTHONPATH": f"{REPO}{os.pathsep}{HERE}"})
    kernel = None
    try:
        server.wait_ready()
        # in a thread of its own: jupyter_client's blocking calls would share Playwright's asyncio loop here
        with ThreadPoolExecutor(1) as pool:
            kernel = pool.submit(start_kernel, server).result()
        url = server.vr_url()
        xr = XRPage(browser, url + "xr/")
        status = xr.wait_ready()
        assert status["layers"] == TINY_LAYERS
        choose_elsewhere(url, {"mode": 1, "imageID": 3})  # through the proxy too
        xr.wait("dvvr.result !== arg && /3/.test(dvvr.input)", status["result"])
        xr.click("dataset:1")
        xr.wait("dvvr.lastSwitch && /1/.test(dvvr.input)")
        assert xr.errors == []
        xr.close()
    finally:
        if kernel is not None:
            with ThreadPoolExecutor(1) as pool:
                pool.submit(kernel.shutdown).result()
        server.stop()
