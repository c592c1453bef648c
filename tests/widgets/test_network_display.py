"""In a real kernel where dvvr was imported (no ``%load_ext``), a network as
a cell's last line shows its explorer: the widgets registered the display
with IPython's formatter, the engine only has a repr."""

import os

import pytest

from conftest import HERE, REPO

pytestmark = [pytest.mark.jupyter]

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def results(client, code: str) -> list[dict]:
    """The ``execute_result`` data of running ``code``; raises with the traceback on an error."""
    found, errors = [], []

    def hook(msg):
        if msg["msg_type"] == "execute_result":
            found.append(msg["content"]["data"])
        elif msg["msg_type"] == "error":
            errors.append("\n".join(msg["content"]["traceback"]))

    reply = client.execute_interactive(code, timeout=180, output_hook=hook)
    assert reply["content"]["status"] == "ok", "\n".join(errors)
    return found


def test_a_network_as_the_last_line_shows_its_explorer(tmp_path):
    from jupyter_client.manager import start_new_kernel

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(HERE)]),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "JUPYTER_DATA_DIR": str(tmp_path / "data"),
           "DVVR_CACHE_DIR": str(tmp_path / "cache")}
    manager, client = start_new_kernel(kernel_name="python3", env=env, startup_timeout=120)
    try:
        results(client, "import dvvr, tiny\n"
                        "net = dvvr.attach(tiny.TinyTracked(), tiny.tiny_images(), name='tiny', "
                        "class_names=tiny.CLASSES, input_size=(32, 36))")
        (shown,) = results(client, "net")
        assert WIDGET_VIEW in shown and shown["text/plain"].startswith("dvvr explorer of network 0 (tiny)")  # saved: words
        (text,) = results(client, "repr(net)")
        assert text["text/plain"].startswith("\"<dvvr Network 0 'tiny'")  # the engine's own repr, unchanged
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
