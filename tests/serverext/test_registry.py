"""The kernel registry's view of which kernels are alive."""

import os
import subprocess
import sys

from dvvr_jupyter.bridge.registry import pid_alive
from dvvr_jupyter.testing.waiting import wait_until


def test_a_killed_process_not_yet_reaped_is_dead():
    # A SIGKILLed kernel stays a zombie until its parent (Jupyter) reaps it:
    # traffic must move to another kernel at once, not when the reaping comes.
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        assert pid_alive(child.pid)
        child.kill()
        wait_until(lambda: not pid_alive(child.pid), 30, "a killed, unreaped process still counts as alive")
        assert os.path.exists(f"/proc/{child.pid}")  # still there: a zombie, not yet reaped
    finally:
        child.kill()
        child.wait()
    assert not pid_alive(child.pid)
    assert not pid_alive(None) and not pid_alive(-1)
