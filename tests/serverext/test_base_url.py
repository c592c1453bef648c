"""A JupyterHub-style single-user prefix (``/user/demo/``) on a strict server
(``allow_unauthenticated_access=False``): the VR path still needs no Jupyter
credentials, everything else still does."""

import json

import pytest
from tornado.httpclient import HTTPClientError

from dvvr_jupyter.protocol.client import VRClient

from .dvvr_kernels import SETUP, in_thread, request

pytestmark = [pytest.mark.jupyter, pytest.mark.slow]  # real Jupyter servers and kernels


@pytest.fixture
def jp_base_url():
    return "/user/demo/"


@pytest.fixture
def jp_server_config():
    return {
        "ServerApp": {"jpserver_extensions": {"dvvr_jupyter.serverext": True}, "allow_unauthenticated_access": False}
    }


def sequence(url):
    client = VRClient(url)
    try:
        state = client.start_up()
        client.switch(0, state["networks"][0], {"mode": 1, "imageID": 3})
        return state
    finally:
        client.close()


async def test_under_a_prefix_on_a_strict_server(jp_fetch, jp_http_port, start_kernel, vr_url):
    url = vr_url()
    assert f":{jp_http_port}/user/demo/dvvr/vr/" in url
    kernel = await start_kernel()
    await kernel.run(SETUP)
    assert json.dumps(url.replace("127.0.0.1", "localhost"))[1:-1] in "\n".join(kernel.live)
    state = await in_thread(sequence, url)
    assert [layer["layer_name"] for layer in state["networks"][0]][:2] == ["Input", "Conv1"]

    for path in (("dvvr", "api", "sessions"), ("api", "kernels")):
        with pytest.raises(HTTPClientError) as refused:
            await jp_fetch(*path, headers={"Authorization": ""})
        assert refused.value.code in (401, 403)
    sessions = json.loads((await jp_fetch("dvvr", "api", "sessions")).body)
    assert sessions[0]["vr_url"] == url and sessions[0]["networks"] == ["tiny"]

    # outside the prefix nothing is forwarded (Jupyter redirects into its prefix)
    client = VRClient(url.replace("/user/demo/", "/"))
    try:
        assert (await request(client, "GET", "network")).status in (302, 404)
    finally:
        client.close()
