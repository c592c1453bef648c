"""``dvvr serve PROJECT`` in a real subprocess, as a user runs it."""

import json
import os
import subprocess
import sys
import time
import urllib.request

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
    finally:
        proc.terminate()
        proc.wait(10)
    logged = proc.stdout.read()
    assert "GET /<token>/ " in logged and token not in logged  # the capability never reaches the log


def test_missing_project_is_a_clear_error(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "dvvr_jupyter.cli", "serve", str(tmp_path / "nope")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "no project at" in proc.stderr
