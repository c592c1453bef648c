"""One error body on the VR URL: the Jupyter server's proxy answers its own
errors (wrong token, no session, a kernel too slow) with the body the
kernel's protocol app answers (``DvvrError.to_json()``), so the VR client
reads one shape whichever side failed.  And neither the VR token nor a
kernel's secret reaches any log line, at any level."""

import logging
from functools import partial

import pytest

from dvvr_jupyter.bridge.registry import entry_path, read_entry

from .dvvr_kernels import SETUP, in_thread, request

pytestmark = [pytest.mark.jupyter, pytest.mark.slow]  # real Jupyter servers and kernels


@pytest.fixture
def jp_server_config():
    # DEBUG: every log line the server can write is written (and searched for secrets)
    return {"ServerApp": {"jpserver_extensions": {"dvvr_jupyter.serverext": True}, "log_level": "DEBUG"}}


def error_shape(answer) -> tuple:
    """What a client can rely on in an error: its keys and their types."""
    body = answer.body
    assert body["status"] == answer.status and body["error"] and body["message"], body
    return tuple(sorted(body)), type(body["error"]), type(body["message"]), type(body["status"])


async def test_proxy_and_kernel_errors_have_one_shape(start_kernel, vr_url, client_for):
    client = client_for(vr_url())
    no_kernel = await request(client, "GET", "network")
    wrong_token = await request(client_for(vr_url().replace("/dvvr/vr/", "/dvvr/vr/x")), "GET", "network")

    kernel = await start_kernel()
    await kernel.run(SETUP)
    unknown_session = await request(client, "GET", "s/nobody/network")
    malformed = await request(client, "PUT", "network/0/prepareforinput", "{not json")  # answered by the kernel
    no_name = await request(client, "GET", "s//network")

    answers = {"wrong token": wrong_token, "no kernel": no_kernel, "unknown session": unknown_session,
               "malformed body": malformed, "no session name": no_name}
    assert {what: (a.status, a.body["error"]) for what, a in answers.items()} == {
        "wrong token": (404, "NotFound"),
        "no kernel": (503, "Unavailable"),
        "unknown session": (503, "Unavailable"),
        "malformed body": (400, "BadRequest"),
        "no session name": (400, "BadRequest"),
    }
    assert {error_shape(a) for a in answers.values() if a is not no_name} == {
        (("error", "message", "status"), str, str, int)}
    assert no_name.body["field"] == "session"
    assert "%dvvr url" in wrong_token.body["message"] and "%load_ext dvvr" in no_kernel.body["message"]
    assert "'nobody'" in unknown_session.body["message"] and "not JSON" in malformed.body["message"]


# The kernel's route for ``GET network`` holds the kernel's server until the test writes ``release``.
BLOCK_NETWORK = """
import pathlib, time
from dvvr_jupyter.protocol import wire
_counts = wire.counts
def _counts_after_release(session):
    while not pathlib.Path({release!r}).exists():
        time.sleep(0.02)
    return _counts(session)
wire.counts = _counts_after_release
"""


async def test_a_kernel_that_does_not_answer_in_time_is_504(jp_serverapp, start_kernel, vr_url, client_for, tmp_path):
    kernel = await start_kernel()
    release = tmp_path / "release"
    await kernel.run(SETUP + BLOCK_NETWORK.format(release=str(release)))
    jp_serverapp.web_app.settings["dvvr"].request_timeout = 0.5
    client = client_for(vr_url())
    try:
        timed_out = await request(client, "GET", "network")
    finally:
        release.touch()
    assert (timed_out.status, timed_out.body["error"]) == (504, "GatewayTimeout")
    assert error_shape(timed_out) == (("error", "message", "status"), str, str, int)
    assert "DvvrExtension.request_timeout" in timed_out.body["message"]
    assert (await request(client, "GET", "network")).body["nnetworks"] == 1  # free again: answers


KERNEL_DEBUG_LOG = """
import logging, sys
_handler = logging.StreamHandler(sys.__stderr__)  # the kernel process's own stderr
for _name in ("dvvr", "tornado"):
    logging.getLogger(_name).setLevel(logging.DEBUG)
    logging.getLogger(_name).addHandler(_handler)
"""


def status_of(url: str) -> int:
    """The status of a GET, whatever the body (Jupyter's own 404 page is HTML)."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


async def test_no_token_or_secret_in_any_log_line(
    capfd, caplog, jp_logging_stream, jp_runtime_dir, jp_base_url, start_kernel, vr_url, vr_token, client_for
):
    caplog.set_level(logging.DEBUG)
    kernel = await start_kernel()
    await kernel.run(SETUP + KERNEL_DEBUG_LOG)
    secret = read_entry(entry_path(kernel.id, jp_runtime_dir))["secret"]

    url = vr_url()
    client = client_for(url)
    near = client_for(url.replace(vr_token, vr_token[:-2] + "xy"))  # a typo of the real token
    without_slash = client_for(url.rstrip("/").rsplit("/", 1)[0] + "/")  # .../dvvr/vr/ + the token as a resource
    referred = client_for(url, headers={"Referer": url + "network"})  # a browser sends where it came from
    assert (await request(client, "GET", "network")).status == 200
    assert (await request(client, "PUT", "network/0/prepareforinput", "{not json")).status == 400
    assert (await request(client, "GET", "network/99")).status == 404
    assert (await request(client, "DELETE", "network")).status == 405
    assert (await request(client, "PROPFIND", "network")).status == 405
    assert (await request(near, "GET", "network")).status == 404
    assert (await request(near, "GET", "")).status == 404
    assert (await request(without_slash, "GET", vr_token)).status == 200
    assert (await request(referred, "GET", "network/99")).status == 404  # a 4xx: Jupyter would log the Referer
    assert (await request(referred, "GET", "s/nobody/network")).status == 503  # a 5xx: and dump headers
    assert (await request(client, "PUT", "network/0/prepareforinput", b" " * (2 << 20))).status == 413
    for shape in ("/dvvr/vr//", "/DVVR/vr/", "/dvvr%2Fvr%2F"):  # Jupyter's own 404s log these paths
        assert await in_thread(partial(status_of, url.replace("/dvvr/vr/", shape, 1) + "network")) == 404, shape
    await kernel.run("%dvvr status")

    captured = capfd.readouterr()
    # the Jupyter server's log (its stream and records), the kernel's stderr
    logged = "\n".join([jp_logging_stream.getvalue(), caplog.text, captured.out, captured.err])
    assert f"{jp_base_url}dvvr/vr/<token>/network" in logged  # the access log ran, with the token hidden
    assert "Host" not in logged and "User-Agent" not in logged  # no header dump for answers the proxy expects
    assert "prepareforinput -> 400" in logged  # and the kernel's log was captured too
    for what, text in (("the VR token", vr_token), ("the kernel's secret", secret)):
        assert text[:8] not in logged, f"{what} reached a log line"


async def test_no_path_traversal_and_a_sigkilled_kernel_is_503(jp_runtime_dir, start_kernel, vr_url, client_for):
    import os
    import signal

    kernel = await start_kernel()
    await kernel.run(SETUP)
    client = client_for(vr_url())
    for resource in ("..%2F..%2Fapi%2Fkernels", "%2E%2E/%2E%2E/api/kernels", "s/..%2F..%2Fapi/kernels",
                     "h/..%2F..%2Fapi/network", "network/0/export/layerid/..%2F..%2F1", "dataset/%2E%2E/images"):
        answer = await request(client, "GET", resource)
        assert 400 <= answer.status < 500 or answer.status == 503, (resource, answer.status)
        assert set(answer.body) >= {"error", "message", "status"}, (resource, answer.body)  # ours, not Jupyter's API
    pid = read_entry(entry_path(kernel.id, jp_runtime_dir))["pid"]
    os.kill(pid, signal.SIGKILL)
    answer = await request(client, "GET", "network")  # bounded by REQUEST_TIMEOUT: never a hang
    assert (answer.status, answer.body["error"]) == (503, "Unavailable")
