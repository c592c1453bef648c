"""The explorer widget's Python side: pushes from the session's events and
the comm fallback for requests (no kernel: the comm is a dummy, sends are
recorded)."""

import json
import sys

import pytest

from dvvr_jupyter.testing.waiting import wait_until


@pytest.fixture
def widget(tiny_session, monkeypatch):
    from dvvr_jupyter.widgets import explorer

    w = explorer(tiny_session.networks[0], session=tiny_session)
    sent = []
    monkeypatch.setattr(w, "send", lambda content, buffers=None: sent.append((content, buffers)))
    w.sent = sent
    yield w
    w.close()


def test_importing_dvvr_stays_cheap():
    import subprocess

    code = "import dvvr, sys; dvvr.explorer; print(sorted(m for m in ('torch', 'IPython', 'ipywidgets') if m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"


def test_dvvr_explorer_stays_the_function_once_the_request_layer_is_imported():
    import dvvr
    import dvvr_jupyter.explore.requests  # noqa: F401 - the kernel side imports it

    assert callable(dvvr.explorer) and dvvr.explorer.__module__ == "dvvr_jupyter.widgets"


def test_the_first_state_travels_with_the_widget(widget):
    assert widget.initial["input"]["index"] == 0 and widget.network_id == 0 and widget.kernel_id == ""


def test_an_input_chosen_in_the_headset_is_pushed(widget, tiny_session):
    network = tiny_session.networks[0]
    network.set_input(3, origin="vr")
    network.set_input(5, origin="vr", view="alice")  # a headset's own view: not the widget's business
    tiny_session.events.flush()
    states = [content for content, _ in widget.sent if content["type"] == "state"]
    assert [(s["origin"], s["state"]["input"]["index"]) for s in states] == [("vr", 3)]


def test_requests_over_the_comm_get_the_same_answers(widget):
    widget._on_request(widget, {"type": "request", "id": 7, "method": "GET", "path": "network/0/layer/1/channels/0/2/raw"}, [])
    widget._on_request(widget, {"type": "request", "id": 8, "method": "POST", "path": "network/0/input"},
                       [json.dumps({"kind": "dataset", "index": 9}).encode()])
    replies = wait_until(lambda: len([c for c, _ in widget.sent if c["type"] == "reply"]) == 2 and
                         {c["id"]: (c, b) for c, b in widget.sent if c["type"] == "reply"}, 30, "no replies")
    content, buffers = replies[7]
    assert content["status"] == 200 and content["content_type"] == "application/octet-stream"
    assert len(buffers[0]) > 2 * 32 * 36
    content, buffers = replies[8]
    assert content["status"] == 404 and "imageID 9 is out of range" in json.loads(buffers[0])["message"]


def test_featvis_progress_is_pushed(widget, tiny_session):
    from dvvr import FeatVisConfig

    network = tiny_session.networks[0]
    network.featvis.config = FeatVisConfig(steps=1, batch_size=8)
    network.featvis.start(1).result(timeout=120)
    tiny_session.events.flush()
    states = [c["job"]["state"] for c, _ in widget.sent if c["type"] == "featvis"]
    assert states[-1] == "done" and "running" in states
    last = [c["job"] for c, _ in widget.sent if c["type"] == "featvis"][-1]
    assert (last["fraction"], last["weights"], last["eta_s"]) == (1.0, 0, None)


def test_a_network_outside_a_kernel_shows_as_text(tiny_session):
    from IPython.core.interactiveshell import InteractiveShell

    from dvvr_jupyter.widgets.network_display import register_in_kernel

    network = tiny_session.networks[0]
    assert not hasattr(network, "_repr_mimebundle_")  # the engine knows nothing of Jupyter
    assert not register_in_kernel()  # no kernel here: nothing registered
    data, _ = InteractiveShell.instance().display_formatter.format(network)
    assert data == {"text/plain": repr(network)}


def test_the_registered_display_shows_default_session_networks_as_explorers(tiny_session, monkeypatch):
    from IPython.core.interactiveshell import InteractiveShell

    from dvvr_jupyter.engine import session as sessions
    from dvvr_jupyter.widgets.network_display import register

    shell = InteractiveShell.instance()
    formatter = shell.display_formatter.mimebundle_formatter
    network = tiny_session.networks[0]
    register(shell)
    try:
        data, _ = shell.display_formatter.format(network)
        assert data == {"text/plain": repr(network)}  # another session's: dvvr.explorer(net, session=...)
        monkeypatch.setattr(sessions, "_default", tiny_session)
        data, _ = shell.display_formatter.format(network)
        view = data["application/vnd.jupyter.widget-view+json"]
        from ipywidgets.widgets.widget import _instances

        widget = _instances[view["model_id"]]
        assert widget.network_id == network.id and widget.initial["name"] == "tiny"
        widget.close()
    finally:
        formatter.type_printers.pop(type(network), None)


def test_a_saved_notebook_shows_the_explorer_in_words(widget):
    # where the widget cannot run (GitHub, nbviewer), its text/plain is what a reader sees
    text = repr(widget)
    assert text.startswith("dvvr explorer of network 0 (tiny): ") and "input image 0 of 'images'" in text
    assert "top classes:" in text and "object at 0x" not in text
