"""Input-switch latency the way the VR client does it, against its floor.

For each project, start ``dvvr serve`` in a subprocess and measure:
- first answer: seconds from spawning ``dvvr serve`` to ``GET base_url`` = 200,
  and until the project is loaded (``GET network`` answers);
- switch: ``PUT prepareforinput`` then every activation, histogram and the
  classification concurrently (as the client does), median over N switches,
  and the bytes of one switch;
- floor, measured in this process in the same run: the bare forward pass plus
  encoding every tracked channel once (sequentially);
- http only: the same burst again with every answer already computed (what
  HTTP and JSON cost on their own, client included);
- peak RSS of the server process (VmHWM).

Run: python benchmarks/switch.py [--switches 15]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
from PIL import Image

from dvvr_jupyter.protocol.client import VRClient

REPO = Path(__file__).resolve().parent.parent  # for projects/


def caltech_folder(root: Path) -> Path:
    """101 class folders of random images (the architecture needs no real photos)."""
    folder = root / "101_ObjectCategories"
    rng = np.random.default_rng(0)
    for index in range(101):
        (folder / f"class_{index:03d}").mkdir(parents=True)
        pixels = (rng.random((200 + index, 300, 3)) * 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"class_{index:03d}" / "image_0001.jpg")
    return folder


def wait_for(url: str, deadline: float) -> float:
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return time.time()
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(url)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def floor_seconds(project: Path, env: dict, repeats: int) -> float:
    """Bare forward pass + encoding all tracked channels once, in this process."""
    os.environ.update(env)
    import torch

    from dvvr_jupyter.engine import encode
    from dvvr_jupyter.engine.project import load_project
    from dvvr_jupyter.engine.result import layer_tensor
    from dvvr_jupyter.engine.session import Session

    session = Session(cache_dir=tempfile.mkdtemp())
    network = load_project(project, session)[0]
    x = network.pipeline(session.datasets[0].item(0)[0]).unsqueeze(0)
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        with torch.no_grad():
            _, activations = network.capture.run(network.shadow.model, x)
        for activation in activations:
            if activation is not None:
                encode.layer_pngs(layer_tensor(activation))
        times.append(time.perf_counter() - began)
    session.close()
    return statistics.median(times)


def bench(project: Path, env: dict, switches: int, port: int) -> dict:
    full_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
    began = time.time()
    proc = subprocess.Popen([sys.executable, "-m", "dvvr_jupyter.cli", "serve", str(project), "--port", str(port),
                             "--log-level", "WARNING"], env=full_env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/"
    try:
        first = wait_for(base, began + 120) - began
        loaded = wait_for(base + "network", began + 300) - began
        client = VRClient(base)
        state = client.start_up()
        layers = state["networks"][0]
        n_images = state["datasets"][0]["len"]
        client.switch(0, layers, {"mode": 1, "imageID": 0})  # warm-up
        runs = [client.switch(0, layers, {"mode": 1, "imageID": (i + 1) % n_images}) for i in range(switches)]
        # The protocol's own cost: every request of a refresh again, all answers already computed.
        http_only = statistics.median(client.refresh(0, layers).seconds for _ in range(switches))
        client.close()
        rss = peak_rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(10)
    floor = floor_seconds(project, env, repeats=max(5, switches // 2))
    median = statistics.median(r.seconds for r in runs)
    return {"project": project.name, "layers": len(layers), "requests": runs[0].requests,
            "first_answer_s": round(first, 2), "loaded_s": round(loaded, 2),
            "switch_median_ms": round(median * 1000, 1), "floor_ms": round(floor * 1000, 1),
            "http_only_ms": round(http_only * 1000, 1),
            "ratio": round(median / floor, 2), "bytes_per_switch": runs[0].nbytes, "peak_rss_mb": round(rss)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--switches", type=int, default=15)
    parser.add_argument("--port", type=int, default=5590)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cache = {"DVVR_CACHE_DIR": str(Path(tmp) / "cache")}
        caltech = {**cache, "CALTECH101_DIR": str(caltech_folder(Path(tmp)))}
        rows.append(bench(REPO / "projects" / "demo", cache, args.switches, args.port))
        rows.append(bench(REPO / "projects" / "caltech101", caltech, args.switches, args.port + 1))
    print(f"$ python benchmarks/switch.py --switches {args.switches}   ({os.cpu_count()} CPUs)")
    header = ["project", "layers", "requests", "first_answer_s", "loaded_s", "switch_median_ms", "floor_ms", "ratio",
              "http_only_ms", "bytes_per_switch", "peak_rss_mb"]
    print(" | ".join(header))
    for row in rows:
        print(" | ".join(str(row[h]) for h in header))
    print("goals: ratio <= 1.5; caltech101 peak_rss_mb < 848; first_answer_s <= 3.3")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
