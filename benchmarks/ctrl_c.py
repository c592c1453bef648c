"""Seconds from Ctrl+C (SIGINT) to the end of ``dvvr serve`` on the tiny
test project: idle, and while a feature visualization runs.

    python benchmarks/ctrl_c.py [runs]

Figures depend on the machine's load: compare runs side by side in one go.
"""

import json
import signal
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from test_cli import get_quietly, start  # noqa: E402 - the tests' own way of starting dvvr serve

from dvvr_jupyter.testing.waiting import wait_until  # noqa: E402


def one(featvis: bool) -> float:
    tmp = Path(tempfile.mkdtemp())
    proc, url, _ = start(tmp, "--featvis-steps", "10000000")
    if featvis:
        urllib.request.urlopen(urllib.request.Request(url + "network/0/setnetworkgenfeatvis", data=b"x",
                                                      method="PUT"), timeout=10).close()
        threading.Thread(target=get_quietly, args=(url + "network/0/featurevisualization/layerid/1",),
                         daemon=True).start()

        def running():
            with urllib.request.urlopen(url + "network/0/featurevisualization/progress", timeout=10) as resp:
                return json.load(resp)["layers"].get("1", {}).get("state") == "running"

        wait_until(running, 60, "the feature visualization did not start")
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    return time.monotonic() - started


if __name__ == "__main__":
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    for featvis in (False, True):
        seconds = [one(featvis) for _ in range(runs)]
        print(f"Ctrl+C {'during a feature visualization' if featvis else 'idle'}: median "
              f"{statistics.median(seconds):.2f} s, max {max(seconds):.2f} s over {runs} runs")
