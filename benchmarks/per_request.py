"""What one answered request costs the serving process, against bare tornado.

The classroom and follow-mode figures (benchmarks/README.md) are bound by
the cost of answering already-computed requests: eight headsets are eight
times the requests.  This measures how much of that is dvvr's own code.

``dvvr serve PROJECT --no-precompute`` runs in a subprocess; after one input
switch, a few of its answers (the request counts, a small and the largest
activation answer of the network) are fetched once.  A second subprocess,
a bare tornado application with one handler, serves the same bytes at the
same paths.  Then, interleaved, ``--requests`` keep-alive GETs each on one
connection; the serving process's CPU time (user + system, from
``/proc/<pid>/stat``) per request and the client's wall time per request are
reported for both.

Run: python benchmarks/per_request.py [--requests 1000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from switch import DvvrServe  # noqa: E402

from dvvr_jupyter.testing.jupyter import free_port  # noqa: E402

BARE = """
import sys, tornado.ioloop, tornado.web
answers = {path: open(file, "rb").read() for path, file in zip(sys.argv[2::2], sys.argv[3::2])}
class Answer(tornado.web.RequestHandler):
    def get(self):
        self.set_header("Content-Type", "application/json")
        self.write(answers[self.request.path])
tornado.web.Application([(path, Answer) for path in answers]).listen(int(sys.argv[1]), "127.0.0.1")
print("ready", flush=True)
tornado.ioloop.IOLoop.current().start()
"""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fetch(connection: http.client.HTTPConnection, path: str, method: str = "GET", body=None) -> bytes:
    connection.request(method, path, body=body)
    response = connection.getresponse()
    data = response.read()
    if response.status != 200:
        raise RuntimeError(f"{method} {path}: {response.status} {data[:200]!r}")
    return data


def per_request(port: int, pid: int, path: str, count: int) -> tuple[float, float]:
    """(server CPU ms, client wall ms) per request, ``count`` GETs on one connection."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for _ in range(20):  # warm-up
        fetch(connection, path)
    cpu, began = cpu_seconds(pid), time.perf_counter()
    for _ in range(count):
        fetch(connection, path)
    wall = time.perf_counter() - began
    connection.close()
    return (cpu_seconds(pid) - cpu) / count * 1000, wall / count * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", default=str(HERE.parent / "projects" / "demo"))
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    server = DvvrServe(Path(args.project), {}, free_port(), "--no-precompute")
    bare = None
    with tempfile.TemporaryDirectory() as tmp:
        try:
            port = int(server.url.rsplit(":", 1)[1].strip("/"))
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            architecture = json.loads(fetch(connection, "/network/0"))["architecture"]
            fetch(connection, "/network/0/prepareforinput", "PUT", json.dumps({"mode": 1, "imageID": 0}))
            sizes = {}
            for layer, entry in enumerate(architecture):
                if entry["data_type"] != "None":
                    sizes[layer] = len(fetch(connection, f"/network/0/activation/layerid/{layer}"))
            small, large = min(sizes, key=sizes.get), max(sizes, key=sizes.get)
            paths = ["/network", f"/network/0/activation/layerid/{small}", f"/network/0/activation/layerid/{large}"]
            files, answer_sizes = [], {}
            for i, path in enumerate(paths):
                files += [path, str(Path(tmp) / f"{i}.json")]
                answer = fetch(connection, path)
                Path(files[-1]).write_bytes(answer)
                answer_sizes[path] = len(answer)
            connection.close()
            bare_port = free_port()
            bare = subprocess.Popen([sys.executable, "-c", BARE, str(bare_port), *files],
                                    stdout=subprocess.PIPE, text=True)
            bare.stdout.readline()
            rows = {path: {"dvvr": [], "bare": []} for path in paths}
            for _ in range(args.rounds):
                for path in paths:
                    rows[path]["dvvr"].append(per_request(port, server.proc.pid, path, args.requests))
                    rows[path]["bare"].append(per_request(bare_port, bare.pid, path, args.requests))
        finally:
            server.stop()
            if bare is not None:
                bare.terminate()
                bare.wait(10)

    print(f"$ python benchmarks/per_request.py --requests {args.requests} --rounds {args.rounds}   "
          f"({os.cpu_count()} CPUs; {Path(args.project).name}; median of the rounds)")
    print("path | bytes | dvvr server CPU ms | bare tornado CPU ms | ratio | dvvr wall ms | bare wall ms")
    for path in paths:
        d_cpu = statistics.median(r[0] for r in rows[path]["dvvr"])
        b_cpu = statistics.median(r[0] for r in rows[path]["bare"])
        d_wall = statistics.median(r[1] for r in rows[path]["dvvr"])
        b_wall = statistics.median(r[1] for r in rows[path]["bare"])
        print(f"{path} | {answer_sizes[path]} | {d_cpu:.3f} | {b_cpu:.3f} | {d_cpu / b_cpu:.2f} | "
              f"{d_wall:.3f} | {b_wall:.3f}")


if __name__ == "__main__":
    main()
