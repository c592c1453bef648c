"""The explorer's authenticated route through a real Jupyter server to a
real kernel's own server thread: Jupyter's auth, JSON errors, out of reach
of the VR capability URL, answered while a cell runs."""

import json
import logging

import pytest
from tornado.httpclient import HTTPClientError

from dvvr_jupyter.bridge.registry import entry_path, read_entry
from dvvr_jupyter.testing.waiting import wait_until_async

from .dvvr_kernels import SETUP, UNTOUCHED, body_of, request
from .test_errors import KERNEL_DEBUG_LOG

pytestmark = [pytest.mark.jupyter, pytest.mark.slow]


@pytest.fixture
def jp_server_config():
    # DEBUG: every log line the server can write is written (and searched for the kernel's secret)
    return {"ServerApp": {"jpserver_extensions": {"dvvr_jupyter.serverext": True}, "log_level": "DEBUG"}}


async def test_the_explorer_route(jp_fetch, start_kernel, vr_url, client_for, tmp_path, capfd, caplog,
                                  jp_logging_stream, jp_runtime_dir):
    caplog.set_level(logging.DEBUG)
    kernel = await start_kernel()
    await kernel.run(SETUP + KERNEL_DEBUG_LOG + "\nw = dvvr.explorer()\nassert w.kernel_id == " + repr(kernel.id) +
                     "\nnet = dvvr.networks()[0]\nbundle = get_ipython().display_formatter.format(net)  # net alone in a cell\n"
                     "assert 'application/vnd.jupyter.widget-view+json' in bundle[0], bundle")
    secret = read_entry(entry_path(kernel.id, jp_runtime_dir))["secret"]

    async def explorer(*path, **kwargs):
        return await jp_fetch("dvvr", "api", "explorer", kernel.id, *path, **kwargs)

    state = json.loads((await explorer("state", "0")).body)
    assert state["name"] == "tiny" and state["input"]["index"] == 0
    page = await explorer("network", "0", "layer", "1", "channels", "0", "8", "raw")
    assert page.headers["Content-Type"] == "application/octet-stream"
    chosen = await explorer("network", "0", "input", method="POST", body=json.dumps({"kind": "dataset", "index": 2}))
    assert json.loads(chosen.body)["input"]["index"] == 2

    # Jupyter's auth; errors in the one dvvr shape; a kernel that does not serve dvvr
    with pytest.raises(HTTPClientError) as refused:
        await explorer("state", "0", headers={"Authorization": ""})
    assert refused.value.code == 403
    with pytest.raises(HTTPClientError) as bad:
        await explorer("network", "0", "input", method="POST", body=json.dumps({"kind": "dataset", "index": 60}))
    assert bad.value.code == 404 and body_of(bad.value)["field"] == "imageID"
    with pytest.raises(HTTPClientError) as huge:  # the VR path's body limit holds here too
        await explorer("network", "0", "input", method="POST", body=b" " * (2 << 20))
    assert huge.value.code == 413 and body_of(huge.value)["error"] == "PayloadTooLarge"
    with pytest.raises(HTTPClientError) as gone:
        await jp_fetch("dvvr", "api", "explorer", "no-such-kernel", "state", "0")
    assert gone.value.code == 404 and body_of(gone.value)["error"] == "NotFound"

    # the VR capability URL does not reach the explorer's routes; explorer requests are no VR client
    client = client_for(vr_url())
    answer = await request(client, "GET", "explorer/state/0")
    assert answer.status == 404 and answer.body["error"] == "NotFound"
    assert "VR clients in the last minute: 127.0.0.1" in await kernel.run("%dvvr status")  # that one request
    connection = json.loads((await explorer("connection")).body)
    assert connection["clients"] == ["127.0.0.1"] and connection["vr_url"].endswith("/dvvr/vr/" + vr_url().split("/")[-2] + "/")

    # while a cell runs, the widget's clicks are answered (they never touch the shell)
    started, release = tmp_path / "cell-started", tmp_path / "cell-release"
    cell = kernel.start(
        f"import pathlib, time\npathlib.Path({str(started)!r}).touch()\n"
        f"while not pathlib.Path({str(release)!r}).exists():\n    time.sleep(0.02)"
    )
    await wait_until_async(started.exists, 60, "the cell did not start")
    chosen = await explorer("network", "0", "input", method="POST", body=json.dumps({"kind": "dataset", "index": 4}))
    assert json.loads(chosen.body)["input"]["index"] == 4
    # a re-track waits for the main thread: queued while the cell runs, done after it
    track = await explorer("network", "0", "track", method="POST", body=json.dumps({"track": ["conv1", "conv2"]}))
    assert track.code == 202 and json.loads(track.body)["state"] == "queued"
    assert len(json.loads((await explorer("state", "0")).body)["layers"]) == 8
    release.touch()
    assert (await kernel.reply(cell))["content"]["status"] == "ok"
    await kernel.run("pass")  # the queued re-track ran on the main thread before this cell
    assert [layer["name"] for layer in json.loads((await explorer("state", "0")).body)["layers"]] == [
        "Input", "conv1", "conv2"]
    await kernel.run(UNTOUCHED)

    captured = capfd.readouterr()
    logged = "\n".join([jp_logging_stream.getvalue(), caplog.text, captured.out, captured.err])
    assert "dvvr/api/explorer/" in logged  # the access log ran, at DEBUG
    assert secret[:8] not in logged, "the kernel's secret reached a log line"
