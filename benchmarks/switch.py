"""Input-switch latency the way the VR client does it, against its floor.

For each project, start ``dvvr serve`` twice in subprocesses and measure:
- cold switch: a server that computes nothing ahead and keeps no results
  (``--no-precompute --cache-mb 0``): every switch is a forward pass plus
  encoding, as for a model that is being trained;
- warm switch: the default server, after it computed the dataset page and the
  noise image ahead while idle: a switch is answered from memory;
- a switch = ``PUT prepareforinput`` then every activation, histogram and the
  classification concurrently (as the client does), median over N switches,
  and the bytes of one switch;
- floor, measured in this process in the same run: the bare forward pass plus
  encoding every tracked channel once (sequentially), with torch's default
  intra-op threads and with one, whichever is faster;
- http only: the same burst again with every answer already computed (what
  HTTP and JSON cost on their own, client included);
- first answer: seconds from spawning ``dvvr serve`` to ``GET base_url`` = 200,
  and until the project is loaded (``GET network`` answers);
- peak RSS of each server process (VmHWM);
- CPU milliseconds per cold switch of our server's process and the
  baseline's (``/proc``), and of this process, the client (on the same cores):
  steadier than wall times on a machine that others load too.

``--original URL``: a running original DeepVisionVR server serving the
caltech101 network; its switches are interleaved with the cold ones of ours
(image by image) and reported in the same table.  ``--baseline CHECKOUT``:
another checkout of this project (say the last release, for "no slowdown"),
served from its own code and interleaved the same way.

``--profile DIR``: py-spy (``--gil``: who holds the interpreter lock) records
our cold server while it is switched; DIR/<project>-cold-gil.txt holds the
collapsed stacks and the table printed sorts the samples into the parts of a
switch.  py-spy slows the server: that run's times are not comparable.

Run: python benchmarks/switch.py [--switches 21] [--original http://127.0.0.1:5580/] [--baseline ../old]
         [--projects demo] [--profile DIR]
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


def get_json(url: str, timeout: float = 2):
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read())


def wait_for(url: str, deadline: float, condition=lambda body: True, interval: float = 0.02) -> float:
    while time.time() < deadline:
        try:
            if condition(get_json(url)):
                return time.time()
        except OSError:
            pass
        time.sleep(interval)
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
    from dvvr_jupyter.engine.capture import layer_tensor
    from dvvr_jupyter.engine.project import load_project
    from dvvr_jupyter.engine.session import Session

    session = Session(cache_dir=tempfile.mkdtemp())
    network = load_project(project, session)[0]
    x = network.pipeline(session.datasets[0].item(0)[0]).unsqueeze(0)
    default_threads = torch.get_num_threads()
    medians = []
    # torch's default intra-op threads and one: on a busy 2-core machine an OpenMP team of two waits
    # for a descheduled member at every barrier (3-7x slower); the floor is the faster of the two
    for threads in sorted({default_threads, 1}):
        torch.set_num_threads(threads)
        times = []
        for _ in range(repeats):
            began = time.perf_counter()
            with torch.no_grad():
                _, activations = network.tracking.capture.run(network.shadow.model, x)
            for activation in activations:
                if activation is not None:  # the layer's scaling and one PNG per channel
                    encode.gray_pngs(encode.scale_layer(encode.layer_array(layer_tensor(activation)))[0])
            times.append(time.perf_counter() - began)
        medians.append(statistics.median(times))
    torch.set_num_threads(default_threads)
    session.close()
    return min(medians)


class DvvrServe:
    """``dvvr serve PROJECT`` in a subprocess (from ``checkout``'s code if given)."""

    def __init__(self, project: Path, env: dict, port: int, *extra: str, checkout: Path | None = None):
        self.began = time.time()
        code = {"PYTHONPATH": str(checkout)} if checkout else {}
        # `python -m` puts its working directory first on the path: run in the checkout whose code is meant
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dvvr_jupyter.cli", "serve", str(project.resolve()), "--port", str(port),
             "--log-level", "WARNING", *extra],
            env={**os.environ, **env, **code, "PYTHONUNBUFFERED": "1"}, cwd=str((checkout or REPO).resolve()),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{port}/"
        self.first = wait_for(self.url, self.began + 120) - self.began
        self.loaded = wait_for(self.url + "network", self.began + 300) - self.began

    def stop(self) -> float:
        rss = peak_rss_mb(self.proc.pid)
        self.proc.terminate()
        self.proc.wait(10)
        return rss


def cpu_seconds(pid: int | None) -> float:
    """CPU time a process has used (user + system), all its threads."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def switches(client: VRClient, layers: list, count: int, n_images: int, others=(), pids=()) -> list[list]:
    """``count`` switches over the dataset page (warm-up first); each image is
    switched on every one of ``others`` ((client, layers) pairs) too, right
    after ours.  One list of runs per server, ours first; with ``pids`` (one
    per server, ``None`` for one not ours) each run's ``cpu_s`` is what that
    server's process spent on it and ``client_cpu_s`` what this process did."""
    servers = [(client, layers), *others]
    pids = list(pids) or [None] * len(servers)
    for who, architecture in servers:
        who.switch(0, architecture, {"mode": 1, "imageID": 0})
    runs: list[list] = [[] for _ in servers]
    for i in range(count):
        choice = {"mode": 1, "imageID": (i + 1) % n_images}
        for mine, (who, architecture), pid in zip(runs, servers, pids, strict=True):
            began, client_began = cpu_seconds(pid), time.process_time()
            run = who.switch(0, architecture, choice)
            run.cpu_s, run.client_cpu_s = cpu_seconds(pid) - began, time.process_time() - client_began
            mine.append(run)
    return runs


def cpu_ms(runs) -> float:
    """Mean CPU milliseconds per switch of the server's process (ticks of 10 ms: a mean, not a median)."""
    return round(statistics.mean(r.cpu_s for r in runs) * 1000, 1) if runs else float("nan")


def median_ms(runs) -> float:
    return round(statistics.median(r.seconds for r in runs) * 1000, 1) if runs else float("nan")


#: The parts of a cold switch, by the functions a sample's stack holds (first match wins).
PARTS = [
    ("garbage collection", ["gc_collect_main"]),  # with --native only
    ("encode: PNGs", ["gray_pngs"]),
    ("encode: histogram, scaling", ["layer_histogram", "scale_layer", "channel_images",
                                    "layer_histogram.<locals>.<genexpr>"]),
    ("answer: base64 and JSON", ["activation.<locals>.build", "activation_histogram.<locals>.build",
                                 "classification.<locals>.build", "weight_histogram", "_tensors_answer"]),
    ("forward pass", ["Network._forward", "Network.set_input"]),
    ("HTTP: socket", ["IOStream.write_to_fd", "IOStream.read_from_fd"]),
    ("HTTP: tornado, handlers, futures", ["BaseEventLoop._run_once", "HTTP1Connection", "HTTPHeaders",
                                          "RequestHandler", "PathMatches", "_HandlerDelegate"]),
    ("worker threads: hand-offs", ["_worker"]),
]


def profile_parts(raw: Path) -> list[tuple[str, int, float]]:
    """(part, samples, share) of py-spy's collapsed stacks."""
    counts: dict[str, int] = {}
    for line in raw.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        frames = {frame.split(" (")[0] for frame in stack.split(";")}
        # a partial stack (py-spy keeps some to their innermost frames) is matched by class name too
        part = next((name for name, keys in PARTS
                     if frames & set(keys) or any(frame.split(".")[0] in keys for frame in frames)), "other")
        counts[part] = counts.get(part, 0) + int(samples)
    total = sum(counts.values()) or 1
    return [(part, n, n / total) for part, n in sorted(counts.items(), key=lambda kv: -kv[1])]


class Profiler:
    """py-spy recording a process's interpreter lock holders until ``stop``."""

    def __init__(self, pid: int, out: Path, native: bool = False):
        self.out = out
        # --native sees the C side (the garbage collector) but stops the process at each sample
        how = ["--native", "-r", "100"] if native else ["--nonblocking", "-r", "250"]
        self.proc = subprocess.Popen(["py-spy", "record", "--gil", "--threads", *how,
                                      "--format", "raw", "-p", str(pid), "-o", str(out)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)  # attached

    def stop(self) -> list[tuple[str, int, float]]:
        self.proc.send_signal(2)  # py-spy writes its file on SIGINT
        self.proc.wait(30)
        return profile_parts(self.out)


def bench(project: Path, env: dict, count: int, port: int, original: str | None, baseline: Path | None,
          profile: Path | None = None, native: bool = False) -> dict:
    row: dict = {"project": project.name}
    # cold: nothing ahead, nothing kept
    server = DvvrServe(project, env, port, "--no-precompute", "--cache-mb", "0")
    # the baseline checkout under the same conditions (cold: nothing ahead, nothing kept), switched alternately with ours
    before = (DvvrServe(baseline / "projects" / project.name, env, port + 10, "--no-precompute", "--cache-mb", "0",
                        checkout=baseline) if baseline else None)
    try:
        client = VRClient(server.url)
        state = client.start_up()
        layers, n_images = state["networks"][0], state["datasets"][0]["len"]
        others = []
        for url in (original, before.url if before else None):
            if url:
                theirs = VRClient(url)
                others.append((theirs, theirs.get("network/0")["architecture"]))
        profiler = (Profiler(server.proc.pid, profile / f"{project.name}-cold-gil.txt", native=native)
                    if profile else None)
        pids = [server.proc.pid, *([None] if original else []), *([before.proc.pid] if before else [])]
        cold, *other_runs = switches(client, layers, count, n_images, others, pids)
        if profiler:
            row["profile"] = profiler.stop()
        orig = other_runs.pop(0) if original else []
        old = other_runs.pop(0) if before else []
        http_only = statistics.median(client.refresh(0, layers).seconds for _ in range(count))
        client.close()
    finally:
        row["cold_rss_mb"] = round(server.stop())
        if before:
            row["baseline_rss_mb"] = round(before.stop())
    row["cold_cpu_ms"] = cpu_ms(cold)
    row["client_cpu_ms"] = round(statistics.mean(r.client_cpu_s for r in cold) * 1000, 1)
    if old:
        row["baseline_cpu_ms"] = cpu_ms(old)
        row["baseline_ms"] = median_ms(old)
        row["baseline_vs_cold"] = round(row["baseline_ms"] / median_ms(cold), 2)
    row.update(layers=len(layers), requests=cold[0].requests, bytes_per_switch=cold[0].nbytes,
               first_answer_s=round(server.first, 2), loaded_s=round(server.loaded, 2),
               cold_ms=median_ms(cold), http_only_ms=round(http_only * 1000, 1))
    if orig:
        row["original_ms"] = median_ms(orig)
    # warm: the default server, once it has computed the page ahead
    server = DvvrServe(project, env, port + 1)
    try:
        wait_for(server.url, time.time() + 600, lambda body: body.get("precompute") == "settled", interval=0.5)
        row["precomputed_s"] = round(time.time() - server.began, 1)
        client = VRClient(server.url)
        client.start_up()
        (warm,) = switches(client, layers, count, n_images)
        client.close()
        row["cached_results"] = get_json(server.url)["cached_results"]
    finally:
        row["warm_rss_mb"] = round(server.stop())
    row["warm_ms"] = median_ms(warm)
    floor = floor_seconds(project, env, repeats=max(5, count // 2))
    row["floor_ms"] = round(floor * 1000, 1)
    row["cold_vs_floor"] = round(row["cold_ms"] / row["floor_ms"], 2)
    if orig:
        row["original_vs_cold"] = round(row["original_ms"] / row["cold_ms"], 2)
        row["original_vs_warm"] = round(row["original_ms"] / row["warm_ms"], 2)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--switches", type=int, default=21)
    parser.add_argument("--port", type=int, default=5590)
    parser.add_argument("--original", help="base URL of a running original server (caltech101 network)")
    parser.add_argument("--baseline", type=Path, help="another checkout of this project to compare with")
    parser.add_argument("--projects", default="demo,caltech101", help="comma-separated: demo, caltech101")
    parser.add_argument("--profile", type=Path, help="record our cold server with py-spy into this folder")
    parser.add_argument("--native", action="store_true", help="--profile with native frames (stops the server)")
    args = parser.parse_args()
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    projects = args.projects.split(",")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cache = {"DVVR_CACHE_DIR": str(Path(tmp) / "cache")}
        if "demo" in projects:
            rows.append(bench(REPO / "projects" / "demo", cache, args.switches, args.port, None, args.baseline,
                              args.profile, args.native))
        if "caltech101" in projects:
            caltech = {**cache, "CALTECH101_DIR": str(caltech_folder(Path(tmp)))}
            rows.append(bench(REPO / "projects" / "caltech101", caltech, args.switches, args.port + 2, args.original,
                              args.baseline, args.profile, args.native))
    command = (f"python benchmarks/switch.py --switches {args.switches}" + (" --original URL" if args.original else "")
               + (" --baseline CHECKOUT" if args.baseline else "")
               + (f" --projects {args.projects}" if args.projects != "demo,caltech101" else "")
               + (" --profile DIR" if args.profile else "") + (" --native" if args.native else ""))
    print(f"$ {command}   ({os.cpu_count()} CPUs)")
    header = ["project", "layers", "requests", "cold_ms", "warm_ms", "floor_ms", "cold_vs_floor", "http_only_ms",
              "original_ms", "original_vs_cold", "original_vs_warm", "baseline_ms", "baseline_vs_cold",
              "cold_cpu_ms", "baseline_cpu_ms", "client_cpu_ms",
              "bytes_per_switch", "cold_rss_mb", "warm_rss_mb", "baseline_rss_mb",
              "cached_results", "first_answer_s", "loaded_s", "precomputed_s"]
    print(" | ".join(header))
    for row in rows:
        print(" | ".join(str(row.get(h, "")) for h in header))
    print("goals: cold_vs_floor <= 1.3 (issue 16); original_vs_* >= 3; caltech101 cold_rss_mb < 848; "
          "first_answer_s <= 3.3")
    for row in rows:
        if "profile" in row:
            print(f"{row['project']}: the cold server's interpreter lock, by part of the switch (py-spy --gil; "
                  f"times above are slowed by it)")
            for part, samples, share in row.pop("profile"):
                print(f"  {part:34s} {samples:6d}  {share * 100:5.1f} %")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
