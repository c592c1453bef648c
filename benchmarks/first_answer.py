"""How soon ``dvvr serve`` answers its base URL: process start -> first 200 on ``GET /``.

The VR client gives the base URL 2 s, then falls back to its built-in demo,
so the server listens before it loads the project (torch, the weights, the
tracing).  Each run starts ``dvvr serve PROJECT --port P --no-precompute`` in
a subprocess, polls ``GET /`` every 10 ms from just before the process
starts, and records the first 200; then ``GET network`` (the project loaded)
for comparison, and stops the server.  Beside it, in the same sitting:
``python -c "import torch"`` (what listening would wait for if anything it
imports pulled torch in) and, with ``--baseline CHECKOUT``, the same server
run from another checkout's code, runs interleaved.

Run: python benchmarks/first_answer.py [--project projects/demo] [--runs 5] [--baseline CHECKOUT]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from dvvr_jupyter.testing.jupyter import free_port  # noqa: E402


def first_200(url: str, began: float, proc: subprocess.Popen, timeout: float = 300) -> float:
    """Seconds from ``began`` until ``url`` answered 200 (polled every 10 ms)."""
    while time.perf_counter() - began < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"dvvr serve exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                if resp.status == 200:
                    return time.perf_counter() - began
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.01)
    raise TimeoutError(url)


def serve_once(project: Path, checkout: Path | None, env: dict) -> tuple[float, float]:
    """(first answer, loaded) in seconds from process start, for one run."""
    port = free_port()
    checkout = checkout or HERE.parent
    # `python -m` puts the working directory first on sys.path: run in the checkout, or its code is not the one run
    code = {"PYTHONPATH": str(checkout)}
    began = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "dvvr_jupyter.cli", "serve", str(project.resolve()), "--port", str(port), "--no-precompute",
         "--log-level", "WARNING"],
        env={**os.environ, **env, **code}, cwd=checkout, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/"
        first = first_200(url, began, proc)
        loaded = first_200(url + "network", began, proc)
    finally:
        proc.terminate()
        proc.wait(30)
    return first, loaded


def import_torch_once() -> float:
    began = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch"], check=True)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", type=Path, default=HERE.parent / "projects" / "demo")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--baseline", type=Path, default=None, help="another checkout whose dvvr serve runs beside")
    args = parser.parse_args()
    env = {"DVVR_CACHE_DIR": str(Path(os.environ.get("TMPDIR", "/tmp")) / "dvvr-first-answer-cache")}
    rows: dict[str, list[tuple[float, float]]] = {"this checkout": [], "import torch": []}
    if args.baseline:
        rows["baseline"] = []
    for _ in range(args.runs):  # interleaved: the machine's load moves all of them alike
        rows["this checkout"].append(serve_once(args.project, None, env))
        if args.baseline:
            rows["baseline"].append(serve_once(args.project, args.baseline, env))
        rows["import torch"].append((import_torch_once(), float("nan")))
    command = "python benchmarks/first_answer.py " + " ".join(sys.argv[1:])
    print(f"$ {command}   ({os.cpu_count()} CPUs, {args.runs} runs each, seconds from process start)")
    print("what | first answer (median) | runs | loaded (median)")
    for name, runs in rows.items():
        firsts = [first for first, _ in runs]
        loaded = [done for _, done in runs if done == done]  # NaN: import torch loads no project
        loaded_text = f"{statistics.median(loaded):.2f}" if loaded else "—"
        print(f"{name} | {statistics.median(firsts):.2f} | {' '.join(f'{f:.2f}' for f in firsts)} | {loaded_text}")
    print(json.dumps({name: statistics.median(first for first, _ in runs) for name, runs in rows.items()}))


if __name__ == "__main__":
    main()
