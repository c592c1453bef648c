"""LayerEncoder (result.py): every layer's future settles, whatever fails."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from dvvr_jupyter.engine.result import LayerEncoder
from dvvr_jupyter.errors import Unavailable


def test_a_layer_that_fails_to_encode_fails_alone():
    with ThreadPoolExecutor(2) as pool:
        encoder = LayerEncoder(pool, lanes=1)
        for index in range(6):  # the even ones have no [C, H, W] shape
            encoder.add(index, torch.rand(4, 5, 5) if index % 2 else torch.rand(2, 2, 2, 2))
        encoder.open_up()
        for index, future in encoder.futures.items():
            if index % 2:
                assert len(future.result(timeout=60).pngs) == 4
            else:
                assert isinstance(future.exception(timeout=60), ValueError)


def test_the_pool_shut_down_during_a_pass_fails_its_layers_instead_of_losing_them():
    """A stopping server shuts the session's pool down, dropping the lanes
    it had queued: the layers waiting in them (and those added after) had
    futures nobody would ever settle, and a worker waiting for one kept the
    process from exiting."""
    pool = ThreadPoolExecutor(1)
    busy, release = threading.Event(), threading.Event()
    pool.submit(lambda: (busy.set(), release.wait()))  # the only worker is busy: the lane stays queued
    busy.wait()
    encoder = LayerEncoder(pool, lanes=1)
    encoder.add(0, torch.rand(4, 5, 5))
    encoder.add(1, torch.rand(4, 5, 5))  # waits for the lane
    pool.shutdown(wait=False, cancel_futures=True)
    release.set()
    encoder.add(2, torch.rand(4, 5, 5))
    encoder.open_up()
    for future in encoder.futures.values():
        with pytest.raises(Unavailable, match="stopping"):
            future.result(timeout=10)
