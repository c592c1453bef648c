"""A running feature visualization never keeps a process alive: server.stop()
and exit, Session.close(), a detached network, a plain exit and Ctrl+C on
``dvvr serve`` all end while a job is mid-way (real subprocesses; the only
clock is a generous "it exited" deadline)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request

import pytest

from dvvr_jupyter.testing.waiting import wait_until

import tiny
from conftest import HERE, REPO

EXITED = 60  # seconds: a generous deadline for "the process ended" (the original took minutes)

SCRIPT = '''
import sys
sys.path.insert(0, {tests!r})
import dvvr, tiny

session = dvvr.Session(cache_dir={cache!r})
network = session.attach(tiny.TinyTracked(), tiny.tiny_images(), input_size=(32, 36))
network.featvis.config = dvvr.FeatVisConfig(steps=10**9, batch_size=4)   # never ends by itself
server = dvvr.Server(session, "127.0.0.1", 0).start()
job = network.featvis.start(3)
with job._changed:
    assert job._changed.wait_for(lambda: job._steps_done > 0, timeout=120), "the job never ran"
print("running", flush=True)
how = {how!r}
if how == "server-stop":
    server.stop()
elif how == "session-close":
    server.stop()
    session.close()
elif how == "detach":
    session.detach(network)
    try:
        job.result(timeout=120)
    except Exception as error:
        print("job:", job.state, type(error).__name__, flush=True)
sys.exit(0)
'''


def _rest_of_output(proc) -> str:
    """What the process writes until it exits.  Not ``communicate(timeout=...)``:
    that reads the pipe's file descriptor directly, so lines an earlier
    ``readline()`` had already buffered would be lost."""
    proc.wait(timeout=EXITED)
    return proc.stdout.read()


@pytest.mark.parametrize("how", ["server-stop", "session-close", "detach", "plain-exit"])
def test_exit_while_a_job_runs(tmp_path, how):
    script = SCRIPT.format(tests=str(HERE), cache=str(tmp_path / "cache"), how=how)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, cwd=REPO)
    try:
        assert proc.stdout.readline().strip() == "running"
        rest = _rest_of_output(proc)
    finally:
        proc.kill()
    assert proc.returncode == 0, rest
    if how == "detach":
        assert "job: cancelled Conflict" in rest



HOOK_SCRIPT = '''
import atexit, sys, tempfile
sys.path.insert(0, {tests!r})
import dvvr, tiny

session = dvvr.Session(cache_dir=tempfile.mkdtemp())
network = session.attach(tiny.TinyTracked(), tiny.tiny_images(), input_size=(32, 36))
network.featvis.config = dvvr.FeatVisConfig(steps=2, batch_size=4)
hooks = [atexit._ncallbacks()]
for layer in (3, 1):
    network.featvis.start(layer).wait(120)
    hooks.append(atexit._ncallbacks())
print(hooks[1] - hooks[0], hooks[2] - hooks[1])
'''


def test_exit_hook_registered_by_the_first_job():
    # Importing and attaching register nothing for feature visualization; the
    # first job registers the one hook that stops jobs at exit, later ones none.
    out = subprocess.run([sys.executable, "-c", HOOK_SCRIPT.format(tests=str(HERE))], capture_output=True,
                         text=True, cwd=REPO, timeout=EXITED * 5)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1", "0"]


def _json(url, method="GET", body=None):
    request = urllib.request.Request(url, data=body, method=method)
    with urllib.request.urlopen(request, timeout=30) as resp:
        return json.load(resp)


def test_ctrl_c_on_dvvr_serve_during_generate_all(tmp_path):
    (tmp_path / "project.py").write_text(tiny.PROJECT_SOURCE.format(tests=str(HERE)))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "dvvr_jupyter.cli", "serve", str(tmp_path), "--port", "0",
                             "--cache-dir", str(tmp_path / "cache"), "--featvis-steps", str(10**9)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO)
    try:
        url = None
        for line in proc.stdout:
            if line.startswith("VR client base URL: "):
                url = line.split(": ", 1)[1].strip()
                break
        assert url, "dvvr serve never printed its URL"
        _json(url + "network/0/setnetworkgenfeatvis", "PUT", b"dummy")

        def generate_all():  # the client's "generate all": answered or cut off when the server stops
            for layer in (1, 3, 4):
                try:
                    urllib.request.urlopen(url + f"network/0/featurevisualization/layerid/{layer}", timeout=EXITED)
                except OSError:
                    pass

        threading.Thread(target=generate_all, daemon=True).start()
        wait_until(lambda: _json(url + "network/0/featurevisualization/progress")["layers"].get("1", {}).get("state")
                   == "running", EXITED, "the job never started")
        assert _json(url + "network")["nnetworks"] == 1  # other requests flow meanwhile
        proc.send_signal(signal.SIGINT)
        rest = _rest_of_output(proc)
    finally:
        proc.kill()
    assert proc.returncode == 0, rest
