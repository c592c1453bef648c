"""The VR path through a real Jupyter server (pytest-jupyter's odd base_url
``/a%40b/``) to a real kernel that ran ``%load_ext dvvr``."""

import json

import pytest
from tornado.httpclient import HTTPClientError

from dvvr_jupyter.protocol.client import VRClient
from dvvr_jupyter.testing.waiting import wait_until_async

from .dvvr_kernels import SETUP, UNTOUCHED, body_of, in_thread, request

pytestmark = [pytest.mark.jupyter, pytest.mark.slow]  # real Jupyter servers and kernels


async def test_without_a_session_and_without_credentials(jp_fetch, jp_serverapp, vr_url, client_for):
    # the sessions API and page keep Jupyter's auth
    with pytest.raises(HTTPClientError) as refused:
        await jp_fetch("dvvr", "api", "sessions", headers={"Authorization": ""})
    assert refused.value.code in (401, 403)
    with pytest.raises(HTTPClientError) as refused:
        await jp_fetch("dvvr", "", headers={"Authorization": ""}, follow_redirects=False)
    assert refused.value.code in (302, 401, 403)
    assert json.loads((await jp_fetch("dvvr", "api", "sessions")).body) == []
    page = await jp_fetch("dvvr", "")
    assert b"%load_ext dvvr" in page.body and b"<svg" in page.body

    # no kernel loaded dvvr: 503 JSON; the client's PUT is not stopped by XSRF
    client = client_for(vr_url())
    for method, resource in (("GET", ""), ("PUT", "network/0/prepareforinput")):
        answer = await request(client, method, resource, '{"mode": 1}' if method == "PUT" else None)
        assert answer.status == 503
        assert "run %load_ext dvvr" in answer.body["message"]
    # a wrong capability: 404 JSON (the token file was created by the extension)
    wrong = client_for(vr_url().replace("/dvvr/vr/", "/dvvr/vr/x"))
    answer = await request(wrong, "GET", "network")
    assert answer.status == 404 and "%dvvr url" in answer.body["message"]


def sequence(url):
    client = VRClient(url)
    try:
        state = client.start_up()
        for image_id in (0, 1):
            client.switch(0, state["networks"][0], {"mode": 1, "imageID": image_id})
        return state
    finally:
        client.close()


async def test_notebook_model_in_the_headset(jp_fetch, start_kernel, vr_url, client_for, tmp_path):
    kernel = await start_kernel()
    shown = await kernel.run(SETUP)
    url = vr_url()
    live = "\n".join(kernel.live)
    assert json.dumps(url.replace("127.0.0.1", "localhost"))[1:-1] in live  # %load_ext shows the VR URL, live
    # attach as a cell's last line shows the explorer, whose Connection panel has the QR codes: the panel points there
    assert "Connection</b> panel" in live and "networks: tiny" in live, shown
    token = url.rstrip("/").rsplit("/", 1)[1]
    assert token not in shown and "dvvr/vr/<token>/" in shown  # what the notebook saves hides it
    printed = (await kernel.run("%dvvr url")).strip()
    assert printed == url.replace("127.0.0.1", "localhost")

    state = await in_thread(sequence, url)
    assert state["counts"] == {"nnetworks": 1, "ndatasets": 1, "nnoiseGenerators": 1}

    sessions = json.loads((await jp_fetch("dvvr", "api", "sessions")).body)
    assert [(s["kernel_id"], s["active"], s["networks"], s["clients"]) for s in sessions] == [
        (kernel.id, True, ["tiny"], ["127.0.0.1"])
    ]
    assert sessions[0]["vr_url"] == url and sessions[0]["session_url"] == f"{url}s/{kernel.id[:8]}/"
    name = sessions[0]["name"]
    assert name == kernel.id[:8]
    client = client_for(url)
    assert (await request(client, "GET", f"s/{name}/network")).status == 200
    assert (await request(client, "GET", "s/nobody/network")).status == 503
    assert (await request(client, "GET", "network/7")).status == 404  # the kernel's own answer
    odd = await request(client, "GET", "network/0/a%20b%3Fc")  # re-encoded on the way to the kernel
    assert odd.status == 404 and "no such resource" in odd.body["message"]
    assert "VR clients in the last minute: 127.0.0.1" in await kernel.run("%dvvr status")

    # while a cell runs, the VR client is answered: the cell cannot end before
    # the requests succeeded, since it waits for a file written after them
    started, release = tmp_path / "cell-started", tmp_path / "cell-release"
    cell = kernel.start(
        f"import pathlib, time\npathlib.Path({str(started)!r}).touch()\n"
        f"while not pathlib.Path({str(release)!r}).exists():\n    time.sleep(0.02)"
    )
    await wait_until_async(started.exists, 60, "the cell did not start")
    body = json.dumps({"mode": 1, "imageID": 2})
    for method, resource, payload in [
        ("PUT", "network/0/prepareforinput", body),
        ("GET", "network/0/activation/layerid/1", None),
        ("GET", "network/0/classificationresult", None),
    ]:
        answer = await request(client, method, resource, payload)
        assert answer.status == 200, (resource, answer.body)
    release.touch()
    assert (await kernel.reply(cell))["content"]["status"] == "ok"

    await kernel.run(UNTOUCHED)

    # restart: 503 until dvvr is loaded again, then the SAME URL works
    await kernel.restart()
    assert (await request(client, "GET", "")).status == 503
    await kernel.run(SETUP)
    assert (await in_thread(sequence, url))["counts"]["nnetworks"] == 1

    # shutdown: 503, never a hang (``request`` gives up after REQUEST_TIMEOUT)
    await kernel.shutdown()
    assert (await request(client, "GET", "network")).status == 503
    assert json.loads((await jp_fetch("dvvr", "api", "sessions")).body) == []


async def test_a_second_kernel_takes_over_and_activate_gives_back(jp_fetch, start_kernel, vr_url, client_for):
    first, second = await start_kernel("work/first.ipynb"), await start_kernel()
    await first.run("%load_ext dvvr")  # named after its notebook
    await second.run("%load_ext dvvr\n%dvvr name second")
    client = client_for(vr_url())

    async def active():
        sessions = json.loads((await jp_fetch("dvvr", "api", "sessions")).body)
        return [s["name"] for s in sessions if s["active"]]

    assert await active() == ["second"]
    sessions = json.loads((await jp_fetch("dvvr", "api", "sessions")).body)
    assert {(s["name"], s["notebook_path"]) for s in sessions} == {("first", "work/first.ipynb"), ("second", None)}
    await first.run("%dvvr activate")
    assert await active() == ["first"]
    assert (await request(client, "GET", "s/second/")).status == 200
    await first.shutdown()
    assert await active() == ["second"]  # the newest live session takes over
    with pytest.raises(HTTPClientError) as missing:
        await jp_fetch("dvvr", "vr", "x", "network", headers={"Authorization": ""})
    assert missing.value.code == 404 and body_of(missing.value)["error"] == "NotFound"
