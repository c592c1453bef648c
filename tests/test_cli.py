"""``dvvr serve PROJECT`` in a real subprocess, as a user runs it."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request

from dvvr_jupyter.testing.waiting import wait_until

from conftest import HERE

PROJECT = '''
import sys
sys.path.insert(0, {tests!r})
import tiny
import dvvr

def get_datasets():
    return [dvvr.Dataset(tiny.tiny_images(), class_names=tiny.CLASSES, name="tiny")]

def get_dl_networks():
    return [{{"model": tiny.TinyTracked(), "name": "tiny", "input_size": (32, 36)}}]

def get_noise_generators():
    return [dvvr.NoiseGenerator((32, 36)), dvvr.NoiseGenerator((32, 36), kind="gaussian")]
'''


def start(tmp_path, *args):
    project = tmp_path / "project.py"
    project.write_text(PROJECT.format(tests=str(HERE)))
    env = {**os.environ, "DVVR_CACHE_DIR": str(tmp_path / "cache"), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "dvvr_jupyter.cli", "serve", str(tmp_path), "--port", "0", *args],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    lines = []
    while time.time() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if line.startswith("VR client base URL: "):
            return proc, line.split(": ", 1)[1].strip(), lines
    proc.kill()
    raise AssertionError("".join(lines))


def test_serve_a_project_folder(tmp_path):
    proc, url, lines = start(tmp_path)
    try:
        assert url.startswith("http://127.0.0.1:") and url.endswith("/")
        with urllib.request.urlopen(url + "network", timeout=10) as resp:
            assert json.load(resp) == {"nnetworks": 1, "ndatasets": 1, "nnoiseGenerators": 2}
        assert any("network 0: tiny (8 layers)" in line for line in lines)
    finally:
        proc.terminate()
        proc.wait(10)


def test_token_puts_a_capability_in_the_path(tmp_path):
    proc, url, _ = start(tmp_path, "--token", "random")
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
        proc.wait(10)
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


def test_ctrl_c_while_loading_prints_one_line(tmp_path):
    flag = tmp_path / "loading"
    (tmp_path / "project.py").write_text(SLOW_PROJECT.format(flag=str(flag)))
    proc = subprocess.Popen([sys.executable, "-m", "dvvr_jupyter.cli", "serve", str(tmp_path), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: flag.exists() or proc.poll() is not None, 120, "the project did not start loading")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)  # far less than the project's 600 s of loading
    finally:
        proc.kill()
    assert err.splitlines() == [f"dvvr: interrupted while loading {tmp_path}"]
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
