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


def test_the_panel_has_a_qr_code_for_the_vr_url_and_one_for_its_3d_view():
    from dvvr_jupyter.kernel.display import qr_svg
    from dvvr_jupyter.kernel.explorer_route import connection

    url = "http://127.0.0.1:8888/dvvr/vr/abc/"
    service = SimpleNamespace(urls=lambda: {"vr_url": url, "direct_url": None, "named_url": url},
                              clients=ClientTracker(), kernel_id="k")
    info = connection(service)
    assert info["qr_svg"] == qr_svg(url, scale=2)
    assert info["xr_qr_svg"] == qr_svg(url + "xr/", scale=2) != info["qr_svg"]
    no_server = connection(SimpleNamespace(urls=lambda: {"vr_url": None, "direct_url": None, "named_url": None},
                                           clients=ClientTracker(), kernel_id="k"))
    assert no_server["qr_svg"] is None and no_server["xr_qr_svg"] is None
