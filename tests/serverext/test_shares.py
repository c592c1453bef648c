"""Slow requests through a real Jupyter server: 120 of them to one kernel's
slow route hold only that kernel's share of the forwarding client; the rest
of the kernel's routes, the explorer and the sessions API keep answering;
past the share's line the answer is 503 with Retry-After; and clients that
hang up free their slots."""

import asyncio
import json

import pytest

from dvvr_jupyter.testing.waiting import wait_until_async

from .dvvr_kernels import SETUP, request

pytestmark = [pytest.mark.jupyter, pytest.mark.slow]

SLOTS, WAITING, SLOW = 8, 20, 120

# The kernel's feature-visualization route waits (on its event loop, holding no thread) for a file.
BLOCK_FEATVIS = """
import asyncio, pathlib
from dvvr_jupyter.protocol import handlers
async def _wait_for_release(self, network_id, layer_id):
    while not pathlib.Path({release!r}).exists():
        await asyncio.sleep(0.05)
    self.answer({{"released": True}})
handlers.FeatureVisualizationHandler.get = _wait_for_release
"""


@pytest.fixture
def jp_server_config():
    return {"ServerApp": {"jpserver_extensions": {"dvvr_jupyter.serverext": True}},
            "DvvrExtension": {"share_slots": SLOTS, "share_waiting": WAITING}}


async def send(port: int, path: str):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    await writer.drain()
    return reader, writer


async def status_line(reader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    return int(head.split()[1]), head


async def test_slow_requests_hold_only_their_share(jp_serverapp, jp_fetch, jp_http_port, start_kernel, vr_url,
                                                   client_for, tmp_path):
    kernel = await start_kernel()
    release = tmp_path / "release"
    await kernel.run(SETUP + BLOCK_FEATVIS.format(release=str(release)))
    shares = jp_serverapp.web_app.settings["dvvr"].shares
    slow = vr_url("network/0/featurevisualization/layerid/1").split(str(jp_http_port), 1)[1]

    connections = [await send(jp_http_port, slow) for _ in range(SLOW)]
    pending = {asyncio.ensure_future(status_line(reader)): i for i, (reader, _) in enumerate(connections)}
    refused = []
    while len(refused) < SLOW - SLOTS - WAITING:  # the rest are answered at once: 503, Retry-After
        done, _ = await asyncio.wait(pending, timeout=60, return_when=asyncio.FIRST_COMPLETED)
        assert done, f"only {len(refused)} answered"
        for task in done:
            pending.pop(task)
            refused.append(task.result())
    assert {status for status, _ in refused} == {503}
    assert all(b"Retry-After: " in head for _, head in refused)
    assert (shares.in_flight(kernel.id), shares.waiting(kernel.id)) == (SLOTS, WAITING)

    # everything else still answers: the kernel's quick routes (the cancel included), another
    # headset, the explorer, the sessions API
    client = client_for(vr_url())
    assert (await request(client, "GET", "")).status == 200
    assert (await request(client, "GET", "h/other/network")).status == 200
    assert (await request(client, "PUT", "network/0/setnetworkdeletefeatvis", "{}")).status == 200
    assert json.loads((await jp_fetch("dvvr", "api", "explorer", kernel.id, "state", "0")).body)["name"] == "tiny"
    assert len(json.loads((await jp_fetch("dvvr", "api", "sessions")).body)) == 1

    # clients that hang up free their slots and places in line
    for _, writer in connections:
        writer.close()
    for task in pending:
        task.cancel()
    await wait_until_async(lambda: (shares.in_flight(kernel.id), shares.waiting(kernel.id)) == (0, 0), 60,
                           "the slots of clients that hung up were not freed")
    reader, writer = await send(jp_http_port, slow)
    await wait_until_async(lambda: shares.in_flight(kernel.id) == 1, 60, "a new slow request got no slot")
    release.touch()
    assert (await asyncio.wait_for(status_line(reader), 60))[0] == 200
    writer.close()
