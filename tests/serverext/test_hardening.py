"""What an attacker or a careless user can send through a real Jupyter
server: typos of the VR URL (the token never reaches a log line), paths that
try to leave the explorer's prefix, non-ASCII digits, deep JSON, methods the
VR path does not take.  One kernel for all of it (each start costs seconds)."""

import asyncio
import http.client
import json
import logging
from functools import partial

import pytest

from dvvr_jupyter.bridge.registry import entry_path, read_entry

from .dvvr_kernels import SETUP, in_thread
from .test_errors import KERNEL_DEBUG_LOG

pytestmark = [pytest.mark.jupyter, pytest.mark.slow]


@pytest.fixture
def jp_server_config():
    # DEBUG: every log line the server can write is written (and searched for secrets)
    return {"ServerApp": {"jpserver_extensions": {"dvvr_jupyter.serverext": True}, "log_level": "DEBUG"}}


def raw(port: int, method: str, path: str, headers: dict | None = None, body: bytes | None = None):
    """One request with ``path`` sent exactly as given; (status, headers, body)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.putrequest(method, path, skip_host=False, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        if body is not None and "Content-Length" not in (headers or {}):
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, dict(response.headers), response.read()
    except (ConnectionError, http.client.HTTPException) as exc:
        return 0, {}, repr(exc).encode()
    finally:
        connection.close()


async def test_typos_depth_and_prefixes(capfd, caplog, jp_logging_stream, jp_runtime_dir, jp_base_url, jp_http_port,
                                        jp_auth_header, start_kernel, vr_url, vr_token, monkeypatch):
    caplog.set_level(logging.DEBUG)
    # The Jupyter server's stream handler was made during the setup phase, whose captured stderr pytest
    # closes: its "--- Logging error ---" dumps (the exception being handled, unfiltered) are the harness's.
    monkeypatch.setattr(logging, "raiseExceptions", False)
    kernel = await start_kernel()
    await kernel.run(SETUP)
    secret = read_entry(entry_path(kernel.id, jp_runtime_dir))["secret"]
    port, base, token = jp_http_port, jp_base_url, vr_token
    send = partial(raw, port)
    auth = dict(jp_auth_header)
    explorer = f"{base}dvvr/api/explorer/{kernel.id}/"

    # --- deep JSON: 400 on both routes, and no traceback from a serving thread in the running cell
    # (before the kernel's own log handlers are set up below: without any, Python writes to sys.stderr)
    await kernel.run("import dvvr_jupyter.explore.requests as _api\n_api.Reply.json = classmethod(lambda cls, *a, **k: 1 / 0)  # a bug")
    started, release = jp_runtime_dir / "cell-started", jp_runtime_dir / "cell-release"
    cell = asyncio.ensure_future(kernel.run(
        f"import pathlib, time\npathlib.Path({str(started)!r}).touch()\n"
        f"while not pathlib.Path({str(release)!r}).exists():\n    time.sleep(0.02)"))
    while not started.exists():
        await asyncio.sleep(0.05)
    deep = b"[" * 100_000 + b"]" * 100_000
    xsrf = {**auth, "Content-Type": "application/json"}
    status, _, body = await in_thread(send, "POST", explorer + "network/0/input", xsrf, deep)
    assert (status, json.loads(body)["error"]) == (400, "BadRequest"), body
    status, _, body = await in_thread(send, "PUT", f"{base}dvvr/vr/{token}/network/0/prepareforinput", {}, deep)
    assert (status, json.loads(body)["error"]) == (400, "BadRequest"), body
    status, _, body = await in_thread(send, "GET", explorer + "ping", auth)
    assert (status, json.loads(body)["error"]) == (500, "InternalServerError"), body
    release.touch()
    assert "Traceback" not in await cell

    await kernel.run(KERNEL_DEBUG_LOG)

    # --- typos of the VR URL, and the token where a name goes: none reaches a log line
    encoded = "".join(f"%{b:02X}" for b in token.encode())
    for path in (f"dvvr/{token}/", f"dvr/vr/{token}", f"dvvr/./vr/{token}", f"dvvr/vr;/{token}",
                 f"dvvr%252Fvr%252F{token}", f"dvvr-vr/{token}", f"dvvr/api/explorer/{token}/ping",
                 f"dvvr/vr/x/{token}/", f"DVVR/vr/{encoded}/", f"dvvr/x/../vr/{token}/", f"dvvr\\vr\\{token}\\",
                 f"dvvr/vr/./{token}/", f"dvvr/vr/{token}/h/{token}/", f"dvvr/vr/{token}/s/{token}/network",
                 f"api/{secret}", f"dvvr/vr/{token}/s/{secret}/"):
        status, _, _ = await in_thread(send, "GET", base + path)
        assert status < 500 or status == 503, (path, status)
    await in_thread(send, "PUT", f"{base}dvvr/vr/{token}/network/0/prepareforinput", {"Content-Length": token}, b"")

    # --- the explorer route stays under its prefix; ids are ASCII digits
    for path in ("%2e%2e/%2e%2e/network", "%2E%2E/%2e%2e/network/0", "state/..%2F..%2Fnetwork", "./state/0"):
        status, _, body = await in_thread(send, "GET", explorer + path, auth)
        assert 400 <= status < 500 and "nnetworks" not in json.loads(body), (path, status, body)
    for digits in ("%D9%A3", "%C2%B2", "0%EF%BC%91"):  # Arabic-Indic 3, superscript 2, fullwidth 1
        status, _, body = await in_thread(send, "GET", explorer + "state/" + digits, auth)
        assert (status, json.loads(body)["error"]) == (400, "BadRequest"), (digits, body)

    # --- methods the VR path does not take: JSON 405 naming the allowed ones
    for method, path in (("OPTIONS", ""), ("OPTIONS", "network"), ("DELETE", "network")):
        status, headers, body = await in_thread(send, method, f"{base}dvvr/vr/{token}/{path}")
        assert (status, json.loads(body)["error"]) == (405, "Method Not Allowed"), (method, path, body)
        assert set(headers["Allow"].replace(" ", "").split(",")) >= {"GET", "PUT"}, headers

    # --- a flood of unknown session names: a few log lines, not one per name
    before = len(caplog.records)
    for i in range(200):
        status, _, _ = await in_thread(send, "GET", f"{base}dvvr/vr/{token}/s/nobody-{i}/network")
        assert status == 503
    warnings = [r for r in caplog.records[before:] if r.levelno >= logging.WARNING]
    assert len(warnings) <= 2, [r.getMessage()[:100] for r in warnings[:5]]

    await kernel.run("%dvvr status")
    captured = capfd.readouterr()
    logged = "\n".join([jp_logging_stream.getvalue(), caplog.text, captured.out, captured.err])
    assert "Content-Length" in logged or "Only integer" in logged or "Malformed" in logged
    for what, text in (("the VR token", token), ("the kernel's secret", secret), ("the encoded token", encoded)):
        assert text[:12] not in logged, f"{what} reached a log line"
