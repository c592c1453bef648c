"""The VR path through a real Jupyter server: what reaches Jupyter's log.
A client polling while no kernel serves is reported once per change, not
per request; wrong tokens once per burst (and held back); an oversized
body is a 413 JSON answer, not a misleading "no session"."""

import logging
import socket
import urllib.parse

import pytest

from .dvvr_kernels import SETUP, request

pytestmark = [pytest.mark.jupyter, pytest.mark.slow]  # real Jupyter servers and kernels


def dvvr_lines(caplog, level=logging.INFO) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= level and "dvvr" in r.getMessage()]


async def test_a_dead_kernel_is_reported_once_per_change(caplog, start_kernel, vr_url, client_for):
    caplog.set_level(logging.DEBUG)
    client = client_for(vr_url())
    for _ in range(30):  # a client polling while no kernel serves
        assert (await request(client, "GET", "network")).status == 503
    kernel = await start_kernel()
    await kernel.run(SETUP)
    for _ in range(5):
        assert (await request(client, "GET", "network")).status == 200
    await kernel.shutdown()
    for _ in range(30):
        assert (await request(client, "GET", "network")).status == 503
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in warnings if "no dvvr session" in r.getMessage()] == [
        "dvvr: no dvvr session is active — run %load_ext dvvr in a notebook: VR requests answer 503 until a kernel "
        "serves them (said once)"] * 2
    assert len(dvvr_lines(caplog)) == 3  # 503s said, the kernel found, 503s said again
    assert not [r for r in warnings if "dvvr/vr/" in r.getMessage() or "User-Agent" in r.getMessage()]


async def test_wrong_tokens_are_held_back_per_address_and_logged_once(caplog, start_kernel, vr_url, client_for):
    caplog.set_level(logging.DEBUG)
    kernel = await start_kernel()
    await kernel.run(SETUP)
    guess = client_for(vr_url().replace("/dvvr/vr/", "/dvvr/vr/guess"))
    statuses = [(await request(guess, "GET", "network")).status for _ in range(25)]
    assert statuses[:10] == [404] * 10 and set(statuses[10:]) == {429}
    held = await request(guess, "GET", "network")
    assert (held.body["error"], held.body["status"]) == ("TooManyRequests", 429)
    assert "try again in" in held.body["message"]
    right = client_for(vr_url())  # the headset, behind the same address: never kept out by the burst
    mixed = [(await request(right if i % 2 == 0 else guess, "GET", "network")).status for i in range(20)]
    assert mixed[::2] == [200] * 10 and set(mixed[1::2]) == {429}, mixed
    lines = dvvr_lines(caplog, logging.INFO)
    assert len([line for line in lines if "wrong VR token" in line]) == 1, lines
    assert not [line for line in lines if "/dvvr/vr/" in line], lines  # no line per request


def raw_status(url: str, request_bytes: bytes) -> tuple[int, bytes]:
    address = urllib.parse.urlsplit(url)
    with socket.create_connection((address.hostname, address.port), timeout=30) as sock:
        sock.sendall(request_bytes)
        data = b""
        while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


async def test_a_body_over_the_limit_is_413_json_not_no_session(start_kernel, vr_url, client_for):
    import asyncio
    import json

    kernel = await start_kernel()
    await kernel.run(SETUP)
    url = vr_url()
    path = urllib.parse.urlsplit(url).path + "network/0/prepareforinput"
    # 100 MB announced: refused from the headers, before Jupyter reads (or buffers) the body
    announced = f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {100 << 20}\r\n\r\n".encode()
    status, body = await asyncio.get_running_loop().run_in_executor(None, raw_status, url, announced)
    answer = json.loads(body)
    assert (status, answer["error"], answer["status"]) == (413, "PayloadTooLarge", 413), answer
    # a body sent whole, just over the limit
    client = client_for(url)
    over = await request(client, "PUT", "network/0/prepareforinput", b" " * ((1 << 20) + 1))
    assert (over.status, over.body["error"]) == (413, "PayloadTooLarge")
    assert (await request(client, "PUT", "network/0/prepareforinput", '{"mode": 1}')).status == 200
