"""What a user waiting for a feature visualization sees: the demo's
``_blocks.8`` (112 channels of 14x14) visualised as the explorer starts it,
timing the first progress report, the first pictures shown (the first
finished batch) and the whole layer, and counting the progress reports.

Before: progress moved once per batch of 32 channels and no picture showed
until the end; now progress is reported per optimisation step (at most
twice a second) with an estimate of the time left, and each finished batch
is shown.  Timings on a shared machine vary: read the three figures of one
run against each other.

    PYTHONPATH=. python benchmarks/featvis_progress.py [--steps N] [--layer _blocks.8]
"""

from __future__ import annotations

import argparse
import json
import threading
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layer", default="_blocks.8", help="the module whose layer is visualised")
    parser.add_argument("--steps", type=int, default=None, help="optimisation steps (default: dvvr's)")
    args = parser.parse_args()

    import tempfile
    from dataclasses import replace

    from dvvr_jupyter.engine.events import FeatVisProgress
    from dvvr_jupyter.engine.project import load_project
    from dvvr_jupyter.engine.session import Session

    session = Session(cache_dir=tempfile.mkdtemp(prefix="dvvr-featvis-progress-"))  # nothing stored before
    (network,) = load_project("projects/demo", session)
    layer = next(layer for layer in network.layers if layer.module == args.layer)
    if args.steps:
        network.featvis.config = replace(network.featvis.config, steps=args.steps)
    reports: list[tuple[float, int, float | None]] = []
    first_picture = threading.Event()
    began = time.perf_counter()
    seen = {}

    def on_progress(event):
        if event.layer != layer.id:
            return
        job = network.featvis.job(layer)
        reports.append((time.perf_counter() - began, event.done, job.eta_s if job else None))
        if job is not None and any(job.ready) and "picture" not in seen:
            seen["picture"] = time.perf_counter() - began
            first_picture.set()

    session.events.subscribe(on_progress, FeatVisProgress)
    job = network.featvis.start(layer)
    job.result()
    total = time.perf_counter() - began
    session.events.flush()
    etas = [(round(t, 1), round(eta, 1)) for t, _, eta in reports if eta is not None]
    print(json.dumps({
        "layer": f"{layer.id}: {layer.name} ({layer.channels} channels)",
        "steps": network.featvis.config.steps,
        "first_report_s": round(reports[0][0], 2) if reports else None,
        "first_pictures_s": round(seen.get("picture", total), 1),
        "whole_layer_s": round(total, 1),
        "progress_reports": len(reports),
        "eta_samples_(elapsed_s,eta_s)": etas[:: max(1, len(etas) // 6)],
    }, indent=1))
    session.close()


if __name__ == "__main__":
    main()
