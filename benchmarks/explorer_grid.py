"""The explorer's channel grid in a real browser: from a click to the grid
on screen, for the demo's layers, with channel pages sent as raw pixels or
as one PNG per page.

Starts JupyterLab (subprocess, base_url ``/user/bench/``), opens a notebook
in Debian's headless Chromium (Playwright) that loads the demo
(EfficientNet-Lite0) and shows ``dvvr.explorer``, then, side by side in one
run, for each format (``w.grid_format``, set from a cell while idle; the
order alternates between rounds) and round:

- *layer click*: a click on a layer in the map until its first page is drawn
  (the widget stamps ``performance.now()`` at the click and after drawing):
  the stem (32 channels of 112x112), block 8 (112 of 14x14) and the head
  (1280 of 7x7, 256 a page);
- *input click*: a click on a photo until the grid of the selected layer
  (the head) is drawn for the new input (a forward pass of the network, its
  encoding, the request through the Jupyter server, drawing);
- *headset to widget*: a photo chosen through the VR URL (``PUT
  prepareforinput``) until the widget frames it (the kernel's push on the
  widget's comm), counted from the request and from its answer.

Prints medians and 90th percentiles (ms) and the bytes of one page.  The
requests go through the Jupyter server's authenticated route to the kernel's
own server thread, as in use.

Run: python benchmarks/explorer_grid.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

import nbformat

from dvvr_jupyter.testing.browser import LabServer, NotebookPage, launch_chromium

REPO = Path(__file__).resolve().parent.parent
LAYERS = {"stem": "Stem", "block 8": "_blocks.8 ", "head": "_conv_head"}  # the head last: input clicks show it


def notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    nb.cells = [nbformat.v4.new_code_cell("%load_ext dvvr"),
                nbformat.v4.new_code_cell(f"import dvvr\n(net,) = dvvr.load_project({str(REPO / 'projects' / 'demo')!r})\n"
                                          "w = dvvr.explorer(net)\nw"),
                nbformat.v4.new_code_cell("w.grid_format = 'raw'")]
    return nb


def drawn_after_click(page, condition: str, arg=None) -> float:
    """ms from the click stamp to the draw stamp, once ``condition`` holds."""
    page.wait_for_function(condition, arg=arg, timeout=120_000)
    return page.evaluate("() => { const g = document.querySelector('.dvvr-grid').dataset;"
                         " return Number(g.drawnAt) - Number(g.clickedAt); }")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        server = LabServer(Path(tmp), base_url="/user/bench/")
        try:
            server.wait_ready()
            nbformat.write(notebook(), server.root / "bench.ipynb")
            with sync_playwright() as playwright:
                browser = launch_chromium(playwright)
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(server.lab_url("bench.ipynb"))
                nb = NotebookPage(page, "bench.ipynb")
                nb.wait_kernel()
                nb.run_cells_before(2)
                page.wait_for_selector(".dvvr-explorer[data-ready='1'] canvas.dvvr-grid-canvas", timeout=180_000)
                ids = json.loads(page.evaluate("() => JSON.stringify(Object.fromEntries([...document.querySelectorAll("
                                               "'.dvvr-layer')].map(g => [g.textContent, Number(g.dataset.layerId)])))"))
                layer_ids = {label: next(i for name, i in ids.items() if name.startswith(prefix) or prefix in name)
                             for label, prefix in LAYERS.items()}
                times: dict[tuple[str, str], list[float]] = {}
                photo = 0
                for round_ in range(args.rounds):
                    for fmt in ("raw", "png") if round_ % 2 == 0 else ("png", "raw"):  # ABBA: no order bias
                        nb.set_source(2, f"w.grid_format = {fmt!r}")
                        nb.start_cell(2)
                        nb.wait_kernel()
                        for label, layer in layer_ids.items():
                            page.click(f".dvvr-layer[data-layer-id='{layer}']")
                            ms = drawn_after_click(page, "id => { const g = document.querySelector('.dvvr-grid').dataset;"
                                                   " return g.layerId === String(id) && Number(g.drawnAt) > Number(g.clickedAt); }",
                                                   layer)
                            times.setdefault((fmt, f"layer click: {label}"), []).append(ms)
                        photo = (photo + 1) % 20
                        before = page.get_attribute(".dvvr-grid", "data-result-id")
                        page.click(f".dvvr-thumb[data-index='{photo}']")
                        ms = drawn_after_click(page, "r => { const g = document.querySelector('.dvvr-grid').dataset;"
                                               " return g.resultId !== r && Number(g.drawnAt) > Number(g.clickedAt); }", before)
                        times.setdefault((fmt, "input click (head grid)"), []).append(ms)
                # headset -> widget: an input chosen through the VR URL until the widget frames it
                from dvvr_jupyter.protocol.client import VRClient

                client = VRClient(server.vr_url())
                follow = []
                for _ in range(args.rounds):
                    photo = (photo + 7) % 20
                    began = time.perf_counter()
                    answer = client.request("PUT", "network/0/prepareforinput", json.dumps({"mode": 1, "imageID": photo}))
                    assert answer.status == 200, answer.body
                    answered = time.perf_counter()
                    page.wait_for_selector(f".dvvr-thumb[data-index='{photo}'].dvvr-current", timeout=60_000)
                    framed = time.perf_counter()
                    follow.append(((framed - began) * 1000, (framed - answered) * 1000))
                client.close()
                browser.close()
            kernel_id = server.api("GET", "api/kernels")[0]["id"]
            sizes = {}
            for fmt in ("raw", "png"):
                for label, layer in layer_ids.items():
                    url = f"{server.base}dvvr/api/explorer/{kernel_id}/network/0/layer/{layer}/channels/0/256/{fmt}"
                    request = urllib.request.Request(url, headers={"Authorization": f"token {server.token}"})
                    with urllib.request.urlopen(request, timeout=30) as response:
                        sizes[(fmt, label)] = len(response.read())
        finally:
            server.stop()
    print(f"python benchmarks/explorer_grid.py --rounds {args.rounds}   ({time.strftime('%Y-%m-%d %H:%M')}, "
          f"2 cores shared with other work)")
    print("| what | raw pixels: median / p90 ms | one PNG per page: median / p90 ms |")
    print("| --- | --- | --- |")
    for what in dict.fromkeys(w for _, w in times):
        cells = []
        for fmt in ("raw", "png"):
            values = sorted(times[(fmt, what)])
            p90 = values[min(len(values) - 1, int(round(0.9 * (len(values) - 1))))]
            cells.append(f"{statistics.median(values):.0f} / {p90:.0f}")
        print(f"| {what} | {cells[0]} | {cells[1]} |")
    print(f"| headset picks a photo -> the widget frames it: from the PUT / after its answer | "
          f"{statistics.median(f[0] for f in follow):.0f} / {statistics.median(f[1] for f in follow):.0f} ms (median) | |")
    print("| bytes of the first page | " + " · ".join(f"{label} {sizes[('raw', label)]:,}" for label in LAYERS)
          + " | " + " · ".join(f"{label} {sizes[('png', label)]:,}" for label in LAYERS) + " |")


if __name__ == "__main__":
    main()
