"""What the browser 3D client reads beyond the Unity protocol, on a real
server on loopback: its files under ``xr/``, a layer's PNG atlas, the
current input, and the ``events/`` long poll (docs/xr-protocol.md)."""

import base64
import io
import json
import math
import socket
import threading
import urllib.parse

import numpy as np
import pytest
from PIL import Image

from dvvr_jupyter.protocol import live, wire, xr_static
from dvvr_jupyter.testing.probes import raw_request as fetch
from dvvr_jupyter.testing.waiting import wait_until


def png_array(raw: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(raw)))


def choose(url: str, image: int, view: str = "") -> None:
    body = json.dumps({"mode": 1, "imageID": image})
    status, _, raw = fetch(url, f"{view}network/0/prepareforinput", "PUT", body)
    assert status == 200, raw


# --- xr/: the client's files ------------------------------------------------------------
@pytest.fixture
def static_root(tmp_path, monkeypatch):
    """A client folder of our own (the real one belongs to the client's branch)."""
    root = tmp_path / "static"
    (root / "vendor").mkdir(parents=True)
    files = {"index.html": b"<!doctype html><script type='importmap'>{\"imports\": {}}</script><p>hi",
             "main.js": b"export const a = 1;\n", "vendor/three.module.js": b"export {};\n",
             "style.css": b"p {}", "layout.json": b"{}", "notes.txt": b"x",
             "icon.svg": b"<svg xmlns='http://www.w3.org/2000/svg'/>", "tile.png": b"\x89PNG\r\n\x1a\n",
             "data.bin": b"\x00", ".secret.js": b"no", "README": b"no"}
    for name, data in files.items():
        (root / name).write_bytes(data)
    (tmp_path / "outside.js").write_bytes(b"outside")
    (root / "link.js").symlink_to(tmp_path / "outside.js")
    monkeypatch.setattr(xr_static, "STATIC", root.resolve())
    return root


TYPES = {"main.js": "text/javascript", "vendor/three.module.js": "text/javascript", "style.css": "text/css",
         "layout.json": "application/json", "notes.txt": "text/plain", "icon.svg": "image/svg+xml",
         "tile.png": "image/png", "index.html": "text/html"}


@pytest.mark.parametrize("token", [None, "t0ken"])
def test_the_client_files_at_every_url_shape(serve, tiny_session, static_root, token):
    server = serve(tiny_session, token=token)
    for view in ("", "h/someone/"):
        for resource, kind in TYPES.items():
            status, headers, raw = fetch(server.url, f"{view}xr/{resource}")
            assert (status, headers["Content-Type"].split(";")[0]) == (200, kind), resource
            assert raw == (static_root / resource).read_bytes()
            assert headers["X-Content-Type-Options"] == "nosniff"
        status, headers, raw = fetch(server.url, f"{view}xr/")
        assert status == 200 and raw == (static_root / "index.html").read_bytes()
        policy = headers["Content-Security-Policy"]
        assert "script-src 'self' 'sha256-" in policy and "connect-src 'self'" in policy  # the import map's hash
        status, headers, raw = fetch(server.url, f"{view}xr")
        assert (status, headers["Location"]) == (302, "xr/")  # relative: kept below any proxy prefix
        # a reload revalidates: unchanged files answer 304
        etag = fetch(server.url, f"{view}xr/main.js")[1]["ETag"]
        assert fetch(server.url, f"{view}xr/main.js", headers={"If-None-Match": etag})[0] == 304

    for resource in ("xr/../setup.py", "xr/%2e%2e/%2e%2e/setup.py", "xr/vendor/../../outside.js", "xr/link.js",
                     "xr/.secret.js", "xr/README", "xr/data.bin", "xr/none.js", "xr/vendor", "xr/main.js/x",
                     "xr/%5C..%5Csetup.py", "h/someone/xr/..%2F..%2Fsetup.py"):
        status, headers, raw = fetch(server.url, resource)
        assert status == 404 and json.loads(raw)["error"] == "NotFound", resource
    if token:  # the capability is the same as the protocol's: without it, 404 JSON
        bare = server.url.replace("/t0ken/", "/")
        for resource in ("xr/", "xr/main.js", "xr"):
            status, _, raw = fetch(bare, resource)
            assert status == 404 and json.loads(raw)["error"] == "NotFound", resource


def test_the_shipped_page_is_served(serve, tiny_session):
    status, headers, raw = fetch(serve(tiny_session).url, "xr/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert raw == (xr_static.STATIC / "index.html").read_bytes()


def test_the_files_are_served_while_the_project_loads(serve, static_root):
    from concurrent.futures import Future

    loading = Future()
    server = serve(loading)
    assert fetch(server.url, "xr/main.js")[0] == 200
    loading.cancel()


# --- the atlas -----------------------------------------------------------------------------
def test_the_atlas_is_the_activation_maps_tiled(serve, tiny_session):
    network = tiny_session.networks[0]
    server = serve(tiny_session)
    choose(server.url, 2)
    architecture = json.loads(fetch(server.url, "network/0")[2])["architecture"]
    key = json.loads(fetch(server.url, "network/0/input")[2])["result"]
    for layer_id, layer in enumerate(architecture):
        status, headers, raw = fetch(server.url, f"network/0/atlas/layerid/{layer_id}")
        if layer["data_type"] == "None":
            assert status == 404 and "info panel" in json.loads(raw)["message"]
            continue
        assert (status, headers["Content-Type"], headers["Cache-Control"]) == (200, "image/png", "no-store")
        layout = json.loads(headers["X-Dvvr-Atlas"])
        activation = json.loads(fetch(server.url, f"network/0/activation/layerid/{layer_id}")[2])
        tiles = [png_array(base64.b64decode(t)) for t in activation["tensors"]]
        channels = layer["size"][1]
        height, width = layer["size"][2:] if layer["data_type"] == "2D_feature_map" else (1, 1)
        cols = math.ceil(math.sqrt(channels))
        images = network.result().channel_images(layer_id)
        assert layout == {"channels": channels, "cols": cols, "rows": math.ceil(channels / cols), "tileWidth": width,
                          "tileHeight": height, "zeroValue": activation["zeroValue"], "min": images.low,
                          "max": images.high, "result": key}
        atlas = png_array(raw)
        assert atlas.dtype == np.uint8 and atlas.shape == (layout["rows"] * height, cols * width)  # 8-bit gray
        for channel in range(layout["rows"] * cols):
            row, col = divmod(channel, cols)
            tile = atlas[row * height:(row + 1) * height, col * width:(col + 1) * width]
            expected = tiles[channel] if channel < channels else np.zeros((height, width), np.uint8)
            np.testing.assert_array_equal(tile, expected, err_msg=f"layer {layer_id} tile {channel}")


def test_the_atlas_is_computed_once_per_result_and_follows_the_view(serve, tiny_session):
    network = tiny_session.networks[0]
    result = network.result()
    assert wire.atlas(network, result, 1) is wire.atlas(network, result, 1)  # one future: built once
    server = serve(tiny_session)
    first = fetch(server.url, "network/0/atlas/layerid/1")
    assert fetch(server.url, "network/0/atlas/layerid/1")[2] == first[2]
    choose(server.url, 4, "h/alice/")  # another view, another input
    own = fetch(server.url, "h/alice/network/0/atlas/layerid/1")
    assert json.loads(own[1]["X-Dvvr-Atlas"])["result"] != json.loads(first[1]["X-Dvvr-Atlas"])["result"]
    assert own[2] != first[2]
    assert fetch(server.url, "network/0/atlas/layerid/1")[2] == first[2]  # the shared view is unchanged
    for resource, status in (("network/0/atlas/layerid/99", 404), ("network/0/atlas/layerid/x", 400),
                             ("network/3/atlas/layerid/1", 404)):
        assert fetch(server.url, resource)[0] == status


# --- the current input ------------------------------------------------------------------------
def test_the_input_says_what_is_shown(serve, tiny_session):
    network = tiny_session.networks[0]
    server = serve(tiny_session)
    choose(server.url, 3)
    body = json.loads(fetch(server.url, "network/0/input")[2])
    shown = network.result()
    assert {k: v for k, v in body.items() if k != "image"} == {
        "networkid": 0, "describe": shown.input.describe(), "kind": "dataset", "dataset": 0, "index": 3,
        "result": wire.result_key(shown)}
    picture = Image.open(io.BytesIO(base64.b64decode(body["image"])))
    assert picture.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(picture), np.asarray(shown.input.image.convert("RGB")))
    for mode, kind in ((4, "noise"), (0, "blank")):
        assert fetch(server.url, "network/0/prepareforinput", "PUT", json.dumps({"mode": mode}))[0] == 200
        body = json.loads(fetch(server.url, "network/0/input")[2])
        assert (body["kind"], body["dataset"], body["index"]) == (kind, None, None)


# --- events -------------------------------------------------------------------------------------
class Poll(threading.Thread):
    """``events/{since}`` in a thread: ``answer`` once it came back."""

    def __init__(self, url: str, since: int, view: str = ""):
        super().__init__(daemon=True)
        self.url, self.since, self.view = url, since, view
        self.answer = None
        self.start()

    def run(self):
        status, _, raw = fetch(self.url, f"{self.view}events/{self.since}", timeout=600)
        self.answer = (status, json.loads(raw))

    def result(self):
        self.join(120)
        assert self.answer is not None, "the poll did not come back"
        return self.answer


def current_seq(url: str, view: str = "") -> int:
    status, _, raw = fetch(url, f"{view}events/0")
    assert status == 200
    return json.loads(raw)["seq"]


def polls_waiting(server) -> int:
    return len(server.app.settings.get("dvvr_polls", ()))


def test_an_input_chosen_by_another_client_arrives_in_its_view_only(serve, tiny_session):
    network = tiny_session.networks[0]
    server = serve(tiny_session)
    server.app.settings["dvvr_poll_seconds"] = 600  # the events decide when polls answer, not the clock
    network.result()
    seq = current_seq(server.url)
    shared, alice, bob = Poll(server.url, seq), Poll(server.url, seq, "h/alice/"), Poll(server.url, seq, "h/bob/")
    wait_until(lambda: polls_waiting(server) == 3, 30, "the polls did not wait")

    choose(server.url, 5, "h/bob/")  # another client, bob's own view
    status, answer = bob.result()
    key = wire.result_key(network.peek("bob"))
    assert status == 200 and answer["events"] == [
        {"type": "input", "network": 0, "describe": network.peek("bob").input.describe(), "result": key}]
    assert answer["seq"] > seq

    choose(server.url, 1)  # the shared view
    status, answer = shared.result()
    assert [(e["type"], e["result"]) for e in answer["events"]] == [("input", wire.result_key(network.peek()))]

    network.refresh()  # new weights concern every view: alice's poll ends with that, never bob's input
    status, answer = alice.result()
    assert [e["type"] for e in answer["events"]] == ["weights"]
    assert polls_waiting(server) == 0


def test_poll_answers_at_once_when_behind_and_refuses_bad_numbers(serve, tiny_session):
    server = serve(tiny_session)
    tiny_session.networks[0].result()
    first = current_seq(server.url)
    choose(server.url, 2)
    choose(server.url, 3)
    status, _, raw = fetch(server.url, f"events/{first}")  # behind: answered at once with both
    answer = json.loads(raw)
    assert status == 200 and [e["type"] for e in answer["events"]] == ["input", "input"]
    status, _, raw = fetch(server.url, f"events/{answer['seq'] + 100}")  # ahead (a restarted server)
    assert json.loads(raw) == {"seq": answer["seq"], "events": []}
    for since in ("-1", "x", "1.5"):
        status, _, raw = fetch(server.url, f"events/{since}")
        assert status == 400 and json.loads(raw)["field"] == "since"


def test_a_client_far_behind_is_told_to_reload(tiny_session):
    feed = live.EventFeed(tiny_session, size=2)
    network = tiny_session.networks[0]
    for image in (1, 2, 3, 4):
        network.set_input(image)
    tiny_session.events.flush()
    assert feed.read(1, None) == ({"seq": feed.seq, "events": [], "reset": True}, True)
    answer, ready = feed.read(feed.seq - 1, None)
    assert ready and len(answer["events"]) == 1 and "reset" not in answer
    feed.close()


def test_featvis_progress_does_not_flood_the_ring(tiny_session):
    from dvvr_jupyter.engine.events import FeatVisProgress

    network = tiny_session.networks[0]
    feed = live.EventFeed(tiny_session, size=4)
    start = feed.seq
    for done in range(50):
        tiny_session.events.emit(FeatVisProgress(network, 1, done, 50, "running"))
    tiny_session.events.emit(FeatVisProgress(network, 1, 50, 50, "done"))
    tiny_session.events.flush()
    answer, _ = feed.read(start, None)
    assert "reset" not in answer
    assert [(e["state"], e["done"]) for e in answer["events"]] == [("done", 50)]  # the newest state of the job
    feed.close()


def test_a_client_that_goes_frees_its_poll(serve, tiny_session):
    server = serve(tiny_session)
    server.app.settings["dvvr_poll_seconds"] = 600
    seq = current_seq(server.url)
    address = urllib.parse.urlsplit(server.url)
    with socket.create_connection((address.hostname, address.port)) as sock:
        sock.sendall(f"GET /events/{seq} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        wait_until(lambda: polls_waiting(server) == 1, 30, "the poll did not wait")
    wait_until(lambda: polls_waiting(server) == 0, 30, "the closed poll was kept")
    assert not live.feed_for(tiny_session)._waiters


def test_stop_ends_waiting_polls(serve, tiny_session):
    server = serve(tiny_session)
    server.app.settings["dvvr_poll_seconds"] = 600
    seq = current_seq(server.url)
    poll = Poll(server.url, seq)
    wait_until(lambda: polls_waiting(server) == 1, 30, "the poll did not wait")
    server.stop()
    assert poll.result() == (200, {"seq": seq, "events": []})
