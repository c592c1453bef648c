"""``dvvr serve PROJECT`` in a real subprocess, as a user runs it."""

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request

from dvvr_jupyter.testing.jupyter import free_port
from dvvr_jupyter.testing.waiting import wait_until

import tiny
from conftest import HERE


def start(tmp_path, *args):
    project = tmp_path / "project.py"
    project.write_text(tiny.PROJECT_SOURCE.format(tests=str(HERE)))
    env = {**os.environ, "DVVR_CACHE_DIR": str(tmp_path / "cache"), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "dvvr_jupyter.cli", "serve", str(tmp_path), "--port", "0", *args],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in proc.stdout:  # until it serves, or exits (pytest-timeout guards a hang)
        lines.append(line)
        if line.startswith("VR client base URL: "):
            return proc, line.split(": ", 1)[1].strip(), lines
    proc.kill()
    raise AssertionError("dvvr serve exited before serving:\n" + "".join(lines))


def test_serve_a_project_folder(tmp_path):
    proc, url, lines = start(tmp_path)
    try:
        assert url.startswith("http://127.0.0.1:") and url.endswith("/")
        with urllib.request.urlopen(url + "network", timeout=10) as resp:
            assert json.load(resp) == {"nnetworks": 1, "ndatasets": 1, "nnoiseGenerators": 2}
        assert any("network 0: tiny (8 layers)" in line for line in lines)
        # the 3D view's link, with a QR code of it for a headset's browser
        link = f"{url}xr/"
        at = lines.index(f"3D view in a browser: {link}\n")
        qr = [line for line in lines[at + 1:-1] if line.strip()]
        assert len(qr) > 10 and all(set(line.rstrip("\n")) <= set(" █▀▄") for line in qr)
        with urllib.request.urlopen(link, timeout=10) as resp:
            assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/html")
    finally:
        proc.terminate()
        proc.wait(60)  # SIGTERM stops it as Ctrl+C does: cleanly


def test_token_puts_a_capability_in_the_path(tmp_path):
    proc, url, _ = start(tmp_path, "--token", "random", "--log-level", "DEBUG")  # access lines are at DEBUG
    try:
        token = url.rstrip("/").rsplit("/", 1)[1]
        assert len(token) >= 22
        with urllib.request.urlopen(url, timeout=10) as resp:
            assert resp.status == 200
        bare = url.replace(token + "/", "")
        try:
            urllib.request.urlopen(bare + "network", timeout=10)
            raise AssertionError("the bare URL must not answer")
        except urllib.error.HTTPError as err:
            assert err.code == 404 and json.load(err)["status"] == 404
        # the token as the last segment (no slash): the base URL; after a double slash: not the URL
        with urllib.request.urlopen(url.rstrip("/"), timeout=10) as resp:
            assert resp.status == 200
        try:
            urllib.request.urlopen(bare + "/" + token + "/network", timeout=10)
            raise AssertionError("//<token>/ is not the URL")
        except urllib.error.HTTPError as err:
            assert err.code == 404 and json.load(err)["error"] == "NotFound"
    finally:
        proc.terminate()
        proc.wait(60)  # SIGTERM stops it as Ctrl+C does: cleanly
    logged = proc.stdout.read()
    assert "GET /<token>/ " in logged and token not in logged  # the capability never reaches the log


def test_missing_project_is_a_clear_error(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "dvvr_jupyter.cli", "serve", str(tmp_path / "nope")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "no project at" in proc.stderr


SLOW_PROJECT = '''
import pathlib, time

def get_datasets():
    return []

def get_dl_networks():
    pathlib.Path({flag!r}).touch()
    time.sleep(600)  # loading takes "forever": only Ctrl+C ends it
    return []
'''


def _connected_to(pid: int, port: int) -> bool:
    """Whether process ``pid`` holds an accepted connection on ``port`` (Linux /proc)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    with open("/proc/net/tcp") as table:
        rows = [line.split() for line in table.readlines()[1:]]
    return any(int(row[1].split(":")[1], 16) == port and row[3] == "01" and row[9] in inodes for row in rows)


def test_ctrl_c_while_loading_prints_one_line(tmp_path):
    flag = tmp_path / "loading"
    (tmp_path / "project.py").write_text(SLOW_PROJECT.format(flag=str(flag)))
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "dvvr_jupyter.cli", "serve", str(tmp_path), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    waiting = []  # a client asking for the networks while the project loads

    def ask():
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/network", timeout=60).read()
        except Exception as exc:  # noqa: BLE001 - what it got is checked below
            waiting.append(exc)

    try:
        wait_until(lambda: flag.exists() or proc.poll() is not None, 120, "the project did not start loading")
        client = threading.Thread(target=ask)
        client.start()
        wait_until(lambda: _connected_to(proc.pid, port), 30, "the client's request did not arrive")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)  # far less than the project's 600 s of loading
        client.join(60)
    finally:
        proc.kill()
    assert err.splitlines()[-1] == f"dvvr: interrupted while loading {tmp_path}"
    assert "Traceback" not in out + err
    assert [getattr(answer, "code", answer) for answer in waiting] == [503]  # told, not left hanging
    assert proc.returncode == 130


def test_ctrl_c_while_serving_stops_even_during_a_feature_visualization(tmp_path):
    proc, url, _ = start(tmp_path, "--featvis-steps", "10000000")  # a visualization that never ends by itself
    try:
        urllib.request.urlopen(urllib.request.Request(url + "network/0/setnetworkgenfeatvis", data=b"dummy",
                                                      method="PUT"), timeout=10).close()
        # layer 1 (Conv1): its visualization runs on a worker until the process ends
        threading.Thread(target=get_quietly, args=(url + "network/0/featurevisualization/layerid/1",), daemon=True).start()

        def running():
            with urllib.request.urlopen(url + "network/0/featurevisualization/progress", timeout=10) as resp:
                return json.load(resp)["layers"].get("1", {}).get("state") == "running"

        wait_until(running, 60, "the feature visualization did not start")
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)  # not the visualization's hours
    finally:
        proc.kill()
    assert proc.returncode == 0
    assert "dvvr: stopped" in out and "Traceback" not in out


def get_quietly(url: str) -> None:
    try:
        urllib.request.urlopen(url, timeout=120).close()
    except OSError:
        pass  # the server stopped under it: expected


def test_self_signed_serves_https_with_the_printed_certificate(tmp_path):
    import hashlib
    import ssl

    proc, url, lines = start(tmp_path, "--self-signed")
    try:
        assert url.startswith("https://127.0.0.1:")
        certfile = tmp_path / "cache" / "tls" / "dvvr-cert.pem"
        printed = next(line for line in lines if "SHA-256 fingerprint" in line).split()[-1]
        der = ssl.PEM_cert_to_DER_cert(certfile.read_text())
        assert printed == hashlib.sha256(der).digest().hex(":").upper()
        trusting = ssl.create_default_context(cafile=str(certfile))  # as a browser that accepted it
        with urllib.request.urlopen(url + "xr/", timeout=10, context=trusting) as resp:
            assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/html")
        try:  # not trusted: a browser asks
            urllib.request.urlopen(url, timeout=10, context=ssl.create_default_context())
            raise AssertionError("an unknown self-signed certificate must not verify")
        except urllib.error.URLError as err:
            assert isinstance(err.reason, ssl.SSLCertVerificationError)
    finally:
        proc.terminate()
        proc.wait(60)  # SIGTERM stops it as Ctrl+C does: cleanly


def test_a_missing_certificate_is_a_clear_error(tmp_path):
    result = subprocess.run([sys.executable, "-m", "dvvr_jupyter.cli", "serve", str(tmp_path), "--port", "0",
                             "--certfile", str(tmp_path / "none.pem")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "dvvr: cannot use the TLS certificate" in result.stderr
    result = subprocess.run([sys.executable, "-m", "dvvr_jupyter.cli", "serve", str(tmp_path), "--keyfile", "k.pem"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "--keyfile needs --certfile" in result.stderr


def test_it_listens_before_torch_is_imported(tmp_path):
    """What the process had imported when the base URL started answering,
    as it logged it at that moment (``cli.LOADED_AFTER_LISTENING``)."""
    proc, url, lines = start(tmp_path, "--log-level", "DEBUG")
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            assert json.load(resp)["status"] == "ok"
    finally:
        proc.terminate()
        proc.wait(60)  # SIGTERM stops it as Ctrl+C does: cleanly
    (logged,) = [line.split("imported when listening: ", 1)[1] for line in lines if "imported when listening: " in line]
    assert json.loads(logged) == {"torch": False, "numpy": False, "PIL": False, "dvvr_jupyter.engine": False}


def test_a_switch_logs_a_summary_not_every_request_and_sigterm_says_stopped(tmp_path):
    proc, url, lines = start(tmp_path)
    try:
        put = urllib.request.Request(url + "network/0/prepareforinput", data=json.dumps({"mode": 1, "imageID": 1})
                                     .encode(), method="PUT")
        urllib.request.urlopen(put, timeout=30).close()
        for _ in range(3):  # what the headset asks after a switch: the layers' images
            get_quietly(url + "network/0/activation/layerid/1")
        urllib.request.urlopen(put, timeout=30).close()  # the next switch logs the summary of the last one
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    logged = out.splitlines()
    switches = [line for line in logged if "input switch" in line]
    assert len(switches) == 2 and "3 requests answered since the previous switch" in switches[1], out
    assert not [line for line in logged if " GET /" in line], out  # access lines are at DEBUG
    assert logged[-1] == "dvvr: stopped (SIGTERM)"
    assert proc.returncode == 0


def test_a_busy_port_gives_a_hint(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        project = tmp_path / "project.py"
        project.write_text(tiny.PROJECT_SOURCE.format(tests=str(HERE)))
        done = subprocess.run([sys.executable, "-m", "dvvr_jupyter.cli", "serve", str(tmp_path), "--port", str(port)],
                              capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr and "--port 0" in done.stderr, done.stderr


TEARDOWN_PROBE = """
import atexit, pathlib
atexit.register(lambda: pathlib.Path({atexit_mark!r}).touch())
class _Teardown:
    def __del__(self):
        pathlib.Path({teardown_mark!r}).touch()
_teardown = _Teardown()
"""


def test_ctrl_c_of_an_idle_server_skips_the_interpreters_teardown(tmp_path):
    # An idle server spent ~3 s of its 3.5 s Ctrl+C freeing every module (torch's too) after it had stopped:
    # it now exits at once after the atexit functions (benchmarks/ctrl_c.py has the figures).
    atexit_mark, teardown_mark = tmp_path / "atexit-ran", tmp_path / "torn-down"
    (tmp_path / "project.py").write_text(tiny.PROJECT_SOURCE.format(tests=str(HERE)) + TEARDOWN_PROBE.format(
        atexit_mark=str(atexit_mark), teardown_mark=str(teardown_mark)))
    env = {**os.environ, "DVVR_CACHE_DIR": str(tmp_path / "cache"), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "dvvr_jupyter.cli", "serve", str(tmp_path), "--port", "0"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for line in proc.stdout:
            if line.startswith("VR client base URL: "):
                break
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0 and "dvvr: stopped" in out, out
    assert atexit_mark.exists()  # the atexit functions ran
    assert not teardown_mark.exists()  # the interpreter's teardown did not


def test_debug_logging_leaves_out_pil_s_chunk_lines(tmp_path):
    """``--log-level DEBUG`` shows dvvr's own lines, not a line per PNG chunk PIL reads."""
    script = ("import io, logging; from dvvr_jupyter import cli; cli.configure_logging('DEBUG');"
              "from PIL import Image; buf = io.BytesIO(); Image.new('L', (4, 4)).save(buf, 'PNG');"
              "Image.open(io.BytesIO(buf.getvalue())).load(); logging.getLogger('dvvr.serve').debug('mine')")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert "dvvr.serve DEBUG mine" in result.stderr
    assert "PIL" not in result.stderr, result.stderr
