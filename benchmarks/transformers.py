"""A vision transformer against a CNN: input switch and feature visualization.

torchvision's ``vit_b_16`` (86 M parameters) and ``resnet18`` (12 M), random
weights (no downloads), 224x224 inputs, attached to one session and measured
in the same run, alternately (A B A B ...), so both see the same machine:

- attach: copying, tracing and the first forward pass (once each);
- switch: a new input (a random picture, never cached) until every tracked
  layer's channel pictures and histogram are encoded, as a switch of the VR
  client needs them; median over ``--switches``;
- forward: the bare forward pass of the engine's copy (no recording), the floor;
- featvis: ``--channels`` channels of one layer, ``--steps`` steps, one batch:
  a middle block (ViT: block 6, its 768 maps on the 14x14 grid; ResNet:
  ``layer3.1``, 256 maps of 14x14), and the ViT's block-6 attention (its 12 heads); median over ``--repeats``.

Run: python benchmarks/transformers.py [--switches 5] [--channels 16] [--steps 8] [--repeats 2] [--device cpu]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time

import torch
import torchvision

from dvvr import FeatVisConfig, Session
from dvvr_jupyter.engine.featvis.method import prepare_model, visualize
from dvvr_jupyter.engine.layers import INFO


def median_seconds(run, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def switch(network) -> None:
    result = network.set_input(torch.rand(3, 224, 224))
    for layer in network.layers:
        if layer.kind != INFO:
            result.channel_images(layer)


def featvis(network, layer, channels: int, steps: int, device) -> None:
    config = FeatVisConfig(steps=steps, batch_size=channels)
    model = prepare_model(copy.deepcopy(network.shadow.model), device, config.channels_last)
    start = network.pipeline.to_pixels(network.make_input(torch.rand(3, 224, 224)).tensor)
    visualize(model, network.tracking.capture, layer.id, start, range(channels), mean=None, std=None, config=config)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--switches", type=int, default=5)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.manual_seed(0)
    device = torch.device(args.device)
    session = Session(cache_dir=tempfile.mkdtemp())
    rows = {}
    networks = {}
    for name, build, block in (("vit_b_16", torchvision.models.vit_b_16, "encoder.layers.encoder_layer_5"),
                               ("resnet18", torchvision.models.resnet18, "layer3.1")):
        model = build(weights=None).to(device)
        began = time.perf_counter()
        network = session.attach(model, input_size=(224, 224), name=name, device=args.device)
        rows[name] = {"params (M)": sum(p.numel() for p in model.parameters()) / 1e6,
                      "layers": len(network.layers), "attach (s)": time.perf_counter() - began}
        networks[name] = (network, block)
        switch(network)  # warm-up
    for what in ("switch", "forward"):
        samples = {name: [] for name in networks}
        for _ in range(args.switches):  # alternately: both see the same machine
            for name, (network, _) in networks.items():
                if what == "switch":
                    samples[name].append(median_seconds(lambda network=network: switch(network), 1))
                else:
                    x = torch.rand(1, 3, 224, 224, device=device)
                    with torch.no_grad():
                        samples[name].append(median_seconds(lambda network=network, x=x: network.shadow.model(x), 1))
        for name in networks:
            rows[name][f"{what} (ms)"] = 1000 * statistics.median(samples[name])
    for name, (network, block) in networks.items():
        layer = next(layer for layer in network.layers if layer.module == block)
        rows[name]["featvis block (s)"] = median_seconds(
            lambda network=network, layer=layer: featvis(network, layer, args.channels, args.steps, device),
            args.repeats)
    vit, _ = networks["vit_b_16"]
    attention = next(layer for layer in vit.layers if layer.name.startswith("encoder.layers.encoder_layer_5 ")
                     and layer.name.endswith(" attention"))
    rows["vit_b_16"]["featvis attention (s)"] = median_seconds(
        lambda: featvis(vit, attention, attention.channels, args.steps, device), args.repeats)
    session.close()

    print(f"## vit_b_16 against resnet18 on {args.device} ({torch.get_num_threads()} threads), random weights, "
          f"224x224; featvis: {args.channels} channels (the 12 heads for attention), {args.steps} steps, one batch")
    print("command: python " + " ".join(sys.argv))
    columns = [key for key in rows["vit_b_16"]]
    print("| network | " + " | ".join(columns) + " |")
    print("|---|" + "---|" * len(columns))
    for name, row in rows.items():
        cells = [f"{row[c]:.0f}" if c in row and c.endswith("(ms)") else
                 f"{row[c]:.1f}" if c in row and isinstance(row[c], float) else str(row.get(c, "-"))
                 for c in columns]
        print(f"| {name} | " + " | ".join(cells) + " |")
    ratio = {c: rows["vit_b_16"][c] / rows["resnet18"][c] for c in ("switch (ms)", "forward (ms)", "featvis block (s)")}
    print("vit_b_16 / resnet18: " + ", ".join(f"{c.split(' (')[0]} {r:.1f}x" for c, r in ratio.items()))


if __name__ == "__main__":
    main()
