"""Feature visualization: dvvr against the seed's method (and Lucent), side by side.

For each network (the seed's Caltech-101 ResNet with random weights, the
demo's pretrained EfficientNet-Lite0) and each of an early, middle and late
layer, in one process and interleaved:

- speed, channels per second: the reference (benchmarks/featvis_reference.py:
  200 steps, batches of 32, whole network) timed on one batch of 32 for
  ``--ref-timing-steps`` steps and scaled to 200; dvvr (its defaults) on
  ``--speed-channels`` channels (default: on a CPU one batch of its default
  size, 32, like the reference's: the quality sample topped up with the
  layer's first other channels; on CUDA the whole layer);
- quality on ``--channels`` channels spread over the layer: (a) the target's
  mean activation on its picture over the most it reaches on the 20 photos,
  median; (b) how often the target is the layer's most active channel
  (rank 1) and in the top 3, on its picture; for the reference, dvvr's
  default, dvvr's Fourier parameterisation (same steps) and Lucent's
  defaults (if ``torch-lucent`` is installed);
- ``--sheets``: contact sheets (PNG) of the pictures per layer;
- ``--generate-all``: the VR client's "generate all" on the Caltech network
  through a real server on loopback (every layer requested at once), with
  the input-switch latency measured while it runs and the RSS before/after;
- ``--devices cuda:0,cuda:1``: the same "generate all" spread over several
  devices, after the one-device run.

Run from the repository root (no install needed beyond torch, torchvision,
numpy, pillow and tornado):

    PYTHONPATH=. python benchmarks/featvis.py --device cpu
    PYTHONPATH=. python benchmarks/featvis.py --device cuda --generate-all --sheets
    PYTHONPATH=. python benchmarks/featvis.py --device cuda --devices cuda:0,cuda:1 --only-generate-all
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import featvis_setup as setup  # noqa: E402
from featvis_reference import BATCH, STEPS, reference_visualize  # noqa: E402

from dvvr_jupyter.engine.featvis.config import CPU_BATCH, GPU_BATCH, FeatVisConfig  # noqa: E402
from dvvr_jupyter.engine.featvis.method import prepare_model, visualize  # noqa: E402


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# --- the methods, each returning uint8 pictures [K, 3, H, W] ---------------------------
def run_reference(bench, layer, channels, steps=STEPS, batch=BATCH):
    x = reference_visualize(bench.model, bench.capture, layer.id, bench.inputs[0].to(bench.network.device),
                            channels, steps=steps, batch=batch)
    return (bench.network.pipeline.to_pixels(x.cpu()) * 255).round().to(torch.uint8)


def run_dvvr(bench, layer, channels, config: FeatVisConfig, model=None):
    """dvvr's render loop on the model copy its service prepares (channels-last by default)."""
    mean, std = bench.network.pipeline.normalize or (None, None)
    if model is None:
        model = bench.network.featvis.copies.models(config)[0][0]
    return visualize(model, bench.capture, layer.id, bench.start_pixels(), channels, mean=mean, std=std,
                     config=config)


def run_lucent(bench, layer, channels, steps):
    """Lucent's defaults: a random start in its Fourier / decorrelated
    parameterisation, Adam 0.05, its standard transforms, the whole network."""
    from lucent.optvis import objectives, param, render, transform

    spec = bench.network.tracking.specs[layer.id]
    name = spec.source.replace(".", "_")  # lucent names modules that way
    objective = sum((objectives.channel(name, c, batch=i) for i, c in enumerate(channels)), start=0)
    h, w = bench.network.input_size
    mean, std = (torch.tensor(v, device=bench.network.device).view(1, 3, 1, 1)
                 for v in bench.network.pipeline.normalize)
    transforms = [*transform.standard_transforms, lambda x: (x - mean) / std]
    # a copy: Lucent leaves its hooks (holding the last activations) on every module it saw
    model = copy.deepcopy(bench.model)
    images = render.render_vis(model, objective, lambda: param.image(w, h, batch=len(channels)),
                               transforms=transforms, thresholds=(steps,), preprocess=False, progress=False,
                               show_image=False, fixed_image_size=(h, w))
    pixels = torch.from_numpy(images[-1]).permute(0, 3, 1, 2)
    return (pixels.clamp(0, 1) * 255).round().to(torch.uint8)


def lucent_available() -> bool:
    """Whether Lucent imports.  It imports scikit-learn and IPython at module level for
    features this benchmark never calls (channel reducers, notebook display); where
    they are not installed (a bare GPU machine) empty stand-ins take their place."""
    import importlib.util
    import types

    for name in ("sklearn", "sklearn.decomposition", "IPython", "IPython.display"):
        if name in sys.modules:
            continue
        try:
            missing = importlib.util.find_spec(name) is None
        except ModuleNotFoundError:
            missing = True
        if missing:
            sys.modules.setdefault(name, types.ModuleType(name))
    try:
        import lucent.optvis.render  # noqa: F401
    except Exception as error:  # noqa: BLE001 - any import failure means "skip it", said once
        print(f"# Lucent rows left out: {error!r}")
        return False
    return True


# --- one layer ----------------------------------------------------------------------
def bench_layer(args, bench, where, layer, rows, sheets):
    device = args.device
    channels = setup.sample_channels(layer.channels, args.channels)
    dataset_max = bench.channel_means(layer.id, bench.inputs).max(0).values
    config = FeatVisConfig()
    label = f"{bench.name} {where} ({layer.name}, {layer.channels} ch)"
    print(f"# {label}: channels {channels}", flush=True)

    # speed, interleaved: reference (one batch of 32, scaled to 200 steps), then dvvr; each warmed up
    # first on the shapes it is timed with (a new shape's first CUDA step loads and tunes kernels)
    ref_channels = setup.sample_channels(layer.channels, BATCH)
    if args.speed_channels < 0:
        speed_channels = list(range(layer.channels))
    else:  # the quality sample, topped up to the asked count: its pictures come from the timed run
        extra = [c for c in range(layer.channels) if c not in channels]
        speed_channels = sorted(channels + extra[:max(0, args.speed_channels - len(channels))])
    first_batch = speed_channels[:GPU_BATCH if device.startswith("cuda") else CPU_BATCH]
    run_reference(bench, layer, ref_channels, steps=2)
    run_dvvr(bench, layer, first_batch, replace(config, steps=2))
    run_dvvr(bench, layer, channels, replace(config, steps=2))
    sync(device)
    began = time.perf_counter()
    run_reference(bench, layer, ref_channels, steps=args.ref_timing_steps)
    sync(device)
    ref_speed = len(ref_channels) / ((time.perf_counter() - began) * STEPS / args.ref_timing_steps)
    sync(device)
    began = time.perf_counter()
    pictures = run_dvvr(bench, layer, speed_channels, config)
    sync(device)
    dvvr_speed = len(speed_channels) / (time.perf_counter() - began)
    index = [speed_channels.index(c) for c in channels] if set(channels) <= set(speed_channels) else None
    dvvr_pictures = pictures[index] if index is not None else run_dvvr(bench, layer, channels, config)

    results = {"reference": (run_reference(bench, layer, channels, batch=max(len(channels), 1)), STEPS, ref_speed),
               "dvvr": (dvvr_pictures, config.steps, dvvr_speed)}
    if device.startswith("cuda"):  # what bf16 autocast and channels-last do to speed and to the proxies
        plain = replace(config, autocast=False, channels_last=False)
        plain_model = prepare_model(copy.deepcopy(bench.model), device, False, bench.capture,
                                    bench.inputs[:1].to(device))
        run_dvvr(bench, layer, first_batch, replace(plain, steps=2), model=plain_model)
        sync(device)
        began = time.perf_counter()
        fp32 = run_dvvr(bench, layer, speed_channels, plain, model=plain_model)
        sync(device)
        results["dvvr fp32"] = (fp32[index] if index is not None else run_dvvr(bench, layer, channels, plain,
                                                                                model=plain_model),
                                plain.steps, len(speed_channels) / (time.perf_counter() - began))
    fourier = replace(config, param="fourier")
    began = time.perf_counter()
    results["dvvr fourier"] = (run_dvvr(bench, layer, channels, fourier), fourier.steps,
                               len(channels) / (time.perf_counter() - began))
    if args.lucent and lucent_available() and where in args.lucent_layers:
        began = time.perf_counter()
        results["lucent"] = (run_lucent(bench, layer, channels, args.lucent_steps), args.lucent_steps,
                             len(channels) / (time.perf_counter() - began))
    for method, (images, steps, speed) in results.items():
        quality = setup.proxies(bench, layer.id, channels, images, dataset_max)
        rows.append({"network": bench.name, "layer": where, "name": layer.name, "C": layer.channels,
                     "method": method, "steps": steps, "ch_per_s": speed, "x_ref": speed / ref_speed, **quality})
        print(format_row(rows[-1]), flush=True)
    if args.sheets:
        path = HERE / f"featvis_sheet_{bench.name}_{where}_{device.split(':')[0]}.png"
        setup.contact_sheet([(m, r[0][:8]) for m, r in results.items()], path)
        sheets.append(path)


HEADER = (f"{'network':<20}{'layer':<22}{'method':<14}{'steps':>6}{'ch/s':>9}{'x ref':>7}"
          f"{'ratio(a)':>10}{'rank1':>7}{'top3':>6}{'med.rank':>9}")


def format_row(r) -> str:
    return (f"{r['network']:<20}{(r['layer'] + ' ' + r['name'])[:21]:<22}{r['method']:<14}{r['steps']:>6}"
            f"{r['ch_per_s']:>9.3f}{r['x_ref']:>7.1f}{r['ratio']:>10.2f}{r['rank1']:>4}/{r['n']:<2}"
            f"{r['top3']:>3}/{r['n']:<2}{r['median_rank']:>9.1f}")


def profile(args):
    """Where one dvvr batch spends its time: torch.profiler's top operators, per layer."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    session = setup.new_session(args.device)
    bench = setup.BUILDERS[args.networks.split(",")[0]](session, device=args.device)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if args.device.startswith("cuda") else [])
    for where, layer in bench.pick_layers(args.layers.split(",")).items():
        channels = setup.sample_channels(layer.channels, args.channels)
        config = FeatVisConfig(steps=6)
        run_dvvr(bench, layer, channels, replace(config, steps=2))  # warm-up on the profiled shapes
        with torch_profile(activities=activities) as prof:
            run_dvvr(bench, layer, channels, config)
        key = "self_cuda_time_total" if args.device.startswith("cuda") else "self_cpu_time_total"
        print(f"## profile: {bench.name} {where} ({layer.name}), {len(channels)} channels, 6 steps")
        print(prof.key_averages().table(sort_by=key, row_limit=14))
    session.close()


def batch_sweep(args):
    """Milliseconds per channel-step of dvvr against the batch size (4 steps, after a warm-up)."""
    session = setup.new_session(args.device)
    bench = setup.caltech101(session, device=args.device)
    sizes = [int(s) for s in args.batch_sweep.split(",")]
    for where, layer in bench.pick_layers(args.layers.split(",")).items():
        cells = []
        for size in sizes:
            channels = [c % layer.channels for c in range(size)]
            config = FeatVisConfig(steps=4, batch_size=size)
            run_dvvr(bench, layer, channels[:2], replace(config, steps=1))
            sync(args.device)
            began = time.perf_counter()
            run_dvvr(bench, layer, channels, config)
            sync(args.device)
            cells.append(f"{size}: {1000 * (time.perf_counter() - began) / (4 * size):.2f}")
        print(f"## batch sweep, caltech101 {where} ({layer.name}), ms per channel-step: " + ", ".join(cells),
              flush=True)
    session.close()


# --- "generate all" through a real server ----------------------------------------------
def generate_all(args, devices=None):
    """Every layer of the Caltech network requested at once, as the VR client's
    "generate all" does, while an input switch is measured now and then."""
    from dvvr import Server
    from dvvr_jupyter.protocol.client import VRClient

    session = setup.new_session(args.device)
    bench = setup.caltech101(session, device=args.device)
    network = bench.network
    if devices:
        network.featvis.config = replace(network.featvis.config, devices=tuple(devices))
    server = Server(session, "127.0.0.1", 0).start()
    client = VRClient(server.url, timeout=3600)
    try:
        layers = client.start_up()["networks"][0]
        idle = [client.switch(0, layers, {"mode": 1, "imageID": i % 4}).seconds for i in range(args.switches)]
        wanted = [i for i, layer in enumerate(layers) if layer["data_type"] != "None"][:args.generate_layers or None]
        client.put("network/0/setnetworkgenfeatvis")
        rss_before = rss_mb()
        began = time.perf_counter()
        answers = {}

        def ask(layer_id):
            answers[layer_id] = client.request("GET", f"network/0/featurevisualization/layerid/{layer_id}")

        threads = [threading.Thread(target=ask, args=(i,)) for i in wanted]
        for thread in threads:
            thread.start()
        busy = []
        while any(thread.is_alive() for thread in threads):
            busy.append(client.switch(0, layers, {"mode": 1, "imageID": len(busy) % 4}).seconds)
            if len(busy) >= args.switches:
                break
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - began
        statuses = sorted({a.status for a in answers.values()})
        channels = sum(len(a.body.get("tensors", [])) for a in answers.values())
        rss_after_job = rss_mb()
        network.featvis._release()  # what the worker does once its queue is empty
        rss_released = rss_mb()
        return {"devices": ",".join(devices) if devices else args.device, "layers": len(wanted),
                "channels": channels, "seconds": seconds, "statuses": statuses,
                "switch_idle_ms": 1000 * statistics.median(idle), "switch_busy_ms": 1000 * statistics.median(busy),
                "switches_during": len(busy), "rss_before_mb": rss_before, "rss_after_mb": rss_after_job,
                "rss_released_mb": rss_released, "peak_rss_mb": peak_rss_mb()}
    finally:
        client.close()
        server.stop()
        session.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--devices", default=None, help="comma-separated devices for the multi-device 'generate all'")
    parser.add_argument("--networks", default="caltech101,efficientnet-lite0")
    parser.add_argument("--layers", default="early,middle,late")
    parser.add_argument("--channels", type=int, default=16, help="channels sampled per layer for quality")
    parser.add_argument("--speed-channels", type=int, default=None,
                        help="channels dvvr is timed on: the quality sample topped up to this many "
                             "(-1: the whole layer; default: 32 on a CPU, -1 on CUDA)")
    parser.add_argument("--ref-timing-steps", type=int, default=None,
                        help="reference steps timed on a batch of 32 (scaled to 200; default 10 on CPU, 200 on CUDA)")
    parser.add_argument("--lucent", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--lucent-steps", type=int, default=512)
    parser.add_argument("--lucent-layers", default="early,middle,late")
    parser.add_argument("--sheets", action="store_true", help="save contact sheets (PNG) in benchmarks/")
    parser.add_argument("--generate-all", action="store_true", help="time the client's 'generate all' (Caltech)")
    parser.add_argument("--only-generate-all", action="store_true")
    parser.add_argument("--generate-layers", type=int, default=0, help="request only the first N layers (0: all)")
    parser.add_argument("--switches", type=int, default=5, help="input switches measured idle and during the job")
    parser.add_argument("--batch-sweep", default=None, help="only: time these batch sizes (e.g. 8,16,32,64)")
    parser.add_argument("--profile", action="store_true",
                        help="only: torch.profiler's top operators of dvvr (the first of --networks)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--json", default=None, help="also write the rows here")
    args = parser.parse_args(argv)
    cuda = args.device.startswith("cuda")
    if args.speed_channels is None:
        args.speed_channels = -1 if cuda else CPU_BATCH
    if args.ref_timing_steps is None:
        args.ref_timing_steps = STEPS if cuda else 10
    if args.threads:
        torch.set_num_threads(args.threads)
    args.lucent_layers = args.lucent_layers.split(",")
    print(f"# {' '.join(sys.argv)}")
    print(f"# torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} threads, {os.cpu_count()} cores"
          + (f", {torch.cuda.get_device_name()}" if cuda else ""), flush=True)
    rows, sheets, runs = [], [], []
    if args.profile:
        profile(args)
        return 0
    if args.batch_sweep:
        batch_sweep(args)
        return 0
    if not args.only_generate_all:
        session = setup.new_session(args.device)
        print(HEADER, flush=True)
        for name in args.networks.split(","):
            bench = setup.BUILDERS[name](session, device=args.device)
            if bench is None:
                continue
            for where, layer in bench.pick_layers(args.layers.split(",")).items():
                bench_layer(args, bench, where, layer, rows, sheets)
        session.close()
    if args.generate_all or args.only_generate_all:
        runs.append(generate_all(args))
        if args.devices:
            runs.append(generate_all(args, args.devices.split(",")))
    print()
    print("## quality and speed (x ref: channels per second over the reference's, same run)")
    print(HEADER)
    for row in rows:
        print(format_row(row))
    for run in runs:
        print(f"## generate all, Caltech-101 network on {run['devices']}: {run['layers']} layers, "
              f"{run['channels']} channels in {run['seconds']:.1f} s (answers {run['statuses']}); input switch "
              f"{run['switch_idle_ms']:.0f} ms idle, {run['switch_busy_ms']:.0f} ms during it "
              f"({run['switches_during']} switches); RSS {run['rss_before_mb']:.0f} MB before, "
              f"{run['rss_after_mb']:.0f} MB after, {run['rss_released_mb']:.0f} MB once released, "
              f"peak {run['peak_rss_mb']:.0f} MB")
    for path in sheets:
        print(f"## contact sheet: {path.relative_to(HERE.parent)}")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "generate_all": runs}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
