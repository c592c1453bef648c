"""Bytes on the wire per layer: the browser client's PNG atlas against the
Unity client's activation answer (one base64 PNG per channel in JSON).

A project (default: the demo, EfficientNet-Lite0) is served on loopback in
this process; one dataset image is chosen; then, for every layer with
activations, ``network/0/activation/layerid/{l}`` and
``network/0/atlas/layerid/{l}`` are fetched and their body sizes compared
(the atlas's layout header counted with it).  Bytes only: no timing.

Run: python benchmarks/atlas_bytes.py [--project projects/demo] [--image 0]
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import tempfile
import urllib.parse
from pathlib import Path

HERE = Path(__file__).resolve().parent


def fetch(url: str, resource: str, method: str = "GET", body=None) -> tuple[int, dict, bytes]:
    address = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=300)
    try:
        connection.request(method, address.path + resource, body=body)
        response = connection.getresponse()
        return response.status, dict(response.headers), response.read()
    finally:
        connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", default=str(HERE.parent / "projects" / "demo"))
    parser.add_argument("--image", type=int, default=0, help="the dataset image shown")
    args = parser.parse_args()

    from dvvr import Server, Session
    from dvvr_jupyter.engine.project import load_project

    with tempfile.TemporaryDirectory() as cache:
        session = Session(cache_dir=cache)
        load_project(args.project, session)
        server = Server(session, "127.0.0.1", 0).start()
        try:
            status, _, raw = fetch(server.url, "network/0/prepareforinput", "PUT",
                                   json.dumps({"mode": 1, "imageID": args.image}))
            assert status == 200, raw
            architecture = json.loads(fetch(server.url, "network/0")[2])["architecture"]
            rows, total_json, total_atlas = [], 0, 0
            for layer_id, layer in enumerate(architecture):
                if layer["data_type"] == "None":
                    continue
                activation = fetch(server.url, f"network/0/activation/layerid/{layer_id}")[2]
                _, headers, atlas = fetch(server.url, f"network/0/atlas/layerid/{layer_id}")
                atlas_bytes = len(atlas) + len(headers["X-Dvvr-Atlas"])
                total_json += len(activation)
                total_atlas += atlas_bytes
                shape = "x".join(str(n) for n in layer["size"][1:])
                rows.append((layer_id, layer["layer_name"][:28], shape, len(activation), atlas_bytes,
                             len(activation) / atlas_bytes))
        finally:
            server.stop()
            session.close()

    print(f"$ python benchmarks/atlas_bytes.py --project {args.project} --image {args.image}")
    print("layer | name | channels x H x W | activation_json_bytes | atlas_bytes | json_vs_atlas")
    for row in rows:
        print(" | ".join([str(row[0]), row[1], row[2], str(row[3]), str(row[4]), f"{row[5]:.2f}"]))
    print(f"all {len(rows)} layers | | | {total_json} | {total_atlas} | {total_json / total_atlas:.2f}")
    biggest = max(rows, key=lambda row: row[3])
    print(f"largest layer ({biggest[0]} {biggest[1]}): {biggest[3]} bytes as JSON, {biggest[4]} as an atlas "
          f"({biggest[5]:.2f}x)")


if __name__ == "__main__":
    sys.exit(main())
