"""The Jupyter path: proxy overhead, latency while a cell trains, and the
training slowdown a connected VR client causes.

Starts a real Jupyter server (subprocess, base_url ``/user/bench/``, the
dvvr extension enabled, isolated runtime/data/config dirs), starts a kernel
through its REST API and drives it with jupyter_client; the kernel runs
``%load_ext dvvr`` + ``dvvr.load_project("projects/demo")`` and attaches a
torchvision resnet18(num_classes=10) that it trains (64x64, batch 16, SGD).
Then, every comparison measured side by side in this run:

1. proxy overhead: the VR client's input switch (``VRClient.switch``, same
   images) through Jupyter (``{base_url}dvvr/vr/<token>/``) vs direct to the
   kernel's loopback port (with its secret header), interleaved A B / B A,
   median each and the ratio (goal <= 1.10); each image is switched to once
   untimed first, so both paths get answers the kernel already computed (it
   keeps results per input): the ratio is the proxy against pure transport,
   the strictest case (a switch that computes adds the same ms to a longer
   time); then the same switch again (``switch_again``): through Jupyter
   the server's answer store answers its GETs (``serverext/store.py``);
   the same for a bare ``GET network`` and the start-up sequence;
2. latency while a training cell runs (~8 s, not awaited): ``GET network``
   and a full switch of the demo network through Jupyter, median/p95, idle
   vs during training (only samples inside the training loop's window);
3. training-step slowdown: the same loop (fixed steps, after warm-up) with
   no client vs while a client thread here switches continuously through
   Jupyter, on the trained (attached) network, whose live weights the engine
   copies on every switch, and on the demo network; and while a client only
   polls ``GET network/1/classificationresult`` at 10 Hz.  Rounds of
   none/attached/none/demo/none/poll; median step time each and the
   slowdown vs no client (goal <= 5 %).  torch.set_num_threads is the same
   in every variant.  A switch burns CPU the training would use: on a
   machine with few cores that is contention for cores, not locking.

Run: python benchmarks/jupyter.py [--rounds 10] [--train-rounds 3] [--steps 25] [--threads N] [--proxy-only]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from dvvr_jupyter.bridge.headers import SECRET_HEADER
from dvvr_jupyter.protocol.client import VRClient
from dvvr_jupyter.testing.jupyter import JupyterServer, Kernel

REPO = Path(__file__).resolve().parent.parent  # for projects/demo

BASE_URL = "/user/bench/"

SETUP = """
%load_ext dvvr
import json, time
import numpy as np, torch, torchvision, dvvr
from PIL import Image
torch.set_num_threads({threads})
dvvr.load_project({project!r})
torch.manual_seed(0)
bench_model = torchvision.models.resnet18(num_classes=10)
bench_model.train()
bench_opt = torch.optim.SGD(bench_model.parameters(), lr=0.01, momentum=0.9)
bench_x, bench_y = torch.randn(16, 3, 64, 64), torch.randint(0, 10, (16,))
_rng = np.random.default_rng(0)
bench_images = [(Image.fromarray((_rng.random((64, 64, 3)) * 255).astype(np.uint8)), i % 10) for i in range(8)]
dvvr.attach(bench_model, bench_images, name="resnet18 (training)", class_names=[f"class {{i}}" for i in range(10)],
            input_size=(64, 64))

def bench_step():
    bench_opt.zero_grad(set_to_none=True)
    loss = torch.nn.functional.cross_entropy(bench_model(bench_x), bench_y)
    loss.backward()
    bench_opt.step()

def bench_train(steps=None, seconds=None, warmup=3):
    for _ in range(warmup):
        bench_step()
    times, began = [], time.perf_counter()
    start_wall = time.time()
    while len(times) < (steps or 100000) and (seconds is None or time.perf_counter() - began < seconds):
        t = time.perf_counter()
        bench_step()
        times.append(time.perf_counter() - t)
    print("BENCH " + json.dumps({{"times": times, "start": start_wall, "end": time.time(),
                                 "threads": torch.get_num_threads()}}))

print("BENCH " + json.dumps({{"threads": torch.get_num_threads(), "networks": [n.name for n in dvvr.networks()]}}))
"""


# --- small helpers -----------------------------------------------------------------
def median_ms(values) -> float:
    return round(statistics.median(values) * 1000, 1) if values else float("nan")


def p95_ms(values) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)] * 1000, 1)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (all its threads)."""
    if pid == os.getpid():
        t = os.times()
        return t.user + t.system
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds all processes of the machine spent busy (``/proc/stat``)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


# --- the measurements -----------------------------------------------------------------
def served_cpu(jupyter_url: str, direct_url: str, secret: str, pids: dict, layers: list, n: int = 400) -> dict:
    """CPU of the serving process per answered GET, one request at a time:
    the same stored answers (an activation, a histogram, the classification)
    through Jupyter (its server process; the kernel idle) and straight from
    the kernel's server (the kernel process)."""
    maps = [i for i, layer in enumerate(layers) if layer["data_type"] == "2D_feature_map"]
    paths = ["network/0/classificationresult", f"network/0/activation/layerid/{maps[len(maps) // 2]}",
             f"network/0/activationhistogram/layerid/{maps[0]}"]
    clients = {"jupyter": VRClient(jupyter_url), "direct": VRClient(direct_url, headers={SECRET_HEADER: secret})}
    for client in clients.values():  # through both once: computed, and kept by the store
        for path in paths:
            client.request("GET", path, timeout=30)
    out = {}
    for way in ("jupyter", "direct", "jupyter", "direct"):
        before = cpu_seconds(pids[way]), cpu_seconds(pids["kernel"])
        for i in range(n):
            clients[way].request("GET", paths[i % len(paths)], timeout=30)
        used = cpu_seconds(pids[way]) - before[0]
        kernel = cpu_seconds(pids["kernel"]) - before[1]
        out.setdefault(way, []).append((used / n * 1000, kernel / n * 1000))
    for client in clients.values():
        client.close()
    return {way: {"server_cpu_ms": round(min(r[0] for r in rows), 3),
                  "kernel_cpu_ms": round(min(r[1] for r in rows), 3)} for way, rows in out.items()}


def proxy_overhead(jupyter_url: str, direct_url: str, secret: str, rounds: int) -> dict:
    headers = {SECRET_HEADER: secret}
    make = {"jupyter": lambda: VRClient(jupyter_url), "direct": lambda: VRClient(direct_url, headers=headers)}
    orders = [("jupyter", "direct"), ("direct", "jupyter")]

    startup = {"jupyter": [], "direct": []}
    state = None
    for r in range(3):
        for way in orders[r % 2]:
            client = make[way]()
            began = time.perf_counter()
            state = client.start_up()
            startup[way].append(time.perf_counter() - began)
            client.close()

    clients = {way: make[way]() for way in make}
    layers = state["networks"][0]
    n_images = state["datasets"][0]["len"]
    for way in clients:  # warm-up: connections, caches
        for i in range(2):
            clients[way].switch(0, layers, {"mode": 1, "imageID": i % n_images})
    get = {"jupyter": [], "direct": []}
    for r in range(max(20, rounds * 2)):
        for way in orders[r % 2]:
            get[way].append(clients[way].request("GET", "network", timeout=10).seconds)
    switch = {"jupyter": [], "direct": []}
    again = {"jupyter": [], "direct": []}
    requests = nbytes = 0
    for r in range(rounds):
        choice = {"mode": 1, "imageID": r % n_images}
        # untimed first: the kernel keeps results per input, so whichever path came second
        # would be answered from memory; now both are, and the ratio is the proxy on transport alone
        clients["direct"].switch(0, layers, choice)
        for samples in (switch, again):  # Jupyter's first switch to the input, then its second
            for way in orders[r % 2]:
                stats = clients[way].switch(0, layers, choice)
                samples[way].append(stats.seconds)
                requests, nbytes = stats.requests, stats.nbytes
    for client in clients.values():
        client.close()
    out = {"requests_per_switch": requests, "bytes_per_switch": nbytes, "switches_each": rounds}
    for name, samples in (("switch", switch), ("switch_again", again), ("get_network", get), ("startup", startup)):
        j, d = statistics.median(samples["jupyter"]), statistics.median(samples["direct"])
        out[name] = {"jupyter_ms": round(j * 1000, 1), "direct_ms": round(d * 1000, 1),
                     "ratio": round(j / d, 3), "added_ms": round((j - d) * 1000, 1)}
    return out, state


def sample_loop(client: VRClient, layers: list, n_images: int, until, max_iters: int):
    """Repeatedly: 4 x GET network, then a full switch of network 0; (t0, t1, kind, seconds)."""
    samples = []
    for i in range(max_iters):
        if until():
            break
        for _ in range(4):
            t0 = time.time()
            seconds = client.request("GET", "network", timeout=30).seconds
            samples.append((t0, time.time(), "get", seconds))
        t0 = time.time()
        seconds = client.switch(0, layers, {"mode": 1, "imageID": i % n_images}).seconds
        samples.append((t0, time.time(), "switch", seconds))
    return samples


def latency_during_training(kernel: Kernel, jupyter_url: str, state: dict, idle_iters: int, seconds: float) -> dict:
    client = VRClient(jupyter_url)
    layers, n_images = state["networks"][0], state["datasets"][0]["len"]
    idle = sample_loop(client, layers, n_images, lambda: False, idle_iters)

    result, errors = {}, []

    def train():
        try:
            result["train"] = kernel.run(f"bench_train(seconds={seconds})", timeout=seconds + 120)[0]
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    trainer = threading.Thread(target=train, daemon=True)
    trainer.start()
    deadline = time.time() + seconds + 120
    busy = sample_loop(client, layers, n_images, lambda: not trainer.is_alive() or time.time() > deadline, 10000)
    trainer.join(max(0.0, deadline - time.time()))
    client.close()
    if errors:
        raise errors[0]
    if "train" not in result:
        raise TimeoutError("the training cell did not finish")
    window = (result["train"]["start"], result["train"]["end"])
    during = [s for s in busy if s[0] >= window[0] and s[1] <= window[1]]

    def pick(samples, kind):
        return [s[3] for s in samples if s[2] == kind]

    out = {"training_s": round(window[1] - window[0], 1), "training_steps": len(result["train"]["times"]),
           "training_step_ms": median_ms(result["train"]["times"])}
    for kind, label in (("get", "get_network"), ("switch", "switch")):
        a, b = pick(idle, kind), pick(during, kind)
        out[label] = {"idle_n": len(a), "idle_median_ms": median_ms(a), "idle_p95_ms": p95_ms(a),
                      "training_n": len(b), "training_median_ms": median_ms(b), "training_p95_ms": p95_ms(b)}
    return out


class ClientLoad:
    """A client thread here: continuous switches through Jupyter, or polling."""

    def __init__(self, url: str, kind: str, state: dict):
        self.client = VRClient(url)
        self.kind = kind
        self.state = state
        self.stop = threading.Event()
        self.done = 0
        self.error = None
        self.began = self.ended = None
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        self.began = time.perf_counter()
        try:
            i = 0
            while not self.stop.is_set():
                if self.kind == "switch_attached":  # the trained resnet18: network 1, its images: dataset 1
                    layers, n = self.state["networks"][1], self.state["datasets"][1]["len"]
                    self.client.switch(1, layers, {"mode": 1, "datasetID": 1, "imageID": i % n})
                elif self.kind == "switch_demo":
                    layers, n = self.state["networks"][0], self.state["datasets"][0]["len"]
                    self.client.switch(0, layers, {"mode": 1, "datasetID": 0, "imageID": i % n})
                else:  # poll at 10 Hz
                    self.client.get("network/1/classificationresult", timeout=30)
                    self.stop.wait(0.1)
                self.done += 1
                i += 1
        except BaseException as exc:  # noqa: BLE001 - reported by the caller
            self.error = exc
        self.ended = time.perf_counter()

    def rate(self) -> float:
        return self.done / (self.ended - self.began) if self.ended and self.began else float("nan")

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(120)
        self.client.close()
        if self.error is not None and exc[0] is None:
            raise self.error


def training_slowdown(kernel: Kernel, jupyter_url: str, state: dict, rounds: int, steps: int,
                      pids: dict) -> dict:
    """``pids``: {"kernel": pid, "server": pid, "client": os.getpid()} for the CPU accounting."""
    order = ["none", "switch_attached", "none", "switch_demo", "none", "poll_cls"]
    kinds = list(dict.fromkeys(order))
    times = {kind: [] for kind in kinds}
    rates = {kind: [] for kind in kinds}
    cpu = {kind: {who: 0.0 for who in [*pids, "machine"]} for kind in kinds}
    wall = {kind: 0.0 for kind in kinds}
    code = f"bench_train(steps={steps})"
    for _ in range(rounds):
        for kind in order:
            before = {who: cpu_seconds(pid) for who, pid in pids.items()}
            before["machine"] = machine_busy_seconds()
            t = time.perf_counter()
            if kind == "none":
                res = kernel.run(code, timeout=300)[0]
            else:
                with ClientLoad(jupyter_url, kind, state) as load:
                    time.sleep(0.3)  # the client is mid-flight before the loop starts
                    res = kernel.run(code, timeout=300)[0]
                rates[kind].append(load.rate())
            wall[kind] += time.perf_counter() - t
            for who, pid in pids.items():
                cpu[kind][who] += cpu_seconds(pid) - before[who]
            cpu[kind]["machine"] += machine_busy_seconds() - before["machine"]
            times[kind].extend(res["times"])
    base = statistics.median(times["none"])
    out = {"steps_per_run": steps, "rounds": rounds}
    for kind in kinds:
        med = statistics.median(times[kind])
        out[kind] = {"step_median_ms": round(med * 1000, 1),
                     "step_mean_ms": round(statistics.fmean(times[kind]) * 1000, 1),
                     "steps": len(times[kind]), "slowdown_pct": round((med / base - 1) * 100, 1),
                     "client_ops_per_s": round(statistics.fmean(rates[kind]), 2) if rates[kind] else 0,
                     "cores_busy": {who: round(seconds / wall[kind], 2) for who, seconds in cpu[kind].items()}}
        busy = out[kind]["cores_busy"]
        busy["other"] = round(max(0.0, busy["machine"] - busy["kernel"] - busy["server"] - busy["client"]), 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="switches each way for the proxy overhead")
    parser.add_argument("--train-rounds", type=int, default=3, help="rounds of none/attached/none/demo/none/poll")
    parser.add_argument("--steps", type=int, default=25, help="training steps per timed run")
    parser.add_argument("--train-seconds", type=float, default=8.0, help="the training cell of the latency part")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch.set_num_threads in the kernel")
    parser.add_argument("--proxy-only", action="store_true", help="part 1 only (no training)")
    parser.add_argument("--answer-store-mb", type=float, default=None,
                        help="DvvrExtension.answer_store_mb of the server (0: every request forwarded)")
    args = parser.parse_args()

    figures: dict = {"cpus": os.cpu_count(), "torch_threads": args.threads, "began": time.time()}
    with tempfile.TemporaryDirectory(prefix="dvvr-bench-") as tmp_name:
        tmp = Path(tmp_name)
        server_class = JupyterServer
        if args.answer_store_mb is not None:
            server_class = type("Server", (JupyterServer,), {"ARGS": (f"--DvvrExtension.answer_store_mb={args.answer_store_mb}",)})
            figures["answer_store_mb"] = args.answer_store_mb
        server = server_class(tmp, base_url=BASE_URL)
        kernel = None
        try:
            figures["server_ready_s"] = round(server.wait_ready(), 1)
            t = time.time()
            kernel = Kernel(server)
            figures["kernel_ready_s"] = round(time.time() - t, 1)
            t = time.time()
            info = kernel.run(SETUP.format(threads=args.threads, project=str(REPO / "projects" / "demo")), timeout=300)[0]
            figures["setup_s"] = round(time.time() - t, 1)
            figures["kernel_torch_threads"] = info["threads"]
            figures["networks"] = info["networks"]
            entry = kernel.registration()
            jupyter_url, direct_url = server.vr_url(), f"http://127.0.0.1:{entry['port']}/"

            figures["proxy"], state = proxy_overhead(jupyter_url, direct_url, entry["secret"], args.rounds)
            figures["served_cpu"] = served_cpu(jupyter_url, direct_url, entry["secret"],
                                               {"jupyter": server.proc.pid, "direct": entry["pid"],
                                                "kernel": entry["pid"]}, state["networks"][0])
            if not args.proxy_only:
                figures["latency"] = latency_during_training(kernel, jupyter_url, state, seconds=args.train_seconds,
                                                             idle_iters=max(4, args.rounds // 2))
                pids = {"kernel": entry["pid"], "server": server.proc.pid, "client": os.getpid()}
                figures["slowdown"] = training_slowdown(kernel, jupyter_url, state, args.train_rounds, args.steps,
                                                        pids)
        except BaseException:
            log = tmp / "server.log"
            if log.exists():
                sys.stderr.write("--- Jupyter server log (tail) ---\n" + log.read_text(errors="replace")[-4000:])
            raise
        finally:
            if kernel is not None:
                kernel.shutdown()
            server.stop()
    report(args, figures)


def report(args, figures: dict) -> None:
    figures["total_s"] = round(time.time() - figures["began"], 1)
    del figures["began"]
    p = figures["proxy"]
    options = " --proxy-only" if args.proxy_only else ""
    if args.answer_store_mb is not None:
        options += f" --answer-store-mb {args.answer_store_mb:g}"
    print(f"$ python benchmarks/jupyter.py --rounds {args.rounds} --train-rounds {args.train_rounds} "
          f"--steps {args.steps} --threads {args.threads}{options}   ({os.cpu_count()} CPUs, torch threads in the kernel: "
          f"{figures['kernel_torch_threads']}, total {figures['total_s']} s)")
    print(f"server ready {figures['server_ready_s']} s, kernel ready {figures['kernel_ready_s']} s, "
          f"%load_ext + demo + attach {figures['setup_s']} s; networks: {figures['networks']}")
    print()
    print(f"1. proxy overhead (demo network, {p['requests_per_switch']} requests / "
          f"{p['bytes_per_switch'] / 1e6:.2f} MB per switch, {p['switches_each']} each, interleaved)")
    print("what | through Jupyter ms | direct ms | ratio | added ms")
    for name in ("switch", "switch_again", "get_network", "startup"):
        row = p[name]
        print(f"{name} | {row['jupyter_ms']} | {row['direct_ms']} | {row['ratio']} | {row['added_ms']}")
    print("goal: switch ratio <= 1.30 (switch: Jupyter's first switch to an input the kernel computed already; "
          "switch_again: its second, answered by the server's answer store)")
    cpu = figures["served_cpu"]
    print("CPU per answered GET (stored answers, one at a time; the lower of two rounds of 400): "
          f"through Jupyter {cpu['jupyter']['server_cpu_ms']} ms in the Jupyter server + "
          f"{cpu['jupyter']['kernel_cpu_ms']} ms in the kernel; direct {cpu['direct']['kernel_cpu_ms']} ms in the kernel")
    print()
    if args.proxy_only:
        print(json.dumps(figures))
        return
    lat, slow = figures["latency"], figures["slowdown"]
    print(f"2. latency through Jupyter while a cell trains resnet18 ({lat['training_steps']} steps in "
          f"{lat['training_s']} s, {lat['training_step_ms']} ms/step)")
    print("request | idle n | idle median ms | idle p95 ms | training n | training median ms | training p95 ms")
    for name in ("get_network", "switch"):
        row = lat[name]
        print(f"{name} | {row['idle_n']} | {row['idle_median_ms']} | {row['idle_p95_ms']} | {row['training_n']} | "
              f"{row['training_median_ms']} | {row['training_p95_ms']}")
    print()
    print(f"3. training-step slowdown ({slow['rounds']} rounds x {slow['steps_per_run']} steps, interleaved)")
    print("client | step median ms | step mean ms | steps | slowdown % | client ops/s | cores busy: kernel/server/client/other processes")
    for kind in ("none", "switch_attached", "switch_demo", "poll_cls"):
        row = slow[kind]
        cores = row["cores_busy"]
        print(f"{kind} | {row['step_median_ms']} | {row['step_mean_ms']} | {row['steps']} | {row['slowdown_pct']} | "
              f"{row['client_ops_per_s']} | {cores['kernel']}/{cores['server']}/{cores['client']}/{cores['other']}")
    print(f"goal: slowdown <= 5 %  (switch_*: a client switching back to back; poll_cls: GET classificationresult "
          f"at 10 Hz; {os.cpu_count()} CPUs: where the cores busy add up to the CPU count, a switch "
          f"takes cores from the training; 'other' is load from outside this benchmark)")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
