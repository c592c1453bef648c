"""The connection panel's VR clients and last request (no kernel needed)."""

import time
from types import SimpleNamespace

from dvvr_jupyter.kernel.clients import ClientTracker


def request(address: str):
    return SimpleNamespace(get_status=lambda: 200,
                           request=SimpleNamespace(headers={}, remote_ip=address))


def test_the_last_request_is_remembered_after_its_client_leaves_the_window():
    tracker = ClientTracker(window=0.05)
    assert tracker.last_request_age() is None
    tracker.log_function(request("10.0.0.5"))
    assert tracker.recent() == ["10.0.0.5"]
    time.sleep(0.1)  # past the window: the client is no longer "in the last minute"...
    assert tracker.recent() == []
    assert tracker.last_request_age() >= 0.1  # ...but its request happened: never "none yet" again
