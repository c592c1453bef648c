"""The serving process's memory over many input switches, with eviction at work.

Starts ``dvvr serve PROJECT --no-precompute --cache-mb 1`` in a subprocess (a
result cache smaller than a few results, so nearly every switch evicts one),
then switches the way the VR client does, alternating a dataset image and a
new noise image (a new input every switch).  After ``--warmup`` switches
(pools, caches and allocator arenas settle) it reads the process's RSS, then
again after ``--switches`` more, and prints the growth next to what those
switches carried: a process that kept one result per switch would grow by
about the bytes it served (``growth_vs_served`` near 1); a flat one stays
near 0.

The test suite proves the cause instead (tests/protocol/test_what_holds.py:
results neither cached nor shown are freed); this is the figure.

Run: python benchmarks/memory.py [--project demo] [--warmup 100] [--switches 300]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from switch import REPO, DvvrServe, caltech_folder

from dvvr_jupyter.protocol.client import VRClient


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def switch_many(client: VRClient, layers: list, count: int, n_images: int) -> int:
    """``count`` switches; the bytes their answers carried."""
    nbytes = 0
    for i in range(count):
        client.get("noiseimage/0")
        choice = {"mode": 4, "noiseGeneratorID": 0} if i % 2 else {"mode": 1, "imageID": i % n_images}
        nbytes += client.switch(0, layers, choice).nbytes
    return nbytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", default="demo", choices=["demo", "caltech101"])
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--switches", type=int, default=300)
    parser.add_argument("--cache-mb", type=float, default=1)
    parser.add_argument("--port", type=int, default=5595)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {"DVVR_CACHE_DIR": str(Path(tmp) / "cache")}
        if args.project == "caltech101":
            env["CALTECH101_DIR"] = str(caltech_folder(Path(tmp)))
        server = DvvrServe(REPO / "projects" / args.project, env, args.port, "--no-precompute",
                           "--cache-mb", str(args.cache_mb))
        try:
            client = VRClient(server.url)
            state = client.start_up()
            layers, n_images = state["networks"][0], state["datasets"][0]["len"]
            switch_many(client, layers, args.warmup, n_images)
            before = rss_mb(server.proc.pid)
            served = switch_many(client, layers, args.switches, n_images)
            after = rss_mb(server.proc.pid)
            cached = client.get("")["cached_results"]
            client.close()
        finally:
            peak = server.stop()
    served_mb = served / 2**20
    row = {"project": args.project, "cache_mb": args.cache_mb, "warmup": args.warmup, "switches": args.switches,
           "rss_before_mb": round(before), "rss_after_mb": round(after), "growth_mb": round(after - before, 1),
           "growth_per_100_mb": round((after - before) * 100 / args.switches, 1), "served_mb": round(served_mb),
           "growth_vs_served": round((after - before) / served_mb, 3), "peak_rss_mb": round(peak),
           "cached_results": cached}
    print(f"$ python benchmarks/memory.py --project {args.project} --warmup {args.warmup} "
          f"--switches {args.switches} --cache-mb {args.cache_mb:g}   ({os.cpu_count()} CPUs)")
    print(" | ".join(row))
    print(" | ".join(str(v) for v in row.values()))
    print("goal: growth_vs_served near 0 (a result kept per switch would give about 1)")
    print(json.dumps(row))


if __name__ == "__main__":
    main()
