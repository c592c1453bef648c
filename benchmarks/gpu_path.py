"""The GPU path as the VR client meets it, in one fresh process: feature
visualization of three layers and the input switch, first request and warm,
with the same work split through the Python API and the switch's parts.

The Caltech-101 ResNet-18 [2,1,1,1] (random weights, seed 0) on ``--device``,
served by a real server on loopback and asked by the VR client's own
requests (``dvvr_jupyter.protocol.client.VRClient``):

- ``--settle`` seconds after the server answers (a user putting the headset
  on; the same for every checkout), ``setnetworkgenfeatvis``, then
  ``GET featurevisualization/layerid/{l}`` for layers 1, 17 and 27 (64, 128
  and 512 channels) one after another: the first request of each kind; then
  the same three again (warm: computed afresh, the process warm);
- switches: ``PUT prepareforinput`` plus every activation, histogram and the
  classification at once; the first switch, then the median of ``--switches``
  switches to images never shown before (a forward pass each), then the median
  of the same images again (answered from the result cache);
- then, in the serving process: the API, ``network.featvis.start(l).result()``
  for the same layers (warm), and the switch's parts: the forward pass alone
  (synchronised), and forward plus every layer's encoding
  (``Network._forward`` and all channel images), medians over the same images.

The server runs in a child process (the client's JSON and base64 work must
not share the server's interpreter lock).

Compare two checkouts by running this once from each, alternating
(``PYTHONPATH=CHECKOUT``), on the same machine.

Run: PYTHONPATH=. python benchmarks/gpu_path.py --device cuda [--label NAME] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import featvis_setup as setup  # noqa: E402

LAYERS = (1, 17, 27)


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def serve(args) -> None:
    """The serving process: attach, serve, print the URL; on "parts" on stdin
    time the API and the switch's parts, print them as JSON, and leave."""
    from dvvr import Server
    from dvvr_jupyter.engine.layers import INFO

    session = setup.new_session(args.device)
    bench = setup.caltech101(session, device=args.device)
    network = bench.network
    server = Server(session, "127.0.0.1", 0).start()
    print(server.url, flush=True)
    sys.stdin.readline()
    row: dict = {}
    try:
        for layer in args.chosen:
            t = time.perf_counter()
            network.featvis.start(layer).result()
            row[f"fv{layer}_api_s"] = round(time.perf_counter() - t, 3)
        if args.chosen:  # where the protocol's answer of the last layer goes: pictures -> PNG -> base64 -> JSON
            from dvvr_jupyter.engine import encode
            from dvvr_jupyter.protocol import wire

            layer = args.chosen[-1]
            images = network.featvis.stored(layer)
            parts = {"answer": lambda: wire.feature_visualization(network, layer, images),
                     "pngs_parallel": lambda: encode.rgb_pngs(images),
                     "pngs_one_thread": lambda: [encode.png_bytes(im.permute(1, 2, 0).contiguous().numpy())
                                                 for im in images]}
            for name, fn in parts.items():
                t = time.perf_counter()
                fn()
                row[f"fv{layer}_{name}_ms"] = ms(time.perf_counter() - t)
        forward, encoded = [], []
        capture, model = network.tracking.capture, network.shadow.model
        for i in range(args.switches):
            x = network.pipeline(network.dataset.item(i)[0]).unsqueeze(0).to(args.device)
            sync(args.device)
            t = time.perf_counter()
            with torch.no_grad():
                capture.run(model, x)
            sync(args.device)
            forward.append(time.perf_counter() - t)
            t = time.perf_counter()
            result = network._forward(network.make_input(i))
            for layer in network.layers:
                if layer.kind != INFO:
                    result.channel_images(layer)
            encoded.append(time.perf_counter() - t)
        row["forward_ms"] = ms(statistics.median(forward))
        row["forward_encode_ms"] = ms(statistics.median(encoded))
    finally:
        print(json.dumps(row), flush=True)
        server.stop()
        session.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--label", default="")
    parser.add_argument("--settle", type=float, default=3.0)
    parser.add_argument("--switches", type=int, default=11)
    parser.add_argument("--layers", default=",".join(map(str, LAYERS)), help="feature-visualization layer ids")
    parser.add_argument("--json", default=None)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.chosen = [int(x) for x in args.layers.split(",") if x]
    if args.serve:
        serve(args)
        return

    from dvvr_jupyter.protocol.client import VRClient

    began = time.perf_counter()
    child = subprocess.Popen([sys.executable, __file__, "--serve", *sys.argv[1:]], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    url = child.stdout.readline().strip()
    client = VRClient(url, timeout=600)
    row: dict = {"label": args.label, "device": torch.cuda.get_device_name() if args.device.startswith("cuda")
                 else "cpu"}
    try:
        layers = client.start_up()["networks"][0]
        row["ready_s"] = round(time.perf_counter() - began, 2)
        time.sleep(args.settle)
        client.put("network/0/setnetworkgenfeatvis")
        for when in ("first", "warm"):
            for layer in args.chosen:
                t = time.perf_counter()
                answer = client.request("GET", f"network/0/featurevisualization/layerid/{layer}")
                assert answer.status == 200, answer.body
                row[f"fv{layer}_{when}_s"] = round(time.perf_counter() - t, 3)
                row[f"fv{layer}_channels"] = len(answer.body["tensors"])
        if args.chosen:  # the same answer read as bytes, not parsed: the client's share is the rest
            layer = args.chosen[-1]
            t = time.perf_counter()
            with urllib.request.urlopen(f"{url}network/0/featurevisualization/layerid/{layer}") as raw:
                row[f"fv{layer}_bytes"] = len(raw.read())
            row[f"fv{layer}_unparsed_s"] = round(time.perf_counter() - t, 3)
        n_images = 20  # featvis_setup's photos
        t = time.perf_counter()
        client.switch(0, layers, {"mode": 1, "imageID": n_images - 1})
        row["switch_first_ms"] = ms(time.perf_counter() - t)
        images = [i % (n_images - 1) for i in range(args.switches)]
        cold = [client.switch(0, layers, {"mode": 1, "imageID": i}).seconds for i in images]
        cached = [client.switch(0, layers, {"mode": 1, "imageID": i}).seconds for i in images]
        row["switch_ms"] = ms(statistics.median(cold))
        row["switch_cached_ms"] = ms(statistics.median(cached))
        child.stdin.write("parts\n")
        child.stdin.flush()
        row.update(json.loads(child.stdout.readline()))
    finally:
        client.close()
        child.stdin.close()
        child.wait(60)
    print(f"$ PYTHONPATH=. python benchmarks/gpu_path.py --device {args.device} --settle {args.settle} "
          f"--switches {args.switches}")
    print(" | ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(row))


if __name__ == "__main__":
    main()
