"""Per-headset views through a real Jupyter server: ``%dvvr headset`` and the
sessions page give a URL for another headset (with its QR code), and that
URL keeps its own input while the shared URL's changes."""

import json
import re

import pytest

from .dvvr_kernels import SETUP, request

pytestmark = [pytest.mark.jupyter, pytest.mark.slow]  # real Jupyter servers and kernels

SHOW_INPUTS = """
import dvvr_jupyter.engine.session as _s
_net = _s.default_session().networks[0]
print("INPUTS", {view: _net.peek(view).input.describe() for view in (None, *_net.views()) if _net.peek(view)})
"""


async def inputs(kernel) -> str:
    return next(line for line in (await kernel.run(SHOW_INPUTS)).splitlines() if line.startswith("INPUTS"))


async def test_dvvr_headset_gives_a_url_that_keeps_its_own_input(start_kernel, vr_url, client_for, jp_fetch):
    kernel = await start_kernel()
    await kernel.run(SETUP)
    url = vr_url()
    token = url.rstrip("/").rsplit("/", 1)[1]

    kernel.live.clear()
    shown = await kernel.run("%dvvr headset alice")
    alice_url = url + "h/alice/"
    assert json.dumps(alice_url.replace("127.0.0.1", "localhost"))[1:-1] in "\n".join(kernel.live)
    assert "<svg" in "\n".join(kernel.live)  # its QR code
    assert token not in shown and "h/alice/" in shown  # the saved output hides the token
    assert (await kernel.run("%dvvr url alice")).strip() == alice_url.replace("127.0.0.1", "localhost")
    kernel.live.clear()
    await kernel.run("%dvvr headset")
    assert "/h/h1/" in "\n".join(kernel.live)  # a short unused name

    shared, alice = client_for(url), client_for(alice_url)
    assert (await request(alice, "PUT", "network/0/prepareforinput", '{"mode": 1, "imageID": 2}')).status == 200
    assert (await request(shared, "PUT", "network/0/prepareforinput", '{"mode": 1, "imageID": 4}')).status == 200
    assert (await request(alice, "GET", "network/0/classificationresult")).status == 200
    seen = await inputs(kernel)
    assert "None: \"image 4" in seen.replace("'", '"') and "\"alice\": \"image 2" in seen.replace("'", '"'), seen

    # after s/<session>/ too
    name = json.loads((await jp_fetch("dvvr", "api", "sessions")).body)[0]["name"]
    bob = client_for(url + f"s/{name}/h/bob/")
    assert (await request(bob, "PUT", "network/0/prepareforinput", '{"mode": 1, "imageID": 1}')).status == 200
    assert "\"bob\": \"image 1" in (await inputs(kernel)).replace("'", '"')
    assert (await request(client_for(url + "h/not%20a%20name/"), "GET", "network")).status == 400


async def test_the_sessions_page_offers_a_url_for_another_headset(start_kernel, vr_url, client_for, jp_fetch):
    kernel = await start_kernel()
    await kernel.run(SETUP)
    from dvvr_jupyter.protocol.openapi import document

    assert (await request(client_for(vr_url()), "GET", "openapi.json")).body == document()  # on the VR path too
    page = (await jp_fetch("dvvr", "")).body.decode()
    assert "URL for another headset" in page
    found = re.search(r"<code class='dvvr-headset'>([^<]+)</code>", page).group(1)
    name = re.search(r"/h/([^/]+)/$", found).group(1)
    assert found.endswith(f"/dvvr/vr/{vr_url().rstrip('/').rsplit('/', 1)[1]}/h/{name}/")
    assert page.count("<svg") >= 3  # the VR URL's, the headset's and the session's QR codes
    headset = client_for(vr_url() + f"h/{name}/")
    assert (await request(headset, "PUT", "network/0/prepareforinput", '{"mode": 1, "imageID": 5}')).status == 200
    assert f"\"{name}\": \"image 5" in (await inputs(kernel)).replace("'", '"')
    second = (await jp_fetch("dvvr", "")).body.decode()
    assert re.search(r"<code class='dvvr-headset'>([^<]+)</code>", second).group(1) != found  # a fresh name
