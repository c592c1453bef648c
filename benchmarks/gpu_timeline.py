"""Where a feature-visualization request and an input switch spend their
time on the GPU path: timestamps of their stages, server and client side.

The same network and server as ``gpu_path.py`` (a child process serving the
Caltech-101 ResNet-18 on ``--device``); the child wraps the stages of a
request in timers (``perf_counter``: the same clock in both processes), the
client stamps sending, the answer's headers, its body and its parsing.
Printed per request: each stage's start and end in ms after the client sent
it.  Then ``--switches`` switches to images never shown and the same again
(already computed), with the CPU seconds the client and the server process
spent per switch.

Run: PYTHONPATH=. python benchmarks/gpu_timeline.py --device cuda
"""

from __future__ import annotations

import argparse
import functools
import http.client
import json
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import featvis_setup as setup  # noqa: E402

EVENTS: list[tuple[str, float, float]] = []
_lock = threading.Lock()


def timed(owner, name: str, label: str) -> None:
    """Wrap ``owner.name`` so each call records (label, start, end)."""
    original = getattr(owner, name)

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        began = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            with _lock:
                EVENTS.append((label, began, time.perf_counter()))

    setattr(owner, name, wrapper)


def timed_async(owner, name: str, label: str) -> None:
    original = getattr(owner, name)

    @functools.wraps(original)
    async def wrapper(*args, **kwargs):
        began = time.perf_counter()
        try:
            return await original(*args, **kwargs)
        finally:
            with _lock:
                EVENTS.append((label, began, time.perf_counter()))

    setattr(owner, name, wrapper)


def instrument() -> None:
    from dvvr_jupyter.engine import capture, encode, network, result
    from dvvr_jupyter.engine.featvis import copies, results, service, store
    from dvvr_jupyter.protocol import handlers, wire

    timed_async(handlers.FeatureVisualizationHandler, "get", "handler.get")
    timed_async(handlers.ProtocolHandler, "featvis_images", "handler.featvis_images")
    timed(service.FeatVisService, "_run", "worker._run")
    timed(copies.ModelCopies, "models", "copies.models")
    timed(service, "visualize", "visualize")
    timed(results.Results, "keep", "results.keep")
    timed(store.FeatVisStore, "save", "store.save")
    timed(service.FeatVisService, "_finish", "_finish")
    timed(service.FeatVisService, "_release", "worker._release")
    timed(wire, "feature_visualization", "wire.feature_visualization")
    timed(encode, "rgb_pngs", "encode.rgb_pngs")
    timed(handlers.ProtocolHandler, "finish", "handler.finish")
    timed_async(handlers.PrepareForInputHandler, "put", "handler.prepareforinput")
    timed_async(handlers.ActivationHandler, "get", "handler.activation")
    timed(network.Network, "_forward", "network._forward")
    timed(capture.HookCapture, "run", "capture.run")
    timed(network, "to_host", "network.to_host")
    if hasattr(network, "encode_on_device"):  # not in checkouts before the device-side scaling
        from dvvr_jupyter.engine import device_encode

        timed(network, "encode_on_device", "network.encode_on_device")
        timed(device_encode, "scale_layers", "device_encode.scale_layers")
        timed(device_encode, "channel_images", "device_encode.channel_images")
    timed(result, "channel_images", "channel_images")
    timed(network, "channel_images", "channel_images")


def serve(args) -> None:
    from dvvr import Server

    instrument()
    session = setup.new_session(args.device)
    bench = setup.caltech101(session, device=args.device)
    server = Server(session, "127.0.0.1", 0).start()
    print(server.url, flush=True)
    while (line := sys.stdin.readline().strip()) and line != "quit":
        if line == "events":
            with _lock:
                print(json.dumps(EVENTS), flush=True)
                EVENTS.clear()
    server.stop()
    session.close()
    del bench


class Stamped:
    """One keep-alive connection; ``get`` returns the body and its timestamps."""

    def __init__(self, url: str):
        parts = urllib.parse.urlsplit(url)
        self.path = parts.path
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=600)

    def get(self, resource: str) -> tuple[dict, dict]:
        t = {"sent": time.perf_counter()}
        self.connection.request("GET", self.path + resource)
        response = self.connection.getresponse()
        t["headers"] = time.perf_counter()
        raw = response.read()
        t["body"] = time.perf_counter()
        body = json.loads(raw)
        t["parsed"] = time.perf_counter()
        t["bytes"] = len(raw)
        return body, t


def show(title: str, stamps: dict, events: list) -> None:
    zero = stamps["sent"]
    print(f"--- {title}: {stamps['bytes'] / 1e6:.1f} MB")
    for label, began, ended in sorted(events, key=lambda e: e[1]):
        if began >= zero - 0.001:
            print(f"  {label:32s} {1000 * (began - zero):8.1f} {1000 * (ended - zero):8.1f}  ({1000 * (ended - began):.1f})")
    for key in ("headers", "body", "parsed"):
        print(f"  client {key:25s} {1000 * (stamps[key] - zero):17.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--settle", type=float, default=3.0)
    parser.add_argument("--layers", default="1,17,27")
    parser.add_argument("--switches", type=int, default=11)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args)
        return
    import psutil

    from dvvr_jupyter.protocol.client import VRClient

    child = subprocess.Popen([sys.executable, __file__, "--serve", *sys.argv[1:]], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    url = child.stdout.readline().strip()
    server = psutil.Process(child.pid)

    def events() -> list:
        child.stdin.write("events\n")
        child.stdin.flush()
        return json.loads(child.stdout.readline())

    client = VRClient(url, timeout=600)
    try:
        layers = client.start_up()["networks"][0]
        time.sleep(args.settle)
        client.put("network/0/setnetworkgenfeatvis")
        stamped = Stamped(url)
        events()
        for when in ("first", "warm"):
            for layer in [int(x) for x in args.layers.split(",") if x]:
                _, stamps = stamped.get(f"network/0/featurevisualization/layerid/{layer}")
                time.sleep(0.3)  # the worker's release after the job, outside the next request
                show(f"featvis layer {layer} ({when})", stamps, events())
        n_images = 20
        client.switch(0, layers, {"mode": 1, "imageID": n_images - 1})
        images = [i % (n_images - 1) for i in range(args.switches)]
        for kind in ("never shown", "already computed"):
            seconds, cpu_client, cpu_server = [], [], []
            for i in images:
                own, theirs = time.process_time(), sum(server.cpu_times()[:2])
                seconds.append(client.switch(0, layers, {"mode": 1, "imageID": i}).seconds)
                cpu_client.append(time.process_time() - own)
                cpu_server.append(sum(server.cpu_times()[:2]) - theirs)
            last = events()
            print(f"--- switches, {kind}: median {1000 * statistics.median(seconds):.1f} ms; CPU per switch: "
                  f"client {1000 * statistics.median(cpu_client):.1f} ms, server {1000 * statistics.median(cpu_server):.1f} ms")
            for label in sorted({e[0] for e in last}):
                spans = [1000 * (e[2] - e[1]) for e in last if e[0] == label]
                print(f"  {label:32s} n={len(spans):4d} median {statistics.median(spans):7.2f} ms  "
                      f"sum/switch {sum(spans) / len(images):7.1f} ms")
    finally:
        client.close()
        child.stdin.write("quit\n")
        child.stdin.flush()
        child.wait(60)


if __name__ == "__main__":
    main()
