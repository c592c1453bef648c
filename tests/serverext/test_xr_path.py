"""The browser 3D client's routes through a real Jupyter server (odd
base_url) to a real kernel: its files with their own types and policy, the
binary atlas with its layout header, and the events long poll."""

import base64
import io
import json
import threading

import numpy as np
import pytest
from PIL import Image

from dvvr_jupyter.testing.probes import raw_request as fetch
from dvvr_jupyter.testing.waiting import wait_until_async

from .dvvr_kernels import SETUP, in_thread

pytestmark = [pytest.mark.jupyter, pytest.mark.slow]  # real Jupyter servers and kernels



async def get(url, resource, method="GET", body=None):
    return await in_thread(lambda: fetch(url, resource, method, body))


class Poll(threading.Thread):
    def __init__(self, url: str, resource: str):
        super().__init__(daemon=True)
        self.url, self.resource, self.answer = url, resource, None
        self.start()

    def run(self):
        status, _, raw = fetch(self.url, self.resource, timeout=120)
        self.answer = (status, json.loads(raw))


async def test_the_3d_client_through_jupyter(start_kernel, vr_url, jp_fetch):
    kernel = await start_kernel()
    saved = await kernel.run(SETUP + "\n%dvvr name lab")
    url = vr_url()
    # the links: the notebook panel (live; the saved text hides the token), %dvvr headset, the sessions page
    shown = url.replace("127.0.0.1", "localhost")
    live = "\n".join(kernel.live)
    assert json.dumps(f"{shown}xr/")[1:-1] in live and live.count("<svg") >= 2
    assert "3D view in a browser: " in saved and "dvvr/vr/<token>/xr/" in saved
    await kernel.run("%dvvr headset alice")
    assert json.dumps(f"{shown}h/alice/xr/")[1:-1] in "\n".join(kernel.live)
    page = (await jp_fetch("dvvr", "")).body.decode()
    assert page.count("class='dvvr-xr'") == 3 and page.count("<svg") == 6  # VR URL, headset, session: URL + 3D
    assert "xr/' target='_blank' rel='noopener noreferrer'" in page
    for view in ("", "s/lab/", "h/someone/", "s/lab/h/someone/"):
        status, headers, raw = await get(url, f"{view}xr/")
        assert status == 200 and headers["Content-Type"].startswith("text/html"), (view, raw[:200])
        assert b"<html" in raw
        # the kernel's policy, not Jupyter's API one ("default-src 'none'" would block every script)
        assert "script-src 'self'" in headers["Content-Security-Policy"]
        assert "default-src 'none'" not in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff"
        status, headers, _ = await get(url, f"{view}xr")
        assert (status, headers["Location"]) == (302, "xr/")
    for resource, answer in (("xr/..%2F..%2Fsetup.py", (400, "BadRequest")), ("xr/%2e%2e/__init__.py", (400, "BadRequest")),
                             ("xr/none.js", (404, "NotFound"))):  # dot segments: refused by the proxy itself
        status, headers, raw = await get(url, resource)
        assert (status, json.loads(raw)["error"]) == answer, resource
    wrong = url.replace("/dvvr/vr/", "/dvvr/vr/x")
    assert (await get(wrong, "xr/"))[0] == 404

    # the atlas: binary PNG, its layout header, the activation route's pixels
    status, headers, raw = await get(url, "network/0/atlas/layerid/1")
    assert (status, headers["Content-Type"]) == (200, "image/png")
    layout = json.loads(headers["X-Dvvr-Atlas"])
    atlas = np.asarray(Image.open(io.BytesIO(raw)))
    activation = json.loads((await get(url, "network/0/activation/layerid/1"))[2])
    height, width = layout["tileHeight"], layout["tileWidth"]
    for channel, text in enumerate(activation["tensors"]):
        row, col = divmod(channel, layout["cols"])
        tile = atlas[row * height:(row + 1) * height, col * width:(col + 1) * width]
        np.testing.assert_array_equal(tile, np.asarray(Image.open(io.BytesIO(base64.b64decode(text)))))

    # events: a poll through the proxy wakes on another client's choice
    seq = json.loads((await get(url, "events/0"))[2])["seq"]
    shared, headset = Poll(url, f"events/{seq}"), Poll(url, f"h/bob/events/{seq}")
    status, _, raw = await get(url, "h/bob/network/0/prepareforinput", "PUT", json.dumps({"mode": 1, "imageID": 4}))
    assert status == 200, raw
    await wait_until_async(lambda: headset.answer is not None, 60, "the headset's poll did not answer")
    status, answer = headset.answer
    assert status == 200 and [(e["type"], e["network"]) for e in answer["events"]] == [("input", 0)]
    assert answer["events"][0]["result"] == json.loads((await get(url, "h/bob/network/0/input"))[2])["result"]
    assert shared.answer is None  # bob's input is not the shared view's

    # stopping the kernel's server ends the waiting poll with an answer, through the proxy
    await kernel.run("%dvvr stop")
    await wait_until_async(lambda: shared.answer is not None, 60, "the poll outlived the server")
    assert shared.answer[0] == 200 and shared.answer[1]["events"] == []
