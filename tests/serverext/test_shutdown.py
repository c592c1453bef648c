"""A kernel asked to shut down while a feature visualization runs ends by
itself (its atexit handlers run), instead of being killed after Jupyter's
wait; the VR URL then answers 503 at once."""

import asyncio

import pytest

from dvvr_jupyter.testing.probes import start_featvis

from .dvvr_kernels import SETUP, request
from conftest import FOREVER, JOBS_KEEP_PROCESS_ALIVE

pytestmark = [pytest.mark.jupyter, pytest.mark.slow]  # real Jupyter servers and kernels

MARK_CLEAN_EXIT = """
import atexit, pathlib
network = dvvr.default_session().networks[0]
network.featvis.config = type(network.featvis.config)(steps={steps})
network.set_input(0)
atexit.register(pathlib.Path({marker!r}).touch)  # runs only if the interpreter ends by itself
"""


@JOBS_KEEP_PROCESS_ALIVE
async def test_kernel_shutdown_during_a_feature_visualization(start_kernel, vr_url, client_for, tmp_path):
    kernel = await start_kernel()
    marker = tmp_path / "exited-by-itself"
    await kernel.run(SETUP + MARK_CLEAN_EXIT.format(steps=FOREVER, marker=str(marker)))
    await asyncio.get_running_loop().run_in_executor(None, start_featvis, vr_url())
    await kernel.shutdown(now=False)  # as JupyterLab asks: a shutdown request, then a kill after a wait
    assert marker.exists(), "the kernel had to be killed"
    assert (await request(client_for(vr_url()), "GET", "network")).status == 503
