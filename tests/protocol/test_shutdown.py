"""Stopping while a feature visualization runs: ``server.stop()`` returns
at once with the port closed, and a script that stops (or simply ends)
exits.  Deadlines are generous "it ended" bounds, nothing finer.

A feature-visualization job is the engine's: until its worker stops at the
next step on shutdown (the featvis work), the exit tests may fail; they are
marked so, not hidden."""

import os
import subprocess
import sys

import pytest

from dvvr_jupyter.testing.probes import refuses, start_featvis

from conftest import FOREVER, HERE, JOBS_KEEP_PROCESS_ALIVE


def test_stop_returns_with_the_port_closed_during_a_feature_visualization(serve, tiny_session):
    network = tiny_session.networks[0]
    network.featvis.config = type(network.featvis.config)(steps=FOREVER)
    network.set_input(0)
    server = serve(tiny_session)
    start_featvis(server.url)
    server.stop()
    assert not server.running and refuses(server.url)
    network.featvis.cancel()


SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
import tiny, dvvr
net = dvvr.attach(tiny.TinyTracked(), tiny.tiny_images(), name="tiny", input_size=(32, 36))
net.featvis.config = type(net.featvis.config)(steps={steps})
net.set_input(0)
server = dvvr.serve(port=0)
print(server.url, flush=True)
sys.stdin.readline()  # the test says when the visualization runs
if {stop}:
    server.stop()
    sys.exit(0)
"""


@JOBS_KEEP_PROCESS_ALIVE
@pytest.mark.parametrize("stop", [True, False], ids=["server.stop-and-exit", "interpreter-exit"])
def test_a_script_exits_during_a_feature_visualization(tmp_path, stop):
    code = SCRIPT.format(tests=str(HERE), steps=FOREVER, stop=stop)
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "DVVR_CACHE_DIR": str(tmp_path)})
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://"), url + proc.stdout.read()
        start_featvis(url)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        proc.wait(30)  # generous: the bound is "it ended", not how fast
    finally:
        proc.kill()
    assert proc.returncode == 0
