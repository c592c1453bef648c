"""An input switch in the browser 3D client against the VR app's request
sequence for the same switch, on the same server; the client's draw calls
and texture memory.

For each project (demo: EfficientNet-Lite0; caltech101 on generated images),
start ``dvvr serve --no-precompute --cache-mb 0`` (every switch is a forward
pass, as for a model in training) and, in the same run, interleaved image
by image:
- browser: the 3D client (``xr/``) in headless Chromium (WebGL on
  SwiftShader) clicks a dataset image; measured in the page from the click
  to the first frame in which every layer shows the new result's maps (the
  atlas route: one binary PNG per layer, plus the classification and the
  input picture); bytes = bodies received for the switch;
- unity: ``protocol.client.VRClient.switch`` (``PUT prepareforinput``, then
  every activation, histogram and the classification at once, as the Unity
  app does), on the headset view ``h/bench/`` so that the page does not
  refresh for it; bytes = bodies received;
- atlas_http_ms: the browser's requests for the same switch sent from Python
  (``PUT prepareforinput``, then every atlas, the classification and the
  input picture, six at a time as Chromium sends them to one server), on the
  view ``h/http/``: the server's and HTTP's part of the browser's switch;
- browser_loaded_ms: the same switch until every answer was in and on its
  layer (what does not depend on the GPU: the frame after it waits for the
  CPU rasteriser's next frame here);
- the page's ``window.dvvr``: layers, maps, drawCalls (one desktop frame),
  textureBytes (every texture the client made: layer atlases, names, panels).

Goals (issue 14): browser_ms <= unity_ms; browser_bytes <= unity_bytes;
draw_calls <= 2 * layers + 30.  Timings on a shared machine with a CPU
rasteriser are noisy: compare the columns side by side, not across runs.

Run: python benchmarks/xr_switch.py [--switches 9]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from dvvr_jupyter.protocol.client import VRClient
from dvvr_jupyter.testing.browser import launch_chromium
from dvvr_jupyter.testing.xr import XRPage

sys.path.insert(0, str(Path(__file__).resolve().parent))
from switch import REPO, DvvrServe, caltech_folder  # noqa: E402


def atlas_switch(client: VRClient, layers: list, image: int) -> float:
    """Seconds for the browser client's requests of one switch, six at a time."""
    body = {"networkID": 0, "datasetID": 0, "noiseGeneratorID": 0, "imageID": image, "layerID": 0, "channelID": 0,
            "className": "", "mode": 1, "isRGB": True, "zeroValue": 0.0, "nDim": 2, "tex": None}
    resources = [f"network/0/atlas/layerid/{i}" for i, layer in enumerate(layers) if layer["data_type"] != "None"]
    resources += ["network/0/classificationresult", "network/0/input"]
    began = time.perf_counter()
    client.put("network/0/prepareforinput", json.dumps(body))
    with ThreadPoolExecutor(6) as pool:
        for data in pool.map(lambda r: fetch(client.base_url + r), resources):
            assert data
    return time.perf_counter() - began


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=120) as resp:
        return resp.read()


def bench(project: Path, env: dict, count: int, port: int, browser) -> dict:
    server = DvvrServe(project, env, port, "--no-precompute", "--cache-mb", "0")
    unity = VRClient(server.url + "h/bench/")
    http = VRClient(server.url + "h/http/")
    page = None
    try:
        state = unity.start_up()
        layers, n_images = state["networks"][0], len(state["datasets"][0]["tensors"])
        page = XRPage(browser, server.url + "xr/", viewport=(1280, 800))
        ready = page.wait_ready()
        page.frames(2)
        shown = page.status()
        unity.switch(0, layers, {"mode": 1, "imageID": 0})  # warm-up of both paths
        browser_runs, unity_runs, http_runs = [], [], []
        for i in range(count + 1):
            before = page.status()["lastSwitch"]
            page.click(f"dataset:{(2 * i + 1) % min(16, n_images)}")
            page.wait("dvvr.lastSwitch && dvvr.lastSwitch.n > arg && "
                      "Object.values(dvvr.shown).every((r) => r === dvvr.lastSwitch.result)", before["n"] if before else 0)
            switch = page.status()["lastSwitch"]
            stats = unity.switch(0, layers, {"mode": 1, "imageID": (2 * i + 2) % n_images})
            seconds = atlas_switch(http, layers, (2 * i + 3) % n_images)
            if i:  # the first of each is a warm-up
                browser_runs.append(switch)
                unity_runs.append(stats)
                http_runs.append(seconds)
        assert page.errors == [], page.errors
        browser_ms = statistics.median(r["ms"] for r in browser_runs)
        loaded_ms = statistics.median(r["loadedMs"] for r in browser_runs)
        unity_ms = statistics.median(s.seconds for s in unity_runs) * 1000
        browser_bytes = statistics.median(r["bytes"] for r in browser_runs)
        unity_bytes = statistics.median(s.nbytes for s in unity_runs)
        return {"project": project.name, "layers": ready["layers"], "maps": ready["maps"],
                "browser_requests": 2 + sum(1 for layer in layers if layer["data_type"] != "None") + 1,
                "unity_requests": unity_runs[0].requests + 1,
                "browser_ms": round(browser_ms, 1), "browser_loaded_ms": round(loaded_ms, 1),
                "atlas_http_ms": round(statistics.median(http_runs) * 1000, 1),
                "unity_ms": round(unity_ms, 1),
                "browser_vs_unity_time": round(browser_ms / unity_ms, 2),
                "browser_bytes": int(browser_bytes), "unity_bytes": int(unity_bytes),
                "browser_vs_unity_bytes": round(browser_bytes / unity_bytes, 3),
                "draw_calls": shown["drawCalls"], "draw_call_bound": 2 * ready["layers"] + 30,
                "texture_mb": round(shown["textureBytes"] / 2**20, 2)}
    finally:
        if page is not None:
            page.close()
        unity.close()
        http.close()
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--switches", type=int, default=9)
    parser.add_argument("--port", type=int, default=5620)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    rows = []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        browser = launch_chromium(playwright, webgl=True)
        cache = {"DVVR_CACHE_DIR": str(Path(tmp) / "cache")}
        caltech = {**cache, "CALTECH101_DIR": str(caltech_folder(Path(tmp)))}
        rows.append(bench(REPO / "projects" / "demo", cache, args.switches, args.port, browser))
        rows.append(bench(REPO / "projects" / "caltech101", caltech, args.switches, args.port + 1, browser))
        browser.close()
    print(f"$ python benchmarks/xr_switch.py --switches {args.switches}   ({os.cpu_count()} CPUs, "
          "Chromium with SwiftShader, median of the switches)")
    print(" | ".join(rows[0]))
    for row in rows:
        print(" | ".join(str(v) for v in row.values()))
    print("goals: browser_vs_unity_time <= 1; browser_vs_unity_bytes <= 1; draw_calls <= draw_call_bound")


if __name__ == "__main__":
    main()
