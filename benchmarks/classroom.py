"""A class in headsets: N simulated VR clients against the demo network.

Each client makes the VR client's real request sequence (``PUT
prepareforinput`` then every activation, histogram and the classification,
8 requests in flight per client), standalone (``dvvr serve projects/demo``)
and through Jupyter (a real Jupyter server under ``/user/bench/`` and a
kernel that ran ``%load_ext dvvr`` and loaded the demo), in two modes:

- follow: one lecturer switches input (the shared view) each round, then the
  other N-1 headsets refresh the same view at once (all answers computed once);
- independent: every headset has its own URL (``h/<name>/``) and switches to
  its own images, all at once.

For N = 1, 8, 20: wall time of the whole run, p50/p95 of one headset's
refresh (a switch for the lecturer and independent headsets), megabytes
moved, errors (any non-200 answer or failed request), and the peak RSS of
the serving process.  The clients read the bodies as bytes (no JSON parsing:
a real headset is another machine; here the clients share the server's 2
cores).  The first round of each client checks its answers with the
reference client's checks.

Run: python benchmarks/classroom.py [--rounds 6] [--clients 1,8,20] [--paths standalone,jupyter]
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from dvvr_jupyter.protocol.client import VRClient
from dvvr_jupyter.testing.jupyter import JupyterServer, Kernel, free_port
from dvvr_jupyter.testing.waiting import wait_until

REPO = Path(__file__).resolve().parent.parent
IN_FLIGHT = 8  # requests each headset keeps in flight during a refresh


class Headset:
    """One simulated VR client: keep-alive connections, bodies read as bytes."""

    def __init__(self, base_url: str, architecture: list):
        self.url = urllib.parse.urlsplit(base_url)
        self.resources = []
        for layer_id, layer in enumerate(architecture):
            if layer["data_type"] == "2D_feature_map":
                self.resources += [f"network/0/weighthistogram/layerid/{layer_id}",
                                   f"network/0/activationhistogram/layerid/{layer_id}"]
            if layer["data_type"] != "None":
                self.resources.append(f"network/0/activation/layerid/{layer_id}")
        self.resources.append("network/0/classificationresult")
        self._local = threading.local()
        self.pool = ThreadPoolExecutor(IN_FLIGHT)
        self.errors = 0
        self.nbytes = 0
        self._lock = threading.Lock()

    def _request(self, method: str, resource: str, body: bytes | None = None) -> None:
        for attempt in (1, 2):
            connection = getattr(self._local, "connection", None)
            if connection is None:
                connection = http.client.HTTPConnection(self.url.hostname, self.url.port, timeout=120)
                self._local.connection = connection
            try:
                connection.request(method, self.url.path + resource, body=body)
                response = connection.getresponse()
                data = response.read()
                with self._lock:
                    self.nbytes += len(data)
                    if response.status != 200:
                        self.errors += 1
                return
            except (http.client.HTTPException, OSError):
                connection.close()
                self._local.connection = None
                if attempt == 2:
                    with self._lock:
                        self.errors += 1

    def refresh(self) -> float:
        began = time.perf_counter()
        list(self.pool.map(lambda r: self._request("GET", r), self.resources))
        return time.perf_counter() - began

    def switch(self, image_id: int) -> float:
        began = time.perf_counter()
        self._request("PUT", "network/0/prepareforinput", json.dumps({"mode": 1, "imageID": image_id}).encode())
        self.refresh()
        return time.perf_counter() - began

    def close(self) -> None:
        self.pool.shutdown()


def check_once(base_url: str, image_id: int) -> None:
    """The reference client's reading of one switch (raises where the Unity client would break)."""
    client = VRClient(base_url, concurrency=IN_FLIGHT)
    try:
        client.switch(0, client.get("network/0")["architecture"], {"mode": 1, "imageID": image_id})
    finally:
        client.close()


def percentile(values, q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)] if ordered else float("nan")


def run(base_url: str, n: int, mode: str, rounds: int, n_images: int) -> dict:
    architecture = VRClient(base_url).get("network/0")["architecture"]
    bases = [base_url if mode == "follow" else f"{base_url}h/headset-{i}/" for i in range(n)]
    for i, base in enumerate(bases if mode == "independent" else bases[:1]):
        check_once(base, (i * 5) % n_images)
    headsets = [Headset(base, architecture) for base in bases]
    times: list[float] = []
    began = time.perf_counter()
    with ThreadPoolExecutor(n) as crowd:
        if mode == "follow":
            lecturer, class_ = headsets[0], headsets[1:]
            for r in range(rounds):
                times.append(lecturer.switch((r + 1) % n_images))
                times += list(crowd.map(lambda h: h.refresh(), class_))
        else:
            def own(i: int) -> list[float]:
                return [headsets[i].switch((i * 5 + r + 1) % n_images) for r in range(rounds)]

            for done in crowd.map(own, range(n)):
                times += done
    wall = time.perf_counter() - began
    for headset in headsets:
        headset.close()
    return {"clients": n, "mode": mode, "wall_s": round(wall, 2),
            "p50_ms": round(statistics.median(times) * 1000, 1), "p95_ms": round(percentile(times, 0.95) * 1000, 1),
            "mb": round(sum(h.nbytes for h in headsets) / 1e6, 1), "errors": sum(h.errors for h in headsets)}


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024)
    return float("nan")


def standalone(tmp: Path, clients: list[int], rounds: int) -> tuple[list[dict], dict]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "dvvr_jupyter.cli", "serve", str(REPO / "projects" / "demo"),
                             "--port", str(port), "--log-level", "WARNING"],
                            env={**os.environ, "DVVR_CACHE_DIR": str(tmp / "cache")},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        def settled():
            try:
                return VRClient(url).get("").get("precompute") == "settled"
            except (OSError, AssertionError):
                return False

        wait_until(settled, 600, "dvvr serve did not load and precompute")
        n_images = VRClient(url).get("dataset/0/images")["len"]
        rows = [run(url, n, mode, rounds, n_images) for mode in ("follow", "independent") for n in clients]
        return rows, {"serving process peak RSS MB": peak_rss_mb(proc.pid)}
    finally:
        proc.terminate()
        proc.wait(20)


KERNEL_SETUP = """
%load_ext dvvr
import dvvr
dvvr.load_project({project!r})
print("BENCH " + __import__("json").dumps({{"networks": len(dvvr.networks())}}))
"""


def through_jupyter(tmp: Path, clients: list[int], rounds: int) -> tuple[list[dict], dict]:
    server = JupyterServer(tmp / "jupyter", base_url="/user/bench/")
    kernel = None
    try:
        server.wait_ready()
        kernel = Kernel(server)
        kernel.run(KERNEL_SETUP.format(project=str(REPO / "projects" / "demo")))
        url = server.vr_url()
        n_images = VRClient(url).get("dataset/0/images")["len"]
        rows = [run(url, n, mode, rounds, n_images) for mode in ("follow", "independent") for n in clients]
        pid = kernel.registration()["pid"]
        return rows, {"kernel peak RSS MB": peak_rss_mb(pid), "Jupyter server peak RSS MB": peak_rss_mb(server.proc.pid)}
    finally:
        if kernel is not None:
            kernel.shutdown()
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--clients", default="1,8,20")
    parser.add_argument("--paths", default="standalone,jupyter")
    args = parser.parse_args()
    clients = [int(c) for c in args.clients.split(",")]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for path in args.paths.split(","):
            runner = {"standalone": standalone, "jupyter": through_jupyter}[path]
            results[path] = runner(Path(tmp) / path, clients, args.rounds)
    print(f"$ python benchmarks/classroom.py --rounds {args.rounds} --clients {args.clients} --paths {args.paths}"
          f"   ({os.cpu_count()} CPUs, clients on the same machine)")
    print("path | mode | clients | wall_s | vs 1 client | p50_ms | p95_ms | MB | errors")
    for path, (rows, memory) in results.items():
        for row in rows:
            one = next(r for r in rows if r["mode"] == row["mode"] and r["clients"] == 1)
            print(f"{path} | {row['mode']} | {row['clients']} | {row['wall_s']} | "
                  f"{row['wall_s'] / one['wall_s']:.2f} | {row['p50_ms']} | {row['p95_ms']} | {row['mb']} | "
                  f"{row['errors']}")
        print(f"{path}: " + ", ".join(f"{k} {v}" for k, v in memory.items()))
    print("goals: follow 8 <= 2x of 1; independent 8 <= 4x of 1; 20 clients 0 errors")
    print(json.dumps({path: rows for path, (rows, _) in results.items()}))


if __name__ == "__main__":
    main()
